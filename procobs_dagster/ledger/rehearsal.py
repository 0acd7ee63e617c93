"""The test observation `procobs db rehearse` writes inside its rolled-back transaction.

A header and two components are written exactly as a real run would be; the guarded
tables (birth_registry first) must show the same counts afterwards (docs/design.md,
"Observation is never a birth").
"""

from sqlalchemy.engine import Connection

from procobs_dagster.ledger.components import record_component, transition_component
from procobs_dagster.ledger.runs import finish_run, start_run

REHEARSAL_CANDIDATE = "PROC-CAND:rehearsal"


def write_probe_run(conn: Connection) -> None:
    run, _ = start_run(conn, candidate_code=REHEARSAL_CANDIDATE, source_system="dot_runtime")
    for dot_code, role in (
        ("DOT_REHEARSAL_PRODUCE", "producer"),
        ("DOT_REHEARSAL_VERIFY", "verifier"),
    ):
        component, _ = record_component(
            conn, process_run_id=run.process_run_id, dot_code=dot_code, role=role
        )
        transition_component(
            conn, component.component_run_id, "completed", evidence={"probe": True}
        )
    finish_run(conn, run.process_run_id, evidence={"probe": True})
