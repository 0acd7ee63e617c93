"""Every asset materialised and every check evaluated, through the code location's own
definitions, on SQLite and on Postgres."""

import dagster as dg

from procobs_dagster import ledger
from procobs_dagster.demo.pipeline import observe_kg_run


def materialize_everything(defs, instance) -> dg.ExecuteInProcessResult:
    job = defs.resolve_implicit_global_asset_job_def()
    return job.execute_in_process(instance=instance)


def metadata_of(result, key: str) -> dict:
    (event,) = [
        e for e in result.get_asset_materialization_events() if e.asset_key.to_user_string() == key
    ]
    return {k: v.value for k, v in event.materialization.metadata.items()}


def test_every_asset_and_check_on_an_empty_database(defs, instance):
    result = materialize_everything(defs, instance)
    assert result.success
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert materialized == {k.to_user_string() for k in defs.resolve_all_asset_keys()}
    evaluations = result.get_asset_check_evaluations()
    assert {e.check_name for e in evaluations} == {
        k.name for k in defs.resolve_asset_graph().asset_check_keys
    }
    assert all(e.passed for e in evaluations)
    assert metadata_of(result, "process_run_observation")["runs"] == 0
    assert metadata_of(result, "event_outbox")["rows"] == 0


def test_ledger_metadata_counts_real_and_dry_runs(db, defs, instance):
    observe_kg_run(db)
    with db.begin() as conn:
        dry, _ = ledger.start_run(conn, candidate_code="PROC-CAND:dot:kg", dry_run=True)
        ledger.finish_run(conn, dry.process_run_id)

    result = materialize_everything(defs, instance)

    runs = metadata_of(result, "process_run_observation")
    assert (runs["runs"], runs["real_runs"], runs["dry_runs"]) == (2, 1, 1)
    assert "| completed | 1 | 1 |" in runs["by_status"]
    assert "| PROC-CAND:dot:kg | 1 | 1 | 1 |" in runs["by_candidate"]
    components = metadata_of(result, "process_component_observation")
    assert (components["components"], components["with_evidence"]) == (2, 2)
    assert "| completed | 1 | 1 | 0 | 0 |" in components["by_status"]
    registry = metadata_of(result, "event_type_registry")
    assert registry["types"] == 49
    assert registry["active_types"] == 0
    assert registry["emit_enabled"] is True
    assert all(e.passed for e in result.get_asset_check_evaluations())
