import uuid

from procobs_dagster import ledger


def _sample_run(db):
    with db.begin() as conn:
        run, _ = ledger.start_run(conn, candidate_code="PROC-CAND:dot:kg")
        for dot in ("DOT_KG_EXTRACT", "DOT_KG_VALIDATE"):
            component, _ = ledger.record_component(
                conn, process_run_id=run.process_run_id, dot_code=dot
            )
            ledger.transition_component(conn, component.component_run_id, "completed")
        ledger.finish_run(conn, run.process_run_id)
    return run


def test_list_and_show(db, procobs):
    run = _sample_run(db)
    with db.begin() as conn:
        ledger.start_run(conn, candidate_code="PROC-CAND:other")
    listed = procobs.json("runs", "list")
    assert len(listed) == 2
    assert [r["process_run_id"] for r in procobs.json("runs", "list", "--status", "completed")] == [
        str(run.process_run_id)
    ]
    assert len(procobs.json("runs", "list", "--candidate", "PROC-CAND:other")) == 1
    assert len(procobs.json("runs", "list", "--limit", "1")) == 1
    shown = procobs.json("runs", "show", str(run.process_run_id))
    assert shown["run"]["status"] == "completed"
    assert [c["dot_code"] for c in shown["components"]] == ["DOT_KG_EXTRACT", "DOT_KG_VALIDATE"]
    assert len(shown["history"]) == 6
    text = procobs("runs", "show", str(run.process_run_id)).stdout
    assert "DOT_KG_VALIDATE" in text and "history:" in text
    assert "PROC-CAND:dot:kg" in procobs("runs", "list").stdout


def test_bad_ids_and_filters_are_one_line_errors(procobs):
    assert "malformed process_run_id" in procobs("runs", "show", "42", expect_exit=1).stderr
    missing = str(uuid.uuid4())
    assert f"unknown run {missing}" in procobs("runs", "show", missing, expect_exit=1).stderr
    assert "unknown status" in procobs("runs", "list", "--status", "running", expect_exit=1).stderr
    assert procobs("runs", "list", "--limit", "0", expect_exit=2).exit_code == 2
