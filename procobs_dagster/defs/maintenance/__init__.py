"""Maintenance in Dagster: retention of the ledger and of every other growing table, and
the sweeps, as jobs on schedules."""

import dagster as dg

from procobs_dagster.defs.maintenance.jobs import (
    audit_retention_job,
    delivery_retention_job,
    dossier_retention_job,
    orphan_sweep_job,
    retention_job,
    score_retention_job,
    stuck_sweep_job,
    workflow_event_retention_job,
)
from procobs_dagster.defs.maintenance.schedules import (
    audit_retention_daily,
    delivery_retention_hourly,
    dossier_retention_daily,
    orphan_sweep_hourly,
    retention_daily,
    score_retention_daily,
    stuck_sweep_every_15_minutes,
    workflow_event_retention_daily,
)

defs = dg.Definitions(
    jobs=[
        retention_job,
        stuck_sweep_job,
        orphan_sweep_job,
        delivery_retention_job,
        audit_retention_job,
        dossier_retention_job,
        score_retention_job,
        workflow_event_retention_job,
    ],
    schedules=[
        retention_daily,
        stuck_sweep_every_15_minutes,
        orphan_sweep_hourly,
        delivery_retention_hourly,
        audit_retention_daily,
        dossier_retention_daily,
        score_retention_daily,
        workflow_event_retention_daily,
    ],
)
