"""Concurrent writers: idempotent starts and the compare-and-set race."""

import datetime as dt
import multiprocessing
import random
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa

from procobs_dagster import ledger
from procobs_dagster.errors import IllegalTransition, LostRace
from procobs_dagster.store.engine import Database
from procobs_dagster.store.tables import process_run_observation, process_status_history
from procobs_dagster_tests.concurrency import error_of_blocked_writer, wait_for_lock_waiter

KEYS = [f"key-{i}" for i in range(20)]


def _start_all(url: str, worker: int, barrier=None) -> dict[str, str]:
    """Start one run per key, in a shuffled order; return key -> the run id we were given."""
    db = Database(url)
    keys = KEYS[:]
    random.Random(worker).shuffle(keys)
    if barrier is not None:
        barrier.wait()
    seen = {}
    for key in keys:
        with db.begin() as conn:
            run, _ = ledger.start_run(conn, candidate_code="PROC-CAND:race", idempotency_key=key)
        seen[key] = str(run.process_run_id)
    db.dispose()
    return seen


def _assert_one_run_per_key(db, results: list[dict[str, str]]) -> None:
    for key in KEYS:
        assert len({r[key] for r in results}) == 1, f"callers saw different runs for {key}"
    with db.read() as conn:
        rows = conn.execute(
            sa.select(process_run_observation.c.idempotency_key, sa.func.count()).group_by(
                process_run_observation.c.idempotency_key
            )
        ).all()
    assert sorted(rows) == sorted((key, 1) for key in KEYS)


def test_idempotent_start_across_processes(postgres_db):
    url = postgres_db.url.render_as_string(hide_password=False)
    ctx = multiprocessing.get_context("spawn")
    workers = 6
    barrier = ctx.Manager().Barrier(workers)
    with ctx.Pool(workers) as pool:
        results = pool.starmap(_start_all, [(url, worker, barrier) for worker in range(workers)])
    _assert_one_run_per_key(postgres_db, results)


def test_idempotent_start_across_threads(db):
    url = db.url.render_as_string(hide_password=False)
    barrier = threading.Barrier(4)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda worker: _start_all(url, worker, barrier), range(4)))
    _assert_one_run_per_key(db, results)


def test_caller_with_a_stale_read_loses_the_race(db):
    with db.begin() as conn:
        run, _ = ledger.start_run(conn, candidate_code="PROC-CAND:race")
    with db.read() as conn:
        seen_by_sweeper = ledger.get_run(conn, run.process_run_id).status
    with db.begin() as conn:
        ledger.finish_run(conn, run.process_run_id, output_ref="winner")
    with pytest.raises(LostRace, match="lost the race"), db.begin() as conn:
        ledger.transition_run(conn, run.process_run_id, "stuck", expect=seen_by_sweeper)
    with db.read() as conn:
        final = ledger.get_run(conn, run.process_run_id)
        moves = conn.execute(
            sa.select(sa.func.count()).where(
                process_status_history.c.subject_id == run.process_run_id
            )
        ).scalar_one()
    assert (final.status, final.output_ref, moves) == ("completed", "winner", 2)


def test_blocked_writer_loses_the_race_after_the_winner_commits(postgres_db):
    """B read 'started' and moves on that belief while A holds the row; when A commits
    'completed', B's guarded update matches nothing: LostRace, not a corrupted row."""
    db = postgres_db
    with db.begin() as conn:
        run, _ = ledger.start_run(conn, candidate_code="PROC-CAND:race")

    def loser():
        with db.begin() as conn:
            ledger.finish_run(
                conn, run.process_run_id, "failed", error_ref="loser", expect="started"
            )

    error = error_of_blocked_writer(
        db,
        lambda winner: ledger.finish_run(
            winner, run.process_run_id, "completed", output_ref="winner"
        ),
        loser,
    )
    assert isinstance(error, LostRace) and "lost the race" in str(error)
    with db.read() as conn:
        final = ledger.get_run(conn, run.process_run_id)
    assert (final.status, final.output_ref, final.error_ref) == ("completed", "winner", None)


def test_blind_writer_after_the_winner_is_told_the_run_is_terminal(postgres_db):
    db = postgres_db
    with db.begin() as conn:
        run, _ = ledger.start_run(conn, candidate_code="PROC-CAND:race")

    def blind():
        with db.begin() as conn:
            ledger.finish_run(conn, run.process_run_id, "failed")

    error = error_of_blocked_writer(
        db, lambda winner: ledger.finish_run(winner, run.process_run_id, "completed"), blind
    )
    assert isinstance(error, IllegalTransition) and "completed is terminal" in str(error)


def test_a_timed_transition_is_judged_on_the_status_it_really_moves_from(postgres_db):
    """A transition with a caller-given time reads the row before moving it. That read
    waits for a concurrent writer, so the move is judged on the status the winner left:
    a real completion arriving while a sweep marks the run stuck lands as stuck → completed.
    """
    db = postgres_db
    with db.begin() as conn:
        run, _ = ledger.start_run(conn, candidate_code="PROC-CAND:race")
    ended_at = run.started_at + dt.timedelta(hours=1)
    outcome = {}

    def complete() -> None:
        with db.begin() as conn:
            outcome["run"] = ledger.finish_run(conn, run.process_run_id, at=ended_at)

    with db.begin() as sweep:
        ledger.transition_run(sweep, run.process_run_id, "stuck", expect="started")
        thread = threading.Thread(target=complete)
        thread.start()
        wait_for_lock_waiter(db)
    thread.join(timeout=10)
    assert (outcome["run"].status, outcome["run"].ended_at) == ("completed", ended_at)
    with db.read() as conn:
        moves = [(h.from_status, h.to_status) for h in ledger.history_of(conn, run.process_run_id)]
    assert moves == [(None, "started"), ("started", "stuck"), ("stuck", "completed")]


def test_components_recorded_and_run_moved_at_once_do_not_deadlock(postgres_db):
    """Each writer records a component (its foreign key key-share-locks the run) and then
    moves the run. The move locks FOR NO KEY UPDATE, which key-share locks do not block,
    so the writers queue instead of deadlocking."""
    db = postgres_db
    with db.begin() as conn:
        run, _ = ledger.start_run(conn, candidate_code="PROC-CAND:race")
    barrier = threading.Barrier(2)
    errors = []

    def writer():
        try:
            with db.begin() as conn:
                ledger.record_component(conn, process_run_id=run.process_run_id)
                barrier.wait(timeout=10)
                ledger.transition_run(conn, run.process_run_id, "step_started")
        except (IllegalTransition, LostRace):
            pass  # the second writer finds the run already moved: a clean refusal
        except Exception as exc:  # a deadlock surfaces here as a database error
            errors.append(exc)

    threads = [threading.Thread(target=writer) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    with db.read() as conn:
        assert ledger.get_run(conn, run.process_run_id).status == "step_started"
        assert len(ledger.components_of(conn, run.process_run_id)) in (1, 2)
