"""Every asset materialised and every check evaluated, through the code location's own
definitions, on SQLite and on Postgres."""

import dagster as dg
import sqlalchemy as sa

from procobs_dagster import dossier, ledger
from procobs_dagster.defs.in_process import materialize_all
from procobs_dagster.demo.pipeline import observe_kg_run
from procobs_dagster.store import migrate
from procobs_dagster.store.tables import birth_registry, process_definition
from procobs_dagster.store.vocabulary import CANDIDATE_STATUSES, RUN_STATUSES
from procobs_dagster_tests.dossier.helpers import FEATURE, copy_sample


def all_checks(defs) -> set[str]:
    return {key.name for key in defs.resolve_asset_graph().asset_check_keys}


def test_every_asset_and_check_on_an_empty_database(defs, instance):
    report = materialize_all(defs, instance)
    assert report.success
    materialized = {m.asset_key for m in report.materializations}
    unpartitioned = {
        spec.key for spec in defs.resolve_all_asset_specs() if spec.partitions_def is None
    }
    assert materialized == unpartitioned
    assert {e.check_name for e in report.check_evaluations} == all_checks(defs)
    # Nothing observed yet is worth a warning; everything else holds on an empty database.
    (warned,) = [e for e in report.check_evaluations if not e.passed]
    assert (warned.check_name, warned.severity, warned.description) == (
        "newest_run_within_window",
        dg.AssetCheckSeverity.WARN,
        "no real run recorded yet",
    )
    runs = report.metadata("process_run_observation")
    assert runs["runs"] == 0
    assert runs["schema_revision"] == migrate.head_revision()  # brought to head first
    assert {runs[f"real_runs_{status}"] for status in RUN_STATUSES} == {0}
    assert "newest_real_run_age_seconds" not in runs  # no point to plot yet
    outbox = report.metadata("event_outbox")
    assert (outbox["rows"], outbox["undelivered"], outbox["dead"]) == (0, 0, 0)
    assert "oldest_undelivered_age_seconds" not in outbox
    # Every status is a number to plot, none verified yet.
    scores = report.metadata("discovery_scores")
    assert sum(scores[status] for status in CANDIDATE_STATUSES) == scores["candidates"]
    assert scores["verified_candidate"] == 0


def test_every_asset_and_check_with_data(db, defs, instance, tmp_path):
    observe_kg_run(db)
    with db.begin() as conn:
        dry, _ = ledger.start_run(conn, candidate_code="PROC-CAND:dot:kg", dry_run=True)
        ledger.finish_run(conn, dry.process_run_id)
    mission = copy_sample(tmp_path / "mission")
    dossier.scan_dossier(db, mission, FEATURE, dossier.default_manifest(), step="review")

    report = materialize_all(defs, instance, {"dossier_feature": [FEATURE]})

    assert report.success
    assert {m.asset_key.to_user_string() for m in report.materializations} == {
        spec.key.to_user_string() for spec in defs.resolve_all_asset_specs()
    }
    assert {e.check_name for e in report.check_evaluations} == all_checks(defs)
    assert all(e.passed for e in report.check_evaluations)
    runs = report.metadata("process_run_observation")
    assert (runs["runs"], runs["real_runs"], runs["dry_runs"]) == (2, 1, 1)
    assert (runs["real_runs_completed"], runs["real_runs_failed"]) == (1, 0)
    assert 0 <= runs["newest_real_run_age_seconds"] < 3600
    assert "| completed | 1 | 1 |" in runs["by_status"]
    assert "| PROC-CAND:dot:kg | 1 | 1 | 1 |" in runs["by_candidate"]
    components = report.metadata("process_component_observation")
    assert (components["components"], components["with_evidence"]) == (2, 2)
    assert "| completed | 1 | 1 | 0 | 0 |" in components["by_status"]
    assert (components["components_completed"], components["components_started"]) == (2, 0)
    registry = report.metadata("event_type_registry")
    assert (registry["types"], registry["active_types"], registry["emit_enabled"]) == (49, 0, True)
    snapshot = report.metadata("dossier_snapshot", FEATURE)
    assert (snapshot["completeness"], snapshot["parity"]) == ("complete", "NO_BASELINE")
    assert snapshot["parity_hash"].startswith("sha256:")
    # Observation is never a birth: every asset and check ran over a verified candidate,
    # and still only `procobs birth` may write these tables.
    scores = report.metadata("discovery_scores")
    assert scores["verified_candidate"] == 1
    assert sum(scores[status] for status in CANDIDATE_STATUSES) == scores["candidates"]
    with db.read() as conn:
        for table in (process_definition, birth_registry):
            assert conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one() == 0
