"""When the parity-drift check runs (UTC)."""

from procobs_dagster.defs.conventions import utc_schedule
from procobs_dagster.defs.dossier.jobs import parity_drift_job

parity_drift_hourly = utc_schedule(
    "parity_drift_hourly",
    parity_drift_job,
    "37 * * * *",
    "Check every feature's dossier for parity drift, hourly at minute 37.",
)
