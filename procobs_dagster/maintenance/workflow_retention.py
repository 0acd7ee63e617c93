"""Retention of raw workflow events: a reported run's raw reports (``workflow_event``) are
deleted once the newest of them is older than ``workflow_event_days``, all of the run's
reports together. Deleted, not archived: ``workflow_run`` keeps the run's folded facts and
where it sits in the ledger (it stays, it is the fact), and the ledger keeps the run.

A replay (``procobs workflow replay``) folds a run's raw reports again and replaces its
facts with the result, so a run must never be replayed from part of its reports: the job
removes a run's reports only all at once, marks the run (``workflow_run.raw_pruned_at``),
and a replay leaves a marked run as it is — also when a late report of it arrives after
its reports went.

Each batch examines reports in ``event_seq`` order up to the newest older than the age
(``ix_workflow_event_received_at``), takes their runs, and for each locks the run's
``workflow_run`` row (Postgres ``FOR UPDATE SKIP LOCKED``: a run whose report is being
recorded right now is left for the next run) and checks that none of its reports is young
(a probe of the (source, run_key, …) unique index). A run without a ``workflow_run`` row
is left alone.
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
from procobs_dagster.store.dialect import among_pairs
from procobs_dagster.store.tables import workflow_event, workflow_run
from procobs_dagster.store.types import UTCDateTime

JOB = "retention: workflow events"
e = workflow_event
r = workflow_run


def prune_workflow_event_batch(
    conn: Connection,
    policy: TablePolicy,
    *,
    now: dt.datetime,
    after: tuple[dt.datetime, int] | None = None,
    limit: int = DEFAULT_BATCH,
    dry_run: bool = False,
) -> PruneBatch:
    """One batch, in the caller's transaction: examine up to ``limit`` old reports, oldest
    first from position ``after`` ((received_at, event_seq)), and delete every report of
    each of their runs whose reports are all old."""
    if policy.workflow_event_days is None:
        return PruneBatch(last_key=None)
    before = cutoff(now, policy.workflow_event_days)
    dialect = conn.dialect.name
    examined, last_key = walk(
        conn,
        e.c.event_seq,
        e.c.source,
        e.c.run_key,
        after=after,
        limit=limit,
        aged=(e.c.received_at, before),
    )
    if not examined:
        return PruneBatch(last_key=None)
    runs = sorted({(row.source, row.run_key) for row in examined})
    young = (
        sa.select(1)
        .where(
            e.c.source == r.c.source,
            e.c.run_key == r.c.run_key,
            ~is_older(e.c.received_at, before),
        )
        .exists()
    )
    going = [
        (row.source, row.run_key)
        for row in conn.execute(
            lock(
                sa.select(r.c.source, r.c.run_key).where(
                    among_pairs(r.c.source, r.c.run_key, runs, dialect), ~young
                ),
                r,
                dry_run,
            )
        )
    ]
    # A run whose reports span batches is counted in the first batch that sees it.
    fresh = _first_seen(conn, runs, after, dialect)
    deleted = 0
    if going:
        theirs = among_pairs(e.c.source, e.c.run_key, going, dialect)
        if dry_run:  # nothing went, so a later batch sees the same run again
            counted = [run for run in going if run in fresh]
            if counted:
                deleted = conn.execute(
                    sa.select(sa.func.count())
                    .select_from(e)
                    .where(among_pairs(e.c.source, e.c.run_key, counted, dialect))
                ).scalar_one()
        else:
            deleted = conn.execute(e.delete().where(theirs)).rowcount
            conn.execute(
                r.update()
                .where(among_pairs(r.c.source, r.c.run_key, going, dialect))
                .values(raw_pruned_at=sa.literal(now, UTCDateTime))
            )
    return PruneBatch(
        last_key=last_key,
        deleted={"workflow_event": deleted},
        kept_back={"workflow_run": len(fresh - set(going))},
    )


def _first_seen(
    conn: Connection,
    runs: list[tuple[str, str]],
    after: tuple[dt.datetime, int] | None,
    dialect: str,
) -> set[tuple[str, str]]:
    """The runs of ``runs`` with no report at or before position ``after`` (a run
    without its workflow_run row counts as first seen). Driven from workflow_run, so each
    run is one probe of the (source, run_key, …) index, whatever lies before ``after``."""
    if after is None:
        return set(runs)
    at, last = after
    earlier = sa.select(1).where(
        e.c.source == r.c.source,
        e.c.run_key == r.c.run_key,
        sa.tuple_(e.c.received_at, e.c.event_seq)
        <= sa.tuple_(sa.literal(at, UTCDateTime), sa.literal(last)),
    )
    seen = conn.execute(
        sa.select(r.c.source, r.c.run_key).where(
            among_pairs(r.c.source, r.c.run_key, runs, dialect), earlier.exists()
        )
    )
    return set(runs) - {tuple(row) for row in seen}


prune_workflow_events = PruneJob(
    JOB,
    prune_workflow_event_batch,
    settings=("workflow_event_days",),
    deletes=("workflow_event",),
)
"""Delete the raw reports of runs whose newest report is older than
``policy.workflow_event_days`` (the runs' folded facts stay in workflow_run)."""
