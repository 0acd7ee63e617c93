def test_the_demo_records_its_run_through_the_wrapper(procobs):
    output = procobs("demo").stdout
    assert "PROC-CAND:dot:kg  completed" in output
    assert "events:    0 written to the outbox" in output
    (run,) = procobs.json("runs", "list")
    shown = procobs.json("runs", "show", run["process_run_id"])
    assert [(c["dot_code"], c["status"], c["event_code"]) for c in shown["components"]] == [
        ("DOT_KG_EXTRACT", "completed", "process.step.completed"),
        ("DOT_KG_VALIDATE", "completed", "process.step.completed"),
    ]
    assert all(c["evidence_ref"]["rows_touched"] > 0 for c in shown["components"])
