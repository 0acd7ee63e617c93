"""The orphan sweep: work still in flight under a run that has ended.

A child run (``parent_run_id``) or a component still in flight (any status the lifecycle
lets become ``orphan``: observed … step_completed, and stuck) after its parent run became
terminal (completed, failed, cancelled) is an orphan: nothing will ever wait for its
outcome. It becomes ``orphan`` through the ledger's compare-and-set, with the sweep and
the parent (id, status, ended_at) merged into evidence_ref under ``orphan_sweep`` and
the move in the status history. ``grace_seconds`` spares work that ends a moment after
its parent; a late real outcome of an orphan is accepted all the same.

Runs are judged before components, so a component of a run orphaned in this sweep is not
judged until that run ends. Postgres: an advisory lock and a statement timeout, as the
stuck sweep; SQLite: see ``store.batches``.
"""

import datetime as dt
import functools

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from procobs_dagster import limits
from procobs_dagster.ledger.lifecycle import allowed_from
from procobs_dagster.maintenance._sweep import Sweep, SweepBatch, SweepReport, run_sweep
from procobs_dagster.store.batches import (
    DEFAULT_BATCH,
    DEFAULT_STATEMENT_TIMEOUT_SECONDS,
    Progress,
    claim,
)
from procobs_dagster.store.engine import Database
from procobs_dagster.store.tables import process_component_observation as components
from procobs_dagster.store.tables import process_run_observation as runs
from procobs_dagster.store.types import UTCDateTime
from procobs_dagster.store.vocabulary import TERMINAL_STATUSES

DEFAULT_GRACE_SECONDS = 300

parent = runs.alias("parent")


def _orphans_of(
    conn: Connection,
    sweep: Sweep,
    *,
    kind: str,
    table: sa.FromClause,
    key: sa.Column,
    parent_key: sa.Column,
    after,
    limit: int,
    grace_seconds: int,
) -> SweepBatch:
    """Rows of ``table`` in flight whose ``parent_key`` names a run that ended more than
    ``grace_seconds`` before the sweep."""
    ended_before = sa.literal(sweep.now - dt.timedelta(seconds=grace_seconds), UTCDateTime)
    query = (
        sa.select(
            key.label("subject_id"),
            table.c.process_run_id,
            table.c.status,
            parent.c.process_run_id.label("parent_run_id"),
            parent.c.status.label("parent_status"),
            parent.c.ended_at.label("parent_ended_at"),
        )
        .join_from(table, parent, parent_key == parent.c.process_run_id)
        .where(
            table.c.status.in_(allowed_from("orphan")),
            parent.c.status.in_(TERMINAL_STATUSES),
            parent.c.ended_at < ended_before,
        )
    )
    rows = claim(conn, query, key, of=table, after=after, limit=limit, deleting=False)
    if not rows:
        return SweepBatch(last_key=None)
    candidates = [
        (
            kind,
            row.subject_id,
            row.process_run_id,
            row.status,
            {
                "parent_run_id": str(row.parent_run_id),
                "parent_status": row.parent_status,
                "parent_ended_at": row.parent_ended_at.isoformat(),
            },
        )
        for row in rows
    ]
    return sweep.judge(
        conn,
        rows[-1].subject_id,
        candidates,
        lambda d: f"orphan sweep: parent run {d['parent_run_id']} is {d['parent_status']}",
    )


def sweep_orphans(
    db: Database,
    *,
    grace_seconds: int = DEFAULT_GRACE_SECONDS,
    now: dt.datetime | None = None,
    batch: int = DEFAULT_BATCH,
    progress: Progress | None = None,
    statement_timeout_seconds: float = DEFAULT_STATEMENT_TIMEOUT_SECONDS,
) -> SweepReport:
    """Mark child runs, then components, still in flight under an ended run as orphans.

    ``lock_acquired`` is False (and nothing was done) when another orphan sweep runs.
    """
    limits.check_count(grace_seconds, "grace", minimum=0, maximum=limits.MAX_SECONDS)
    child_runs = functools.partial(
        _orphans_of,
        kind="run",
        table=runs,
        key=runs.c.process_run_id,
        parent_key=runs.c.parent_run_id,
        grace_seconds=grace_seconds,
    )
    run_components = functools.partial(
        _orphans_of,
        kind="component",
        table=components,
        key=components.c.component_run_id,
        parent_key=components.c.process_run_id,
        grace_seconds=grace_seconds,
    )
    return run_sweep(
        db,
        "orphan",
        [child_runs, run_components],
        now=now,
        settings={"grace_seconds": grace_seconds},
        batch=batch,
        progress=progress,
        statement_timeout_seconds=statement_timeout_seconds,
    )
