"""Ledger maintenance: retention with archive, the stuck sweep, orphan detection.

Each job takes a ``Database`` (it commits one short transaction per batch), a ``now=``
to judge at (time travel in tests, default: now), a batch size and an optional progress
callback (called with a ``BatchProgress`` after each batch), and returns a report
dataclass with ``as_dict()``. The batch functions (``archive_run_batch`` …) take a
``Connection`` in a transaction the caller owns.
"""

from procobs_dagster.maintenance._jobs import (
    DEFAULT_BATCH,
    DEFAULT_STATEMENT_TIMEOUT_SECONDS,
    BatchProgress,
    MaintenanceTimeout,
)
from procobs_dagster.maintenance._sweep import SweepReport, SweepVerdict
from procobs_dagster.maintenance.orphan_sweep import DEFAULT_GRACE_SECONDS, sweep_orphans
from procobs_dagster.maintenance.retention import (
    RetentionBatch,
    RetentionPolicy,
    RetentionReport,
    archive_run_batch,
    archive_runless_component_batch,
    run_retention,
)
from procobs_dagster.maintenance.stuck_sweep import (
    DEFAULT_STUCK_SLA_SECONDS,
    SlaOverride,
    clear_sla,
    list_slas,
    set_sla,
    sweep_stuck,
)

__all__ = [
    "DEFAULT_BATCH",
    "DEFAULT_GRACE_SECONDS",
    "DEFAULT_STATEMENT_TIMEOUT_SECONDS",
    "DEFAULT_STUCK_SLA_SECONDS",
    "BatchProgress",
    "MaintenanceTimeout",
    "RetentionBatch",
    "RetentionPolicy",
    "RetentionReport",
    "SlaOverride",
    "SweepReport",
    "SweepVerdict",
    "archive_run_batch",
    "archive_runless_component_batch",
    "clear_sla",
    "list_slas",
    "run_retention",
    "set_sla",
    "sweep_orphans",
    "sweep_stuck",
]
