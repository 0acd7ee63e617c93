"""Ledger and job_queue rows for discovery tests, at explicit times so order is known."""

import datetime as dt
import uuid

from procobs_dagster import discovery, ledger
from procobs_dagster.ids import uuid7
from procobs_dagster.store.tables import job_queue, process_candidate

T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
KG = "PROC-CAND:dot:kg"
CUT = "PROC-CAND:job:cut"
KG_STEPS = (("DOT_KG_EXTRACT", "producer"), ("DOT_KG_VALIDATE", "verifier"))

CATALOG = discovery.parse_catalog(
    {
        "version": 1,
        "candidates": [
            {
                "code": KG,
                "source": "dot",
                "steps": [{"code": c, "role": r} for c, r in KG_STEPS],
            },
            {
                "code": CUT,
                "source": "job",
                "covers": ["cut.segment", "cut.encode", "cut.retry"],
                "steps": [{"code": "cut.segment"}, {"code": "cut.encode"}],
            },
        ],
    }
)


def seconds(n: float) -> dt.timedelta:
    return dt.timedelta(seconds=n)


def observe(
    db,
    candidate: str = KG,
    steps=KG_STEPS,
    *,
    finish: str | None = "completed",
    dry_run: bool = False,
    at: dt.datetime = T0,
    evidence: dict | None = None,
    parent_run_id=None,
) -> ledger.RunRecord:
    """One run of ``steps`` (dot_code, role), each completed one second after the last;
    the run ends with ``finish`` (None: left running)."""
    with db.begin() as conn:
        run, _ = ledger.start_run(
            conn, candidate_code=candidate, dry_run=dry_run, at=at, parent_run_id=parent_run_id
        )
        for i, (dot_code, role) in enumerate(steps):
            component, _ = ledger.record_component(
                conn,
                process_run_id=run.process_run_id,
                dot_code=dot_code,
                role=role,
                at=at + seconds(i + 1),
            )
            ledger.transition_component(
                conn,
                component.component_run_id,
                "completed",
                at=at + seconds(i + 1.5),
                evidence=evidence if evidence is not None else {"rows_touched": i + 1},
            )
        if finish is not None:
            ledger.finish_run(conn, run.process_run_id, finish, at=at + seconds(len(steps) + 1))
        return ledger.get_run(conn, run.process_run_id)


def enqueue(db, run_id: uuid.UUID | None, *jobs: tuple, at: dt.datetime = T0) -> None:
    """job_queue rows sharing ``run_id``: (job_kind, status, started, finished) with the
    times as seconds after ``at`` (None: not set)."""
    rows = []
    for kind, status, started, finished in jobs:
        rows.append(
            {
                "job_id": uuid7(),
                "job_kind": kind,
                "run_id": run_id,
                "status": status,
                "enqueued_at": at,
                "started_at": None if started is None else at + seconds(started),
                "finished_at": None if finished is None else at + seconds(finished),
            }
        )
    with db.begin() as conn:
        conn.execute(job_queue.insert(), rows)


def backfill_last_executed(db, code: str, when: dt.datetime) -> None:
    """What the platform's registry sync does: stamp last_executed, nothing else."""
    with db.begin() as conn:
        conn.execute(
            process_candidate.insert(),
            {"candidate_code": code, "declared": False, "last_executed": when, "updated_at": when},
        )


def scores(db, catalog=CATALOG) -> dict[str, discovery.CandidateScore]:
    with db.read() as conn:
        return {s.candidate_code: s for s in discovery.compute_scores(conn, catalog)}


def score(db, code: str = KG, catalog=CATALOG) -> discovery.CandidateScore:
    """One candidate, through the scoped query; it must agree with the full scoring."""
    with db.read() as conn:
        scoped = discovery.score_of(conn, catalog, code)
    assert scoped == scores(db, catalog)[code]
    return scoped
