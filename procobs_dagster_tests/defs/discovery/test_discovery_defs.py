"""The discovery scores asset: a status table per candidate with its reason, and the
directly-follows relation of the components, from the ledger."""

import dagster as dg

from procobs_dagster import ledger
from procobs_dagster.demo.pipeline import observe_kg_run

SCORES = dg.AssetKey("discovery_scores")


def test_scores_say_which_candidate_is_verified_and_why(db, defs, instance):
    observe_kg_run(db)
    with db.begin() as conn:
        dry, _ = ledger.start_run(conn, candidate_code="PROC-CAND:dot:kg-publish", dry_run=True)
        ledger.finish_run(conn, dry.process_run_id)

    result = defs.resolve_job_def("discovery_refresh_job").execute_in_process(instance=instance)

    # The ledger tables the scores come from are re-read in the same run.
    events = {e.asset_key.to_user_string(): e for e in result.get_asset_materialization_events()}
    assert sorted(events) == [
        "discovery_scores",
        "process_component_observation",
        "process_run_observation",
    ]
    metadata = {k: v.value for k, v in events["discovery_scores"].materialization.metadata.items()}
    assert metadata["verified_candidate"] == 1
    assert metadata["wired"] == 1
    rows = {line.split(" | ")[0].lstrip("| "): line for line in metadata["scores"].splitlines()[2:]}
    assert "| verified_candidate | 1 | 0 |" in rows["PROC-CAND:dot:kg"]
    assert "proved it" in rows["PROC-CAND:dot:kg"]
    assert "| wired | 0 | 1 |" in rows["PROC-CAND:dot:kg-publish"]
    assert "| runtime_missing |" in rows["PROC-CAND:job:cut"]
    assert (
        "| PROC-CAND:dot:kg | DOT_KG_EXTRACT | DOT_KG_VALIDATE | 1 |"
        in (metadata["directly_follows"])
    )
