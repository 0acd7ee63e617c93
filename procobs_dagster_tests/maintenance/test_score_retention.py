"""Retention of discovery scores: each candidate's newest N scorings stay, its latest
always; a candidate no longer scored keeps its last ones."""

import pytest
import sqlalchemy as sa

from procobs_dagster.maintenance import TablePolicy, prune_discovery_scores
from procobs_dagster.maintenance.score_retention import nth_newest_scoring
from procobs_dagster.store.tables import discovery_score
from procobs_dagster_tests.maintenance.table_helpers import DAY, T0, rows

KEEP_3 = TablePolicy(scores_per_candidate=3)


def _scoring(db, day: int, *candidates: str) -> None:
    """One scoring at T0 + ``day`` days, a row per candidate."""
    with db.begin() as conn:
        conn.execute(
            discovery_score.insert(),
            [
                {
                    "computed_at": T0 + day * DAY,
                    "candidate_code": code,
                    "declared": False,
                    "status": "runtime_missing",
                    "support": 0,
                    "dry_runs": 0,
                    "completed_runs": 0,
                    "verified_runs": 0,
                    "fitting_runs": 0,
                    "explanation": f"scoring of day {day}",
                    "evidence": {},
                    "directly_follows": {},
                }
                for code in candidates
            ],
        )


def _days(db) -> dict[str, list[int]]:
    kept: dict[str, list[int]] = {}
    with db.read() as conn:
        for row in conn.execute(
            sa.select(discovery_score.c.candidate_code, discovery_score.c.computed_at).order_by(
                discovery_score.c.computed_at
            )
        ):
            kept.setdefault(row.candidate_code, []).append((row.computed_at - T0).days)
    return kept


def test_the_newest_n_scorings_per_candidate_stay(db):
    for day in range(6):
        _scoring(db, day, "a", "b")
    _scoring(db, 6, "a")
    report = prune_discovery_scores(db, KEEP_3, batch=2)
    assert report.deleted == {"discovery_score": 13 - 6}
    assert _days(db) == {"a": [4, 5, 6], "b": [3, 4, 5]}


def test_a_candidate_no_longer_scored_keeps_its_last_scorings(db):
    _scoring(db, 0, "gone")
    _scoring(db, 1, "gone")
    for day in range(2, 10):
        _scoring(db, day, "a")
    prune_discovery_scores(db, KEEP_3)
    assert _days(db) == {"gone": [0, 1], "a": [7, 8, 9]}


def test_the_nth_newest_scoring_is_found_by_distinct_time(db):
    for day in (0, 1, 1, 2, 5):
        _scoring(db, day, "a", "b")
    with db.read() as conn:
        assert nth_newest_scoring(conn, 1) == T0 + 5 * DAY
        assert nth_newest_scoring(conn, 3) == T0 + 1 * DAY
        assert nth_newest_scoring(conn, 4) == T0
        assert nth_newest_scoring(conn, 5) is None


def test_fewer_scorings_than_n_keep_everything(db):
    _scoring(db, 0, "a")
    _scoring(db, 1, "a")
    assert prune_discovery_scores(db, KEEP_3).deleted == {"discovery_score": 0}
    assert prune_discovery_scores(db, TablePolicy(scores_per_candidate=None)).batches == 0


def test_dry_run_counts_and_writes_nothing(db):
    for day in range(5):
        _scoring(db, day, "a", "b")
    before = rows(db)
    dry = prune_discovery_scores(db, KEEP_3, batch=3, dry_run=True)
    assert rows(db) == before
    assert (
        dry.deleted == prune_discovery_scores(db, KEEP_3, batch=3).deleted == {"discovery_score": 4}
    )


def test_a_failure_after_a_batch_keeps_that_batch_and_a_rerun_finishes(db):
    for day in range(6):
        _scoring(db, day, "a")

    def fail(progress) -> None:
        raise RuntimeError("injected")

    with pytest.raises(RuntimeError, match="injected"):
        prune_discovery_scores(db, KEEP_3, batch=2, progress=fail)
    assert _days(db) == {"a": [2, 3, 4, 5]}
    prune_discovery_scores(db, KEEP_3, batch=2)
    assert _days(db) == {"a": [3, 4, 5]}
