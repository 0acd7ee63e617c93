"""Ledger write cost: the ledger API against the minimal raw SQL for the same rows.

Each run is recorded as a real one would be, in three transactions: start the run and
its producer; complete the producer and start the verifier; complete the verifier and
the run. The API adds what raw SQL skips: reads for validation, guarded compare-and-set
updates, idempotency handling. Both write identical rows (headers, components, history).
Goal: the API costs at most 1.5x the raw SQL per run. The two paths alternate in short
rounds, so that both see the same load on a shared machine.
"""

import datetime as dt
import json

from _common import alternating, fresh_postgres, parser, report

from procobs_dagster import ledger
from procobs_dagster.ids import uuid7

GOAL = 1.5  # the API's cost per run, in multiples of the raw SQL's


def via_api(db, runs: int) -> None:
    for _ in range(runs):
        with db.begin() as conn:
            run, _ = ledger.start_run(conn, candidate_code="PROC-CAND:bench:api")
            producer, _ = ledger.record_component(
                conn, process_run_id=run.process_run_id, dot_code="DOT_EXTRACT", role="producer"
            )
        with db.begin() as conn:
            ledger.transition_component(
                conn, producer.component_run_id, "completed", evidence={"rows_touched": 10}
            )
            verifier, _ = ledger.record_component(
                conn, process_run_id=run.process_run_id, dot_code="DOT_VALIDATE", role="verifier"
            )
        with db.begin() as conn:
            ledger.transition_component(
                conn, verifier.component_run_id, "completed", evidence={"rows_touched": 10}
            )
            ledger.finish_run(conn, run.process_run_id)


RUN_INSERT = (
    "INSERT INTO process_run_observation (process_run_id, process_candidate_code, correlation_id,"
    " status, source_system, started_at, created_at) VALUES (%s, %s, %s, 'started', 'dot_runtime', %s, %s)"
)
COMPONENT_INSERT = (
    "INSERT INTO process_component_observation (component_run_id, process_run_id, correlation_id,"
    " dot_code, component_role, standalone, status, source_system, started_at, created_at)"
    " VALUES (%s, %s, %s, %s, %s, false, 'started', 'dot_runtime', %s, %s)"
)
COMPONENT_DONE = (
    "UPDATE process_component_observation SET status = 'completed', ended_at = %s,"
    " evidence_ref = %s::jsonb WHERE component_run_id = %s"
)
RUN_DONE = "UPDATE process_run_observation SET status = 'completed', ended_at = %s WHERE process_run_id = %s"
HISTORY = (
    "INSERT INTO process_status_history (subject_kind, subject_id, process_run_id, from_status,"
    " to_status, changed_at) VALUES (%s, %s, %s, %s, %s, %s)"
)


def via_raw_sql(db, runs: int) -> None:
    raw = db.engine.raw_connection()
    try:
        cur = raw.cursor()
        evidence = json.dumps({"rows_touched": 10})
        for _ in range(runs):
            now = dt.datetime.now(dt.UTC)
            run_id, producer, verifier = uuid7(), uuid7(), uuid7()
            corr = str(run_id)
            cur.execute(RUN_INSERT, (str(run_id), "PROC-CAND:bench:raw", corr, now, now))
            cur.execute(HISTORY, ("run", str(run_id), str(run_id), None, "started", now))
            cur.execute(
                COMPONENT_INSERT,
                (str(producer), str(run_id), corr, "DOT_EXTRACT", "producer", now, now),
            )
            cur.execute(HISTORY, ("component", str(producer), str(run_id), None, "started", now))
            raw.commit()
            cur.execute(COMPONENT_DONE, (now, evidence, str(producer)))
            cur.execute(
                HISTORY, ("component", str(producer), str(run_id), "started", "completed", now)
            )
            cur.execute(
                COMPONENT_INSERT,
                (str(verifier), str(run_id), corr, "DOT_VALIDATE", "verifier", now, now),
            )
            cur.execute(HISTORY, ("component", str(verifier), str(run_id), None, "started", now))
            raw.commit()
            cur.execute(COMPONENT_DONE, (now, evidence, str(verifier)))
            cur.execute(
                HISTORY, ("component", str(verifier), str(run_id), "started", "completed", now)
            )
            cur.execute(RUN_DONE, (now, str(run_id)))
            cur.execute(HISTORY, ("run", str(run_id), str(run_id), "started", "completed", now))
            raw.commit()
    finally:
        raw.close()


def main() -> None:
    cli = parser(__doc__.splitlines()[0])
    cli.add_argument("--runs", type=int, default=2000)
    args = cli.parse_args()
    runs = args.runs
    with fresh_postgres(args.database_url, "ledger") as db:
        paths = {"raw": via_raw_sql, "api": via_api}
        results = alternating(db, paths, runs, rounds=40, warm_up=50)
    ratio = results["api"] / results["raw"]
    report(
        f"ledger_write: {runs} runs x 2 components, 3 transactions per run (PostgreSQL)",
        [
            ("raw SQL", f"{runs / results['raw']:8.0f} runs/s  ({results['raw']:.2f} s)"),
            ("ledger API", f"{runs / results['api']:8.0f} runs/s  ({results['api']:.2f} s)"),
            (
                "cost ratio",
                f"{ratio:8.2f} x raw  (goal <= {GOAL:.2f}: {'met' if ratio <= GOAL else 'NOT met'})",
            ),
        ],
    )


if __name__ == "__main__":
    main()
