"""What `procobs demo` does: migrate, observe a sample two-component run, report it."""

from procobs_dagster import ledger
from procobs_dagster.demo import kg
from procobs_dagster.store import migrate
from procobs_dagster.store.engine import Database

CANDIDATE = "PROC-CAND:dot:kg"


def observe_kg_run(db: Database) -> ledger.RunRecord:
    """Extract then validate the bundled texts, recording each step in the ledger."""
    folder = kg.sample_folder()
    with db.begin() as conn:
        run, _ = ledger.start_run(conn, candidate_code=CANDIDATE, input_ref=str(folder))
        producer, _ = ledger.record_component(
            conn, process_run_id=run.process_run_id, dot_code="DOT_KG_EXTRACT", role="producer"
        )
    triples = kg.extract(folder)
    with db.begin() as conn:
        ledger.transition_component(
            conn,
            producer.component_run_id,
            "completed",
            output_ref=f"triples:{len(triples)}",
            evidence={"rows_touched": len(triples), "output_sha256": kg.digest(triples)},
        )
        verifier, _ = ledger.record_component(
            conn, process_run_id=run.process_run_id, dot_code="DOT_KG_VALIDATE", role="verifier"
        )
    verdict = kg.validate(triples)
    with db.begin() as conn:
        ledger.transition_component(
            conn,
            verifier.component_run_id,
            "completed",
            evidence={"rows_touched": verdict["accepted"], "output_sha256": kg.digest(verdict)},
        )
        return ledger.finish_run(
            conn, run.process_run_id, output_ref=f"entities:{len(verdict['entities'])}"
        )


def run_demo(db: Database) -> dict:
    migrate.upgrade(db)
    run = observe_kg_run(db)
    with db.read() as conn:
        components = ledger.components_of(conn, run.process_run_id)
        history = ledger.history_of(conn, run.process_run_id)
    return {"database": db.display_url, "run": run, "components": components, "history": history}
