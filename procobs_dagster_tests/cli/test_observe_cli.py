import hashlib
import sys
from pathlib import Path

import sqlalchemy as sa

from procobs_dagster import ledger
from procobs_dagster.ledger import propagation
from procobs_dagster.store.tables import process_component_observation as components

PY = sys.executable
PROCOBS = str(Path(sys.executable).with_name("procobs"))


def _only_run(db):
    with db.read() as conn:
        (run,) = ledger.list_runs(conn)
        return run, ledger.components_of(conn, run.process_run_id)


def test_a_command_becomes_a_completed_component_with_its_stdout_hash(db, procobs):
    result = procobs(
        "observe",
        "--candidate",
        "PROC-CAND:cli",
        "--dot",
        "DOT_ECHO",
        "--role",
        "producer",
        "--",
        PY,
        "-c",
        "print('hello')",
    )
    assert result.stdout == "hello\n"
    run, (component,) = _only_run(db)
    assert run.status == component.status == "completed"
    assert run.process_candidate_code == "PROC-CAND:cli" and component.component_role == "producer"
    assert component.evidence_ref == {
        "output_sha256": hashlib.sha256(b"hello\n").hexdigest(),
        "stdout_bytes": 6,
    }


def test_a_failing_command_fails_its_component_and_procobs_exits_with_its_code(db, procobs):
    result = procobs(
        "observe",
        "--candidate",
        "PROC-CAND:cli",
        "--dot",
        "DOT_FAIL",
        "--",
        PY,
        "-c",
        "import sys; sys.exit(3)",
        expect_exit=3,
    )
    assert result.stderr.endswith("exited with code 3\n")
    run, (component,) = _only_run(db)
    assert run.status == component.status == "failed"
    assert "exited with code 3" in component.error_ref
    missing = procobs(
        "observe",
        "--candidate",
        "PROC-CAND:cli",
        "--dot",
        "DOT_NONE",
        "--",
        "/nonexistent/cmd",
        expect_exit=127,
    )
    assert "cannot run /nonexistent/cmd" in missing.stderr


def test_a_nested_observe_joins_the_outer_run_through_the_environment(db, procobs):
    inner = (
        f"{PROCOBS} observe --candidate PROC-CAND:other --dot DOT_INNER --role verifier "
        "-- echo inner"
    )
    result = procobs(
        "observe",
        "--candidate",
        "PROC-CAND:cli",
        "--dot",
        "DOT_OUTER",
        "--role",
        "producer",
        "--",
        "sh",
        "-c",
        f"echo outer; {inner}",
    )
    assert result.stdout == "outer\ninner\n"
    run, components = _only_run(db)
    assert run.status == "completed" and run.process_candidate_code == "PROC-CAND:cli"
    assert sorted(c.dot_code for c in components) == ["DOT_INNER", "DOT_OUTER"]
    assert {c.correlation_id for c in components} == {run.correlation_id}


def test_observe_joins_a_run_named_in_the_environment_or_records_an_orphan(
    db, procobs, monkeypatch
):
    with ledger.observe_run(db, "PROC-CAND:host") as host:
        monkeypatch.setenv(propagation.ENV_PROCESS_RUN_ID, str(host.process_run_id))
        procobs("observe", "--candidate", "PROC-CAND:cli", "--dot", "DOT_JOIN", "--", "true")
    run, (component,) = _only_run(db)
    assert run.process_run_id == host.process_run_id and component.dot_code == "DOT_JOIN"

    monkeypatch.delenv(propagation.ENV_PROCESS_RUN_ID)
    monkeypatch.setenv(propagation.ENV_CORRELATION_ID, "lost-correlation")
    procobs("observe", "--candidate", "PROC-CAND:cli", "--dot", "DOT_LOST", "--", "echo", "x")
    with db.read() as conn:
        assert len(ledger.list_runs(conn)) == 1
        (orphan,) = conn.execute(
            sa.select(components).where(components.c.correlation_id == "lost-correlation")
        ).mappings()
    assert orphan["status"] == "orphan" and orphan["process_run_id"] is None
    assert orphan["dot_code"] == "DOT_LOST"
    assert orphan["evidence_ref"]["output_sha256"] == hashlib.sha256(b"x\n").hexdigest()
