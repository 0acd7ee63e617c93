import json

import sqlalchemy as sa

from procobs_dagster.store.tables import audit_log, birth_registry
from procobs_dagster_tests.discovery.helpers import observe


def test_demo_then_score_explain_birth_and_export(db, procobs, tmp_path):
    """What a user does: the demo, the scores with their reasons, why, the birth, the log."""
    demo = procobs("demo").stdout
    assert "discovery: PROC-CAND:dot:kg is verified_candidate" in demo

    table = procobs("discovery", "score").stdout
    assert table.splitlines()[0].split()[:3] == ["CANDIDATE", "STATUS", "SUPPORT"]
    kg_line = next(line for line in table.splitlines() if line.startswith("PROC-CAND:dot:kg "))
    assert "verified_candidate" in kg_line and "proved it" in kg_line
    cut_line = next(line for line in table.splitlines() if line.startswith("PROC-CAND:job:cut"))
    assert "runtime_missing" in cut_line and "last_executed ignored" in cut_line

    scores = {s["candidate_code"]: s for s in procobs.json("discovery", "score")}
    run_id = scores["PROC-CAND:dot:kg"]["proving_run_id"]
    assert scores["PROC-CAND:dot:kg"]["fitness"] == 1.0

    explained = procobs("discovery", "explain", "PROC-CAND:dot:kg").stdout
    assert f"run {run_id} (process_run_observation) meets the bar" in explained
    assert "DOT_KG_EXTRACT (producer) → DOT_KG_VALIDATE (verifier)" in explained
    assert "meets the bar" in explained.split("recent runs")[1]
    as_json = procobs.json("discovery", "explain", "PROC-CAND:job:cut")
    assert as_json["status"] == "runtime_missing" and as_json["definitions"]["fitness"]

    refused = procobs(
        "birth",
        "PROC-CAND:job:cut",
        "--definition-code",
        "PROC:cut",
        "--approved-by",
        "alice",
        expect_exit=1,
    )
    assert refused.stderr.startswith(
        "procobs: error: PROC-CAND:job:cut is runtime_missing, not verified_candidate"
    )
    ungated = procobs("birth", "PROC-CAND:dot:kg", "--definition-code", "PROC:kg", expect_exit=1)
    assert "owner-gated: name the approver with --approved-by" in ungated.stderr
    born = procobs.json(
        "birth", "PROC-CAND:dot:kg", "--definition-code", "PROC:kg", "--approved-by", "alice"
    )
    assert born["proving_run_id"] == run_id and born["approved_by"] == "alice"
    with db.read() as conn:
        assert (
            conn.execute(sa.select(sa.func.count()).select_from(birth_registry)).scalar_one() == 1
        )
        assert (
            conn.execute(
                sa.select(audit_log.c.actor).where(audit_log.c.action == "process.birth")
            ).scalar_one()
            == "alice"
        )
    assert "(born PROC:kg)" in procobs("discovery", "score").stdout

    out = tmp_path / "log.sqlite"
    text = procobs("discovery", "export-ocel", str(out)).stdout
    assert text.startswith(f"wrote {out} (OCEL 2.0 sqlite)") and out.exists()
    summary = procobs.json(
        "discovery", "export-ocel", str(tmp_path / "log.json"), "--candidate", "PROC-CAND:dot:kg"
    )
    assert (
        summary["objects"]["process_run"] == 1
        and json.loads((tmp_path / "log.json").read_text())["events"]
    )


def test_catalog_option_and_errors(db, procobs, tmp_path):
    observe(db)
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text("version: 1\ncandidates: []\n")
    [only] = procobs.json("discovery", "score", "--catalog", str(catalog))
    assert only["candidate_code"] == "PROC-CAND:dot:kg" and not only["declared"]
    assert "PROC-CAND:dot:kg *" in procobs("discovery", "score", "--catalog", str(catalog)).stdout
    catalog.write_text("version: 1\ncandidates: [{code: kg, source: dot, steps: [{code: A}]}]\n")
    bad = procobs("discovery", "score", "--catalog", str(catalog), expect_exit=1)
    assert "is not of the form PROC-CAND:<source>:<name>" in bad.stderr
    unknown = procobs("discovery", "explain", "PROC-CAND:dot:nope", expect_exit=1)
    assert unknown.stderr.strip() == (
        "procobs: error: unknown candidate 'PROC-CAND:dot:nope': "
        "not in the catalog and no run names it"
    )
    assert (
        "name it *.json or *.sqlite"
        in procobs("discovery", "export-ocel", str(tmp_path / "x.txt"), expect_exit=1).stderr
    )


def test_commands_refuse_an_unmigrated_database(procobs_empty):
    assert "procobs db upgrade" in procobs_empty("discovery", "score", expect_exit=3).stderr
