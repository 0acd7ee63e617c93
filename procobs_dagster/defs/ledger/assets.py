"""The observation ledger as a Dagster asset."""

import dagster as dg
import sqlalchemy as sa

from procobs_dagster.defs.resources import ProcobsDatabase
from procobs_dagster.store import migrate
from procobs_dagster.store.tables import process_component_observation, process_run_observation


def _counts_by_status(conn, table: sa.Table) -> dict[str, int]:
    rows = conn.execute(sa.select(table.c.status, sa.func.count()).group_by(table.c.status))
    return dict(rows.all())


@dg.asset(
    group_name="observation",
    kinds={"sqlite", "postgres"},
    owners=["team:procobs"],
    description=(
        "The observation ledger: process_run_observation (one row per run) and "
        "process_component_observation (one row per component execution). Materialising "
        "migrates the schema to head and reports the row counts by status."
    ),
)
def observation_ledger(procobs_db: ProcobsDatabase) -> dg.MaterializeResult:
    db = procobs_db.database()
    migrate.upgrade(db)
    with db.read() as conn:
        runs = _counts_by_status(conn, process_run_observation)
        components = _counts_by_status(conn, process_component_observation)
    table = "\n".join(
        ["| status | runs | components |", "|---|---:|---:|"]
        + [
            f"| {status} | {runs.get(status, 0)} | {components.get(status, 0)} |"
            for status in sorted(set(runs) | set(components))
        ]
    )
    return dg.MaterializeResult(
        metadata={
            "schema_revision": migrate.head_revision(),
            "runs": sum(runs.values()),
            "components": sum(components.values()),
            "by_status": dg.MetadataValue.md(table),
        }
    )
