"""Looking at delivery: status per sink, the backlog, the dead letters (redrive, the
repair, is ``redrive.py``)."""

import dataclasses
import datetime as dt
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from procobs_dagster import limits
from procobs_dagster.clock import seconds_since, utcnow
from procobs_dagster.delivery.delivery_state import CLAIMABLE, UNDELIVERED
from procobs_dagster.store.dialect import is_postgres
from procobs_dagster.store.tables import delivery_cursor, delivery_state, event_outbox
from procobs_dagster.store.vocabulary import DELIVERY_STATES

ds = delivery_state


def status(conn: Connection, now: dt.datetime | None = None) -> list[dict[str, Any]]:
    """Per sink: rows in each state, the age of the oldest undelivered event, when the
    next retry is due, and how many outbox events past its cursor it has not scanned yet."""
    now = now or utcnow()
    sinks: dict[str, dict[str, Any]] = {}

    def entry(sink: str) -> dict[str, Any]:
        return sinks.setdefault(
            sink,
            {
                "sink": sink,
                **dict.fromkeys(DELIVERY_STATES, 0),
                "oldest_undelivered_age_seconds": None,
                "next_due_at": None,
                "outbox_unscanned": None,
            },
        )

    for sink, state, count in conn.execute(
        sa.select(ds.c.sink, ds.c.state, sa.func.count()).group_by(ds.c.sink, ds.c.state)
    ):
        entry(sink)[state] = count
    for sink, oldest in conn.execute(
        sa.select(ds.c.sink, sa.func.min(ds.c.created_at))
        .where(ds.c.state.in_(UNDELIVERED))
        .group_by(ds.c.sink)
    ):
        entry(sink)["oldest_undelivered_age_seconds"] = seconds_since(now, oldest)
    for sink, due in conn.execute(
        sa.select(ds.c.sink, sa.func.min(ds.c.next_attempt_at))
        .where(ds.c.state.in_(CLAIMABLE))
        .group_by(ds.c.sink)
    ):
        entry(sink)["next_due_at"] = due
    for cursor in conn.execute(sa.select(delivery_cursor)).mappings():
        entry(cursor["sink"])["outbox_unscanned"] = conn.execute(
            sa.select(sa.func.count()).select_from(event_outbox).where(*_unscanned(conn, cursor))
        ).scalar_one()
    return [sinks[name] for name in sorted(sinks)]


def _unscanned(conn: Connection, cursor: Mapping[str, Any]) -> list[sa.ColumnElement[bool]]:
    """Outbox rows past a sink's cursor that were not fanned out to it yet."""
    o = event_outbox.c
    ahead = (
        sa.tuple_(o.tx_id, o.seq) > sa.tuple_(cursor["last_tx_id"], cursor["last_seq"])
        if is_postgres(conn)
        else o.seq > cursor["last_seq"]
    )
    # Events fanned out ahead of the cursor (see delivery_state.fan_out) are not waiting.
    return [ahead, ~sa.exists().where(ds.c.event_id == o.event_id, ds.c.sink == cursor["sink"])]


@dataclasses.dataclass(frozen=True)
class Backlog:
    """What delivery still owes its sinks (those the relay has started, which have a
    cursor): (event, sink) pairs fanned out but not delivered (pending, retry, delivering)
    or still past the sink's cursor, and when the oldest of those events entered the
    outbox. Dead letters are counted apart: nothing retries them until a redrive."""

    undelivered: int
    dead: int
    oldest_recorded_at: dt.datetime | None

    def oldest_age_seconds(self, now: dt.datetime) -> float | None:
        return seconds_since(now, self.oldest_recorded_at)


def backlog(conn: Connection) -> Backlog:
    """The backlog over every sink: one query per state group, one per sink cursor."""
    o = event_outbox.c
    owed = [
        conn.execute(
            sa.select(sa.func.count(), sa.func.min(o.recorded_at))
            .select_from(ds.join(event_outbox, o.event_id == ds.c.event_id))
            .where(ds.c.state.in_(UNDELIVERED))
        ).one()
    ]
    owed += [
        conn.execute(
            sa.select(sa.func.count(), sa.func.min(o.recorded_at)).where(*_unscanned(conn, cursor))
        ).one()
        for cursor in conn.execute(sa.select(delivery_cursor)).mappings()
    ]
    dead = conn.execute(sa.select(sa.func.count()).where(ds.c.state == "dead")).scalar_one()
    oldest = [recorded_at for _, recorded_at in owed if recorded_at is not None]
    return Backlog(
        undelivered=sum(count for count, _ in owed),
        dead=dead,
        oldest_recorded_at=min(oldest, default=None),
    )


def dead_letters(
    conn: Connection, sink: str | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    """Dead deliveries, most recently dead first, with their recorded errors."""
    limits.check_count(limit, "limit")
    query = (
        sa.select(
            ds.c.event_id,
            ds.c.sink,
            event_outbox.c.event_type,
            ds.c.correlation_id,
            ds.c.attempts,
            ds.c.rejections,
            ds.c.last_error,
            ds.c.updated_at.label("dead_since"),
            ds.c.errors,
        )
        .join(event_outbox, event_outbox.c.event_id == ds.c.event_id)
        .where(ds.c.state == "dead")
        .order_by(ds.c.updated_at.desc(), ds.c.seq.desc())
        .limit(limit)
    )
    if sink is not None:
        query = query.where(ds.c.sink == sink)
    return [dict(row) for row in conn.execute(query).mappings()]
