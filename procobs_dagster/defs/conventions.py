"""Names every Dagster definition of procobs shares: owners, kinds, run tags."""

OWNERS = ["team:procobs"]
# The procobs database is SQLite by default and Postgres in production; the UI shows both.
DATABASE_KINDS = {"sqlalchemy", "sqlite", "postgres"}

# Run tags the instance's concurrency limits key on (dagster.yaml `concurrency.runs`).
MAINTENANCE_TAG = "procobs/maintenance"
DELIVERY_TAG = "procobs/delivery"
