"""When maintenance runs (UTC). Offsets keep the jobs that share the procobs/maintenance
limit from queuing behind each other at the top of the hour."""

from procobs_dagster.defs.conventions import utc_schedule
from procobs_dagster.defs.maintenance.jobs import orphan_sweep_job, retention_job, stuck_sweep_job

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
