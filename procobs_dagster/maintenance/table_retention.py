"""Retention of every growing table beside the ledger, one job per table family:
``delivery`` (delivery_state, event_outbox), ``audit`` (audit_log → audit_log_archive),
``dossier`` (dossier snapshots and unreferenced artifact sets), ``scores``
(discovery_score) and ``workflow_events`` (raw workflow reports). Each job commits one
short transaction per batch; what each keeps is in its module's docstring and in
docs/operations/sizing.md."""

import datetime as dt
from collections.abc import Collection

from procobs_dagster.errors import InvalidInput
from procobs_dagster.maintenance._pruning import PruneReport, TablePolicy
from procobs_dagster.maintenance.audit_retention import archive_audit_log
from procobs_dagster.maintenance.delivery_retention import prune_delivery
from procobs_dagster.maintenance.dossier_retention import prune_dossier_snapshots
from procobs_dagster.maintenance.score_retention import prune_discovery_scores
from procobs_dagster.maintenance.workflow_retention import prune_workflow_events
from procobs_dagster.store.batches import (
    DEFAULT_BATCH,
    DEFAULT_STATEMENT_TIMEOUT_SECONDS,
    Progress,
)
from procobs_dagster.store.engine import Database

TABLE_JOBS = {
    "delivery": prune_delivery,
    "audit": archive_audit_log,
    "dossier": prune_dossier_snapshots,
    "scores": prune_discovery_scores,
    "workflow_events": prune_workflow_events,
}


def run_table_retention(
    db: Database,
    policy: TablePolicy | None = None,
    *,
    only: Collection[str] | None = None,
    now: dt.datetime | None = None,
    batch: int = DEFAULT_BATCH,
    dry_run: bool = False,
    progress: Progress | None = None,
    statement_timeout_seconds: float = DEFAULT_STATEMENT_TIMEOUT_SECONDS,
) -> dict[str, PruneReport]:
    """Run the table jobs (all, or those named in ``only``) one after the other, all
    judged at the same ``now``; their reports by job name."""
    names = list(TABLE_JOBS) if only is None else list(only)
    unknown = sorted(set(names) - set(TABLE_JOBS))
    if unknown:
        raise InvalidInput(
            f"unknown retention job {unknown[0]!r}: expected one of {', '.join(TABLE_JOBS)}"
        )
    policy = policy or TablePolicy()
    return {
        name: TABLE_JOBS[name](
            db,
            policy,
            now=now,
            batch=batch,
            dry_run=dry_run,
            progress=progress,
            statement_timeout_seconds=statement_timeout_seconds,
        )
        for name in TABLE_JOBS
        if name in names
    }
