"""Retention of the delivery queue: settled ``delivery_state`` rows, then the outbox rows
every sink has settled. Both are deleted, not archived: the audit log keeps every emitted
event (``audit_log``, archived on its own, longer schedule), and a delivery's outcome is
an operational state, not a fact anybody audits.

**delivery_state.** A row goes when it is ``delivered`` and was delivered more than
``delivered_days`` ago, or ``dead`` and died (its last change, ``updated_at``) more than
``dead_days`` ago — longer, so an operator has time to redrive it. Pending, retrying and
delivering rows never go. The delete repeats the state and age it checked, and rows a
relay holds (a redrive, an acknowledgement) are skipped, not waited for.

**event_outbox.** A row goes when it was recorded more than ``outbox_days`` ago, no
``delivery_state`` row refers to it any more (every sink's row was settled and has gone,
or no sink wanted it), and every sink's fan-out cursor (``delivery_cursor``) has passed
it — a row a sink has not fanned out yet stays, whatever its age. A sink that appears
later starts at the beginning of what is still retained. Its FK makes the database
refuse to delete an outbox row a delivery row still refers to.

On Postgres each batch first takes ``delivery_cursor`` in SHARE mode: a relay creating a
new sink's cursor (and fanning the retained history out to it) waits for the batch, or
the batch waits for it and then sees the new cursor, so an outbox row is never deleted
under a fan-out that is about to refer to it. Existing sinks' fan-out waits at most one
batch for its cursor update; claims and acknowledgements do not wait.

The walk goes over the outbox rows older than the smallest of the three ages, oldest
first (``ix_event_outbox_recorded_at_seq``); each examined event's delivery rows are
found by the primary key's ``event_id`` prefix.
"""

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from procobs_dagster.maintenance._pruning import (
    PruneBatch,
    PruneJob,
    TablePolicy,
    cutoff,
    is_older,
    lock,
    walk,
)
from procobs_dagster.store.batches import DEFAULT_BATCH
from procobs_dagster.store.dialect import among, among_pairs, is_postgres
from procobs_dagster.store.tables import delivery_cursor, delivery_state, event_outbox

JOB = "retention: delivery"
SETTINGS = ("delivered_days", "dead_days", "outbox_days")
ds = delivery_state
o = event_outbox


def settled(policy: TablePolicy, now: dt.datetime) -> sa.ColumnElement:
    """A delivery row whose outcome is old enough to forget."""
    clauses = []
    if policy.delivered_days is not None:
        clauses.append(
            sa.and_(
                ds.c.state == "delivered",
                is_older(ds.c.delivered_at, cutoff(now, policy.delivered_days)),
            )
        )
    if policy.dead_days is not None:
        clauses.append(
            sa.and_(ds.c.state == "dead", is_older(ds.c.updated_at, cutoff(now, policy.dead_days)))
        )
    return sa.or_(*clauses) if clauses else sa.false()


def fanned_out_to_every_sink(conn: Connection) -> sa.ColumnElement:
    """An outbox row every sink's cursor has passed (see ``events.feed``: (tx_id, seq) on
    Postgres, seq on SQLite)."""
    c = delivery_cursor.c
    if is_postgres(conn):
        ahead = sa.or_(
            o.c.tx_id.is_(None), sa.tuple_(o.c.tx_id, o.c.seq) > sa.tuple_(c.last_tx_id, c.last_seq)
        )
    else:
        ahead = o.c.seq > c.last_seq
    return ~sa.select(1).select_from(delivery_cursor).where(ahead).exists()


def _youngest_age(policy: TablePolicy) -> int | None:
    ages = [
        d for d in (policy.delivered_days, policy.dead_days, policy.outbox_days) if d is not None
    ]
    return min(ages) if ages else None


def prune_delivery_batch(
    conn: Connection,
    policy: TablePolicy,
    *,
    now: dt.datetime,
    after: tuple[dt.datetime, int] | None = None,
    limit: int = DEFAULT_BATCH,
    dry_run: bool = False,
) -> PruneBatch:
    """One batch, in the caller's transaction: examine up to ``limit`` outbox rows, oldest
    first from position ``after`` ((recorded_at, seq) of the last row examined), delete
    their settled delivery rows, then the rows themselves that every sink has settled."""
    youngest = _youngest_age(policy)
    if youngest is None:
        return PruneBatch(last_key=None)
    dialect = conn.dialect.name
    if not dry_run and dialect == "postgresql" and policy.outbox_days is not None:
        # Before any row lock, so a fan-out waiting on it holds nothing this batch needs.
        conn.execute(sa.text("LOCK TABLE delivery_cursor IN SHARE MODE"))
    examined, last_key = walk(
        conn,
        o.c.seq,
        o.c.event_id,
        after=after,
        limit=limit,
        aged=(o.c.recorded_at, cutoff(now, youngest)),
    )
    if not examined:
        return PruneBatch(last_key=None)
    ids = [row.event_id for row in examined]
    deleted = {"delivery_state": 0, "event_outbox": 0}
    going = sa.and_(among(ds.c.event_id, ids, dialect), settled(policy, now))
    if dry_run:
        deleted["delivery_state"] = conn.execute(
            sa.select(sa.func.count()).select_from(ds).where(going)
        ).scalar_one()
    else:
        held = conn.execute(lock(sa.select(ds.c.sink, ds.c.event_id).where(going), ds, dry_run))
        keys = [tuple(row) for row in held]
        if keys:
            deleted["delivery_state"] = conn.execute(
                ds.delete().where(
                    among_pairs(ds.c.sink, ds.c.event_id, keys, dialect), settled(policy, now)
                )
            ).rowcount
    kept_back = {}
    if policy.outbox_days is not None:
        old = [row.seq for row in examined if row.recorded_at < cutoff(now, policy.outbox_days)]
        if old:
            still_referred = sa.select(1).where(ds.c.event_id == o.c.event_id)
            if dry_run:  # the rows this batch would have deleted do not count
                still_referred = still_referred.where(~settled(policy, now))
            free = sa.and_(
                among(o.c.seq, old, dialect),
                ~still_referred.exists(),
                fanned_out_to_every_sink(conn),
            )
            if dry_run:
                deleted["event_outbox"] = conn.execute(
                    sa.select(sa.func.count()).select_from(o).where(free)
                ).scalar_one()
            else:
                seqs = [
                    row.seq
                    for row in conn.execute(lock(sa.select(o.c.seq).where(free), o, dry_run))
                ]
                if seqs:
                    deleted["event_outbox"] = conn.execute(
                        o.delete().where(among(o.c.seq, seqs, dialect))
                    ).rowcount
            kept_back["event_outbox"] = len(old) - deleted["event_outbox"]
    return PruneBatch(last_key=last_key, deleted=deleted, kept_back=kept_back)


prune_delivery = PruneJob(
    JOB,
    prune_delivery_batch,
    settings=SETTINGS,
    deletes=("delivery_state", "event_outbox"),
)
"""Delete settled delivery rows and the outbox rows every sink has settled, one
committed batch at a time (see the module's docstring for what stays)."""
