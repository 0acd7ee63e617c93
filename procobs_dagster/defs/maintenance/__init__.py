"""Ledger maintenance in Dagster: retention and the sweeps, as jobs on schedules."""

import dagster as dg

from procobs_dagster.defs.maintenance.jobs import orphan_sweep_job, retention_job, stuck_sweep_job
from procobs_dagster.defs.maintenance.schedules import (
    orphan_sweep_hourly,
    retention_daily,
    stuck_sweep_every_15_minutes,
)

defs = dg.Definitions(
    jobs=[retention_job, stuck_sweep_job, orphan_sweep_job],
    schedules=[retention_daily, stuck_sweep_every_15_minutes, orphan_sweep_hourly],
)
