"""The observation ledger as Dagster assets: the run header and the component detail."""

import dataclasses

import dagster as dg
import sqlalchemy as sa

from procobs_dagster.clock import seconds_since, utcnow
from procobs_dagster.defs.automation import refreshed_table
from procobs_dagster.defs.markdown import age_metadata, markdown_table
from procobs_dagster.defs.resources import ProcobsDatabase
from procobs_dagster.ledger import summary as ledger_summary
from procobs_dagster.store import migrate
from procobs_dagster.store.vocabulary import RUN_STATUSES

GROUP = "observation"

runs_spec = refreshed_table(
    "process_run_observation",
    GROUP,
    (
        "One row per process run (the ledger header), stitched to its components by "
        "correlation_id. Materialising brings the schema to head and reports runs by "
        "status and by process candidate; dry runs are counted apart, they prove wiring only. "
        "Numbers to plot: real_runs_<status> and newest_real_run_age_seconds."
    ),
)
components_spec = refreshed_table(
    "process_component_observation",
    GROUP,
    (
        "One row per component execution (producer, verifier or step) of a run. "
        "Materialising reports components by status and role, and how many carry evidence; "
        "components_<status> plot the counts."
    ),
)


def _by_status(counts: dict[tuple, int], columns: list[object]) -> list[list[object]]:
    """One row per status present, one cell per value of the second grouping column."""
    statuses = [s for s in RUN_STATUSES if any(key[0] == s for key in counts)]
    return [[s, *(counts.get((s, c), 0) for c in columns)] for s in statuses]


def run_metadata(conn: sa.Connection) -> dict[str, object]:
    summary = ledger_summary.run_summary(conn)
    newest_age = seconds_since(utcnow(), summary.newest_real_run_at)
    return {
        "schema_revision": dg.MetadataValue.text(migrate.head_revision()),
        "runs": dg.MetadataValue.int(summary.runs),
        "real_runs": dg.MetadataValue.int(summary.real_runs),
        "dry_runs": dg.MetadataValue.int(summary.dry_runs),
        # Every status every time, zeros included, so each plots as a continuous line.
        **{
            f"real_runs_{status}": dg.MetadataValue.int(summary.real_runs_in(status))
            for status in RUN_STATUSES
        },
        **age_metadata("newest_real_run_age_seconds", newest_age),
        "real_runs_from_the_future": dg.MetadataValue.int(summary.real_runs_from_the_future),
        "by_status": markdown_table(
            ["status", "real runs", "dry runs"], _by_status(summary.by_status, [False, True])
        ),
        "by_candidate": markdown_table(
            ["candidate", "real runs", "completed", "dry runs", "last started"],
            (dataclasses.astuple(c) for c in summary.by_candidate),
            empty="no runs yet",
        ),
    }


def component_metadata(conn: sa.Connection) -> dict[str, object]:
    summary = ledger_summary.component_summary(conn)
    roles = ["producer", "verifier", "step", None]
    return {
        "components": dg.MetadataValue.int(summary.components),
        "with_evidence": dg.MetadataValue.int(summary.with_evidence),
        **{
            f"components_{status}": dg.MetadataValue.int(
                sum(n for (s, _), n in summary.by_status.items() if s == status)
            )
            for status in RUN_STATUSES
        },
        "by_status": markdown_table(
            ["status", "producer", "verifier", "step", "no role"],
            _by_status(summary.by_status, roles),
        ),
        "by_dot_code": markdown_table(
            ["dot code", "status", "components"],
            [[dot, status, n] for (dot, status), n in summary.by_dot_code.items()],
            empty="no components yet",
        ),
    }


@dg.multi_asset(specs=[runs_spec, components_spec], name="observation_ledger")
def observation_ledger(procobs_db: ProcobsDatabase):
    """Migrate the procobs database to head, then report the two ledger tables."""
    with procobs_db.migrated().read() as conn:
        yield dg.MaterializeResult(asset_key=runs_spec.key, metadata=run_metadata(conn))
        yield dg.MaterializeResult(asset_key=components_spec.key, metadata=component_metadata(conn))
