"""When maintenance runs (UTC). Offsets keep the jobs that share the procobs/maintenance
limit from queuing behind each other at the top of the hour."""

from procobs_dagster.defs.conventions import utc_schedule
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

retention_daily = utc_schedule(
    "retention_daily", retention_job, "17 3 * * *", "Archive expired runs daily at 03:17 UTC."
)
stuck_sweep_every_15_minutes = utc_schedule(
    "stuck_sweep_every_15_minutes",
    stuck_sweep_job,
    "*/15 * * * *",
    "Judge runs past their SLA every 15 minutes.",
)
orphan_sweep_hourly = utc_schedule(
    "orphan_sweep_hourly",
    orphan_sweep_job,
    "7 * * * *",
    "Judge work left in flight under ended runs, hourly at minute 7.",
)
delivery_retention_hourly = utc_schedule(
    "delivery_retention_hourly",
    delivery_retention_job,
    "52 * * * *",
    "Delete settled delivery rows and outbox rows hourly at minute 52.",
)
audit_retention_daily = utc_schedule(
    "audit_retention_daily",
    audit_retention_job,
    "47 3 * * *",
    "Archive old audit log rows daily at 03:47 UTC.",
)
dossier_retention_daily = utc_schedule(
    "dossier_retention_daily",
    dossier_retention_job,
    "22 4 * * *",
    "Delete superseded dossier snapshots daily at 04:22 UTC.",
)
score_retention_daily = utc_schedule(
    "score_retention_daily",
    score_retention_job,
    "27 4 * * *",
    "Delete old discovery scores daily at 04:27 UTC.",
)
workflow_event_retention_daily = utc_schedule(
    "workflow_event_retention_daily",
    workflow_event_retention_job,
    "53 4 * * *",
    "Delete old raw workflow reports daily at 04:53 UTC.",
)
