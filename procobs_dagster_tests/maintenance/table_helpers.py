"""Rows of the growing tables written at chosen times, and snapshots of them, for the
tests of their retention."""

import datetime as dt
import uuid

import sqlalchemy as sa

from procobs_dagster.delivery import delivery_state as queue
from procobs_dagster.delivery.config import SinkConfig
from procobs_dagster.store.tables import (
    audit_log,
    audit_log_archive,
    delivery_cursor,
    delivery_state,
    discovery_score,
    dossier_artifact,
    dossier_artifact_set,
    dossier_baseline,
    dossier_snapshot,
    event_outbox,
    workflow_event,
    workflow_run,
)
from procobs_dagster_tests.outbox_rows import wait_until_readable

T0 = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
SECOND = dt.timedelta(seconds=1)

GROWING = (
    event_outbox,
    delivery_state,
    delivery_cursor,
    audit_log,
    audit_log_archive,
    dossier_snapshot,
    dossier_artifact_set,
    dossier_artifact,
    dossier_baseline,
    discovery_score,
    workflow_event,
    workflow_run,
)


def rows(db) -> dict[str, list[dict]]:
    """Every row of every growing table, in a comparable form."""
    with db.read() as conn:
        return {
            table.name: sorted(
                (dict(row) for row in conn.execute(sa.select(table)).mappings()), key=repr
            )
            for table in GROWING
        }


def count(db, table: sa.Table, *where) -> int:
    with db.read() as conn:
        return conn.execute(
            sa.select(sa.func.count()).select_from(table).where(*where)
        ).scalar_one()


# --- outbox and delivery ---------------------------------------------------------------


def sink(name: str, **settings) -> SinkConfig:
    return SinkConfig(name=name, kind="null", **settings)


def emit(db, count_: int = 1, *, at: dt.datetime = T0, event_type="process.step.completed"):
    """``count_`` outbox rows recorded at ``at``, readable by the fan-out; their ids."""
    ids = [uuid.uuid4() for _ in range(count_)]
    with db.begin() as conn:
        conn.execute(
            event_outbox.insert(),
            [
                {
                    "event_id": event_id,
                    "event_type": event_type,
                    "source": "procobs/tests",
                    "correlation_id": f"corr-{event_id}",
                    "schema_version": 1,
                    "occurred_at": at,
                    "recorded_at": at,
                    "safe_payload": {"event_type": event_type},
                }
                for event_id in ids
            ],
        )
    wait_until_readable(db)
    return ids


def fan_out(db, *sinks: SinkConfig, at: dt.datetime = T0) -> None:
    with db.begin() as conn:
        for config in sinks:
            queue.fan_out(conn, config, now=at, limit=10_000)


def settle(db, event_id, sink_name: str, state: str, at: dt.datetime) -> None:
    """Put the delivery row of (event, sink) in ``state`` as of ``at``."""
    values = {"state": state, "updated_at": at, "attempts": 0 if state == "pending" else 1}
    values["delivered_at"] = at if state == "delivered" else None
    if state == "delivering":
        values.update(locked_until=at + DAY, lock_token=uuid.uuid4(), locked_by="test")
    with db.begin() as conn:
        conn.execute(
            delivery_state.update()
            .where(delivery_state.c.event_id == event_id, delivery_state.c.sink == sink_name)
            .values(**values)
        )


def delivery_states(db) -> dict[tuple, str]:
    with db.read() as conn:
        return {
            (row.event_id, row.sink): row.state for row in conn.execute(sa.select(delivery_state))
        }


def outbox_ids(db) -> set[uuid.UUID]:
    with db.read() as conn:
        return set(conn.execute(sa.select(event_outbox.c.event_id)).scalars())
