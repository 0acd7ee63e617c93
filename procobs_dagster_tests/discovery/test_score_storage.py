"""Storing scores: one discovery_score row per candidate per scoring, and the
process_candidate rows the catalog and the runs describe."""

import sqlalchemy as sa

from procobs_dagster import discovery
from procobs_dagster.store.tables import discovery_score, process_candidate
from procobs_dagster_tests.discovery.helpers import (
    CATALOG,
    CUT,
    KG,
    T0,
    backfill_last_executed,
    observe,
    seconds,
)


def test_scoring_stores_the_scores_and_the_candidates(db):
    run = observe(db)
    backfill_last_executed(db, CUT, T0)
    with db.begin() as conn:
        discovery.score_candidates(conn, CATALOG, now=T0 + seconds(600))
    with db.read() as conn:
        rows = {r.candidate_code: r for r in conn.execute(sa.select(discovery_score))}
        candidates = {r.candidate_code: r for r in conn.execute(sa.select(process_candidate))}
    assert rows[KG].status == "verified_candidate" and rows[KG].proving_run_id == run.process_run_id
    assert rows[KG].computed_at == T0 + seconds(600)
    assert rows[KG].directly_follows == [
        {"source": "DOT_KG_EXTRACT", "target": "DOT_KG_VALIDATE", "count": 1}
    ]
    assert (
        rows[CUT].status == "runtime_missing"
        and rows[CUT].evidence["last_executed"] == T0.isoformat()
    )
    assert candidates[KG].declared and candidates[KG].source == "dot"
    assert candidates[KG].expected_steps == [
        {"code": c, "role": r}
        for c, r in (("DOT_KG_EXTRACT", "producer"), ("DOT_KG_VALIDATE", "verifier"))
    ]
    assert candidates[CUT].last_executed == T0 and candidates[CUT].declared
    # Dropped from the catalog: still known, no longer declared.
    with db.begin() as conn:
        discovery.score_candidates(
            conn, discovery.parse_catalog({"version": 1}), now=T0 + seconds(700)
        )
    with db.read() as conn:
        declared = dict(
            conn.execute(
                sa.select(process_candidate.c.candidate_code, process_candidate.c.declared)
            ).all()
        )
    assert declared == {KG: False, CUT: False}


def _many(n: int, title: str) -> discovery.Catalog:
    return discovery.parse_catalog(
        {
            "version": 1,
            "candidates": [
                {
                    "code": f"PROC-CAND:dot:c{i}",
                    "source": "dot",
                    "title": f"{title} {i}",
                    "steps": [{"code": f"S{i}", "role": "producer"}],
                }
                for i in range(n)
            ],
        }
    )


def test_a_catalog_of_thousands_of_candidates_is_stored_and_stored_again(db):
    # More candidates than SQLAlchemy sends in one page of rows, scored twice: the second
    # scoring updates every row the first inserted.
    with db.begin() as conn:
        first = discovery.score_candidates(conn, _many(2_500, "old"), now=T0)
    with db.begin() as conn:
        again = discovery.score_candidates(conn, _many(2_000, "new"), now=T0 + seconds(60))
    # The 500 dropped candidates never ran: no longer scored, still known.
    assert len(first) == 2_500 and len(again) == 2_000
    with db.read() as conn:
        candidates = {r.candidate_code: r for r in conn.execute(sa.select(process_candidate))}
        scored = conn.execute(sa.select(sa.func.count()).select_from(discovery_score)).scalar_one()
    assert scored == 4_500
    assert len(candidates) == 2_500
    kept, dropped = candidates["PROC-CAND:dot:c1999"], candidates["PROC-CAND:dot:c2000"]
    assert kept.declared and kept.title == "new 1999" and kept.updated_at == T0 + seconds(60)
    assert kept.expected_steps == [{"code": "S1999", "role": "producer"}]
    assert not dropped.declared and dropped.title == "old 2000"
    assert sum(r.declared for r in candidates.values()) == 2_000
