"""Every asset materialised and every check evaluated, through the code location's own
definitions, on SQLite and on Postgres."""

import sqlalchemy as sa

from procobs_dagster import dossier, ledger
from procobs_dagster.defs.in_process import materialize_all
from procobs_dagster.demo.pipeline import observe_kg_run
from procobs_dagster.store.tables import birth_registry, process_definition
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
    assert all(e.passed for e in report.check_evaluations)
    assert report.metadata("process_run_observation")["runs"] == 0
    assert report.metadata("event_outbox")["rows"] == 0


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
    assert "| completed | 1 | 1 |" in runs["by_status"]
    assert "| PROC-CAND:dot:kg | 1 | 1 | 1 |" in runs["by_candidate"]
    components = report.metadata("process_component_observation")
    assert (components["components"], components["with_evidence"]) == (2, 2)
    assert "| completed | 1 | 1 | 0 | 0 |" in components["by_status"]
    registry = report.metadata("event_type_registry")
    assert (registry["types"], registry["active_types"], registry["emit_enabled"]) == (49, 0, True)
    snapshot = report.metadata("dossier_snapshot", FEATURE)
    assert (snapshot["completeness"], snapshot["parity"]) == ("complete", "NO_BASELINE")
    assert snapshot["parity_hash"].startswith("sha256:")
    # Observation is never a birth: every asset and check ran over a verified candidate,
    # and still only `procobs birth` may write these tables.
    assert report.metadata("discovery_scores")["verified_candidate"] == 1
    with db.read() as conn:
        for table in (process_definition, birth_registry):
            assert conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one() == 0
