"""Correlation across processes: a child joins the run its environment names; a name no
run carries makes an orphan step."""

import os
import subprocess
import sys

from procobs_dagster import ledger
from procobs_dagster.ledger import propagation
from procobs_dagster_tests.events.helpers import outbox_rows, set_active

CANDIDATE = "PROC-CAND:dot:test"

_CHILD = """
from procobs_dagster import ledger
with ledger.observe_step("DOT_CHILD", role="verifier") as step:
    step.touched(7)
print(step.process_run_id, step.correlation_id, step.orphan)
"""


def _run_child(env):
    result = subprocess.run(
        [sys.executable, "-c", _CHILD],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.split()


def test_a_child_process_joins_the_run_named_in_its_environment(db):
    with ledger.observe_run(db, CANDIDATE) as run, run.step("DOT_PARENT", role="producer"):
        run_id, correlation_id, orphan = _run_child(ledger.child_env())
    assert (run_id, correlation_id, orphan) == (
        str(run.process_run_id),
        run.correlation_id,
        "False",
    )
    with db.read() as conn:
        parent, child = ledger.components_of(conn, run.process_run_id)
    assert child.dot_code == "DOT_CHILD" and child.evidence_ref == {"rows_touched": 7}
    assert child.correlation_id == parent.correlation_id == run.correlation_id


def test_an_unknown_correlation_is_recorded_as_an_orphan_with_an_alert(db, monkeypatch):
    set_active(db, "process.correlation.missing")
    monkeypatch.setenv(propagation.ENV_CORRELATION_ID, "nobody-knows-me")
    with ledger.observe_step("DOT_LOST", db=db) as step:
        step.touched(2)
    assert step.orphan and step.process_run_id is None
    with db.read() as conn:
        orphan = ledger.get_component(conn, step.component_run_id)
    assert orphan.status == "orphan" and orphan.process_run_id is None
    assert orphan.correlation_id == "nobody-knows-me"
    assert orphan.evidence_ref == {"rows_touched": 2}
    (row,) = outbox_rows(db)
    assert row["event_type"] == "process.correlation.missing"
    assert row["safe_payload"]["status"] == "orphan"
    assert row["correlation_id"] == "nobody-knows-me"
