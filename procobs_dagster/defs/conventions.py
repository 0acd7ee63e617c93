"""Names every Dagster definition of procobs shares: owners, kinds, run tags, schedules."""

import dagster as dg

OWNERS = ["team:procobs"]
# The code location's name, as workspace.yaml and pyproject.toml give it. A sensor evaluated
# by the daemon learns the name it was loaded under; one evaluated in-process assumes this.
LOCATION_NAME = "procobs_dagster"
# The procobs database is SQLite by default and Postgres in production; the UI shows both.
DATABASE_KINDS = {"sqlalchemy", "sqlite", "postgres"}
# The outbox asset (defs/events), which the delivery and alert runs report on too; named
# here because defs/events imports defs/delivery.
OUTBOX_KEY = dg.AssetKey("event_outbox")

# Run tags the instance's concurrency limits key on (dagster.yaml `concurrency.runs`).
MAINTENANCE_TAG = "procobs/maintenance"
DELIVERY_TAG = "procobs/delivery"


def utc_schedule(name: str, job, cron: str, description: str) -> dg.ScheduleDefinition:
    """A schedule of ``job`` (an op job or a define_asset_job) in UTC that starts RUNNING
    (Dagster's default would be STOPPED)."""
    return dg.ScheduleDefinition(
        name=name,
        job=job,
        cron_schedule=cron,
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description=description,
    )
