"""What `procobs demo` does: migrate, observe a sample two-component run, report it."""

import sqlalchemy as sa

from procobs_dagster import discovery, ledger
from procobs_dagster.demo import kg
from procobs_dagster.store import migrate
from procobs_dagster.store.engine import Database
from procobs_dagster.store.tables import event_outbox

CANDIDATE = "PROC-CAND:dot:kg"


def observe_kg_run(db: Database) -> ledger.RunRecord:
    """Extract then validate the bundled texts as one observed run: the DOT wrapper
    records each step, its evidence, and the process.* events it would emit."""
    folder = str(kg.sample_folder())
    with ledger.observe_run(db, CANDIDATE, input_ref=folder) as run:
        with run.step("DOT_KG_EXTRACT", role="producer", input_ref=folder) as extracting:
            triples = kg.extract(kg.sample_folder())
            extracting.touched(len(triples))
            extracting.output(triples, ref=f"triples:{len(triples)}")
        with run.step(
            "DOT_KG_VALIDATE", role="verifier", input_ref=extracting.output_ref
        ) as validating:
            verdict = kg.validate(triples)
            validating.touched(verdict["accepted"])
            validating.output(verdict)
        run.output_ref = f"entities:{len(verdict['entities'])}"
    with db.read() as conn:
        return ledger.get_run(conn, run.process_run_id)


def run_demo(db: Database) -> dict:
    migrate.upgrade(db)
    run = observe_kg_run(db)
    with db.read() as conn:
        components = ledger.components_of(conn, run.process_run_id)
        history = ledger.history_of(conn, run.process_run_id)
        emitted = conn.execute(
            sa.select(sa.func.count())
            .select_from(event_outbox)
            .where(event_outbox.c.correlation_id == run.correlation_id)
        ).scalar_one()
    # Score the candidates of the sample catalog: the run just observed is the evidence.
    catalog = discovery.load_catalog(discovery.sample_catalog_path())
    with db.begin() as conn:
        scores = discovery.score_candidates(conn, catalog)
    return {
        "database": db.display_url,
        "run": run,
        "components": components,
        "history": history,
        "events_emitted": emitted,
        "discovery": next(s for s in scores if s.candidate_code == CANDIDATE),
    }
