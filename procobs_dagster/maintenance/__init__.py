"""Ledger maintenance: retention with archive, the retention of every other growing table,
the stuck sweep, orphan detection.

Each job takes a ``Database`` (it commits one short transaction per batch), a ``now=``
to judge at (time travel in tests, default: now), a batch size and an optional progress
callback (called with a ``BatchProgress`` after each batch), and returns a report
dataclass with ``as_dict()``. The batch functions (``archive_run_batch`` …) take a
``Connection`` in a transaction the caller owns.
"""

from procobs_dagster.maintenance._pruning import PruneBatch, PruneJob, PruneReport, TablePolicy
from procobs_dagster.maintenance._sweep import SweepReport, SweepVerdict
from procobs_dagster.maintenance.audit_retention import archive_audit_batch, archive_audit_log
from procobs_dagster.maintenance.delivery_retention import prune_delivery, prune_delivery_batch
from procobs_dagster.maintenance.dossier_retention import (
    prune_dossier_snapshots,
    prune_snapshot_batch,
)
from procobs_dagster.maintenance.orphan_sweep import DEFAULT_GRACE_SECONDS, sweep_orphans
from procobs_dagster.maintenance.retention import (
    RetentionBatch,
    RetentionPolicy,
    RetentionReport,
    archive_run_batch,
    archive_runless_component_batch,
    run_retention,
)
from procobs_dagster.maintenance.score_retention import (
    prune_discovery_scores,
    prune_score_batch,
)
from procobs_dagster.maintenance.stuck_sweep import (
    DEFAULT_STUCK_SLA_SECONDS,
    SlaOverride,
    clear_sla,
    list_slas,
    set_sla,
    sweep_stuck,
)
from procobs_dagster.maintenance.table_retention import TABLE_JOBS, run_table_retention
from procobs_dagster.maintenance.workflow_retention import (
    prune_workflow_event_batch,
    prune_workflow_events,
)
from procobs_dagster.store.batches import (
    DEFAULT_BATCH,
    DEFAULT_STATEMENT_TIMEOUT_SECONDS,
    BatchProgress,
    BatchTimeout,
)

__all__ = [
    "DEFAULT_BATCH",
    "DEFAULT_GRACE_SECONDS",
    "DEFAULT_STATEMENT_TIMEOUT_SECONDS",
    "DEFAULT_STUCK_SLA_SECONDS",
    "TABLE_JOBS",
    "BatchProgress",
    "BatchTimeout",
    "PruneBatch",
    "PruneJob",
    "PruneReport",
    "RetentionBatch",
    "RetentionPolicy",
    "RetentionReport",
    "SlaOverride",
    "SweepReport",
    "SweepVerdict",
    "TablePolicy",
    "archive_audit_batch",
    "archive_audit_log",
    "archive_run_batch",
    "archive_runless_component_batch",
    "clear_sla",
    "list_slas",
    "prune_delivery",
    "prune_delivery_batch",
    "prune_discovery_scores",
    "prune_dossier_snapshots",
    "prune_score_batch",
    "prune_snapshot_batch",
    "prune_workflow_event_batch",
    "prune_workflow_events",
    "run_retention",
    "run_table_retention",
    "set_sla",
    "sweep_orphans",
    "sweep_stuck",
]
