"""Storing scores: the process_candidate rows of every candidate scored, and one
discovery_score row per candidate per scoring (the newest is the current verdict)."""

import dataclasses
import datetime as dt
from collections.abc import Iterable, Sequence

from sqlalchemy.engine import Connection

from procobs_dagster.clock import utcnow
from procobs_dagster.discovery.catalog import Catalog
from procobs_dagster.discovery.results import CandidateScore
from procobs_dagster.discovery.scoring import compute_scores
from procobs_dagster.discovery.summaries import refresh_summaries
from procobs_dagster.store.dialect import upsert_many
from procobs_dagster.store.tables import discovery_score, process_candidate


def _sync_candidates(
    conn: Connection, catalog: Catalog, scores: Iterable[CandidateScore], at
) -> None:
    """Record every candidate scored: declared ones as the catalog says, discovered ones
    as seen. A last_executed backfill the platform wrote is kept unless the catalog
    states one."""
    rows = []
    for score in scores:
        spec = catalog.get(score.candidate_code)
        rows.append(
            {
                "candidate_code": score.candidate_code,
                "source": spec.source if spec else None,
                "title": spec.title if spec else None,
                "covers": list(spec.covered_codes) if spec else None,
                "expected_steps": [s.model_dump() for s in spec.steps] if spec else None,
                "declared": spec is not None,
                "last_executed": score.last_executed,
                "updated_at": at,
            }
        )
    upsert_many(conn, process_candidate, rows, key=["candidate_code"])
    # A candidate dropped from the catalog is no longer declared.
    conn.execute(
        process_candidate.update()
        .where(
            process_candidate.c.declared,
            process_candidate.c.candidate_code.not_in([c.code for c in catalog.candidates]),
        )
        .values(declared=False, updated_at=at)
    )


def store_scores(
    conn: Connection, scores: Sequence[CandidateScore], computed_at: dt.datetime
) -> None:
    if not scores:
        return
    conn.execute(
        discovery_score.insert(),
        [
            {
                "computed_at": computed_at,
                "candidate_code": s.candidate_code,
                "declared": s.declared,
                "status": s.status,
                "support": s.support,
                "dry_runs": s.dry_runs,
                "completed_runs": s.completed_runs,
                "verified_runs": s.verified_runs,
                "fitting_runs": s.fitting_runs,
                "completion_ratio": s.completion_ratio,
                "evidence_completeness": s.evidence_completeness,
                "fitness": s.fitness,
                "last_seen_at": s.last_seen_at,
                "proving_run_id": s.proving_run_id,
                "proof_source": s.proof_source,
                "explanation": s.explanation,
                "evidence": s.evidence(),
                "directly_follows": [dataclasses.asdict(e) for e in s.directly_follows],
            }
            for s in scores
        ],
    )


def score_candidates(
    conn: Connection, catalog: Catalog, now: dt.datetime | None = None, *, full: bool = False
) -> list[CandidateScore]:
    """Score every declared and discovered candidate and store the scores, in the caller's
    transaction: first bring the trace summaries up to date — the traces changed since the
    last scoring, or with ``full`` every trace (``summaries.refresh_summaries``). Writes
    the summaries and their queue, process_candidate and discovery_score, nothing else."""
    computed_at = now or utcnow()
    refresh_summaries(conn, catalog, full=full, now=computed_at)
    scores = compute_scores(conn, catalog)
    _sync_candidates(conn, catalog, scores, computed_at)
    store_scores(conn, scores, computed_at)
    return scores
