"""The observation ledger as Dagster assets: the run header and the component detail."""

import dagster as dg
import sqlalchemy as sa

from procobs_dagster.defs.automation import ON_REFRESH_CRON, REFRESH_FRESHNESS
from procobs_dagster.defs.conventions import DATABASE_KINDS, OWNERS
from procobs_dagster.defs.markdown import markdown_table
from procobs_dagster.defs.resources import ProcobsDatabase
from procobs_dagster.store import migrate
from procobs_dagster.store.stats import grouped_counts
from procobs_dagster.store.tables import process_component_observation as components
from procobs_dagster.store.tables import process_run_observation as runs
from procobs_dagster.store.vocabulary import RUN_STATUSES

GROUP = "observation"

runs_spec = dg.AssetSpec(
    "process_run_observation",
    group_name=GROUP,
    kinds=DATABASE_KINDS,
    owners=OWNERS,
    automation_condition=ON_REFRESH_CRON,
    freshness_policy=REFRESH_FRESHNESS,
    description=(
        "One row per process run (the ledger header), stitched to its components by "
        "correlation_id. Materialising brings the schema to head and reports runs by "
        "status and by process candidate; dry runs are counted apart, they prove wiring only."
    ),
)
components_spec = dg.AssetSpec(
    "process_component_observation",
    group_name=GROUP,
    kinds=DATABASE_KINDS,
    owners=OWNERS,
    automation_condition=ON_REFRESH_CRON,
    freshness_policy=REFRESH_FRESHNESS,
    description=(
        "One row per component execution (producer, verifier or step) of a run. "
        "Materialising reports components by status and role, and how many carry evidence."
    ),
)


def _by_status(counts: dict[tuple, int], columns: list[str]) -> list[list[object]]:
    """One row per status present, one cell per value of the second grouping column."""
    statuses = [s for s in RUN_STATUSES if any(key[0] == s for key in counts)]
    return [[s, *(counts.get((s, c), 0) for c in columns)] for s in statuses]


def run_metadata(conn: sa.Connection) -> dict[str, object]:
    is_dry = runs.c.source_system == "dry_run"
    by_status = grouped_counts(conn, runs, [runs.c.status, is_dry])
    by_candidate = conn.execute(
        sa.select(
            runs.c.process_candidate_code,
            sa.func.count().filter(sa.not_(is_dry)),
            sa.func.count().filter(sa.and_(sa.not_(is_dry), runs.c.status == "completed")),
            sa.func.count().filter(is_dry),
            sa.func.max(runs.c.started_at),
        )
        .group_by(runs.c.process_candidate_code)
        .order_by(runs.c.process_candidate_code)
    ).all()
    real = sum(n for (_, dry), n in by_status.items() if not dry)
    return {
        "schema_revision": migrate.head_revision(),
        "runs": dg.MetadataValue.int(sum(by_status.values())),
        "real_runs": dg.MetadataValue.int(real),
        "dry_runs": dg.MetadataValue.int(sum(by_status.values()) - real),
        "by_status": markdown_table(
            ["status", "real runs", "dry runs"], _by_status(by_status, [False, True])
        ),
        "by_candidate": markdown_table(
            ["candidate", "real runs", "completed", "dry runs", "last started"],
            by_candidate,
            empty="no runs yet",
        ),
    }


def component_metadata(conn: sa.Connection) -> dict[str, object]:
    roles = ["producer", "verifier", "step", None]
    by_status = grouped_counts(conn, components, [components.c.status, components.c.component_role])
    evidenced = conn.execute(
        sa.select(sa.func.count()).where(components.c.evidence_ref.is_not(None))
    ).scalar_one()
    by_dot = grouped_counts(conn, components, [components.c.dot_code, components.c.status])
    return {
        "components": dg.MetadataValue.int(sum(by_status.values())),
        "with_evidence": dg.MetadataValue.int(evidenced),
        "by_status": markdown_table(
            ["status", "producer", "verifier", "step", "no role"], _by_status(by_status, roles)
        ),
        "by_dot_code": markdown_table(
            ["dot code", "status", "components"],
            [[dot, status, n] for (dot, status), n in by_dot.items()],
            empty="no components yet",
        ),
    }


@dg.multi_asset(specs=[runs_spec, components_spec], name="observation_ledger")
def observation_ledger(procobs_db: ProcobsDatabase):
    """Migrate the procobs database to head, then report the two ledger tables."""
    with procobs_db.migrated().read() as conn:
        yield dg.MaterializeResult(asset_key=runs_spec.key, metadata=run_metadata(conn))
        yield dg.MaterializeResult(asset_key=components_spec.key, metadata=component_metadata(conn))
