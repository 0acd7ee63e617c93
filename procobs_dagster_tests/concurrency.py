"""Helpers to stage interleavings between concurrent database sessions."""

import threading
import time
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa


def wait_for_lock_waiter(db, timeout: float = 10.0) -> None:
    """Block until some session of ``db``'s database waits on a row lock (Postgres)."""
    deadline = time.monotonic() + timeout
    query = sa.text(
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    while time.monotonic() < deadline:
        with db.engine.connect() as conn:
            if conn.execute(query).scalar_one():
                return
        time.sleep(0.02)
    raise AssertionError("no session started waiting on a lock")


def at_once(work: Callable[[], Any], copies: int, timeout: float = 60.0) -> list[Any]:
    """Call ``work`` in ``copies`` threads released together; the results, in the order
    the calls returned."""
    barrier = threading.Barrier(copies)
    results = []

    def run() -> None:
        barrier.wait()
        results.append(work())

    threads = [threading.Thread(target=run) for _ in range(copies)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
    return results


def while_held_after_first_batch(
    first: Callable[[Callable], Any], second: Callable[[], Any], timeout: float = 30.0
) -> tuple[Any, Any]:
    """Start ``first`` (a batch job, given the progress callback to pass on) in a thread,
    hold it after its first batch, run ``second`` meanwhile, then let ``first`` finish.
    Returns both results."""
    first_batch_done, release = threading.Event(), threading.Event()
    results = {}

    def hold(_progress) -> None:
        first_batch_done.set()
        release.wait(timeout=timeout)

    def run_first() -> None:
        results["first"] = first(hold)

    thread = threading.Thread(target=run_first)
    thread.start()
    try:
        assert first_batch_done.wait(timeout=timeout)
        results["second"] = second()
    finally:
        release.set()
        thread.join(timeout=timeout)
    return results["first"], results["second"]


def error_of_blocked_writer(
    db, winner: Callable[[Any], Any], blocked: Callable[[], Any]
) -> Exception | None:
    """Run ``winner(conn)`` in a transaction and, while it holds its row locks, start
    ``blocked`` in a thread and wait until it waits on a lock (Postgres); then commit the
    winner. Returns what ``blocked`` raised once it went on, None if nothing."""
    raised = []

    def run_blocked() -> None:
        try:
            blocked()
        except Exception as exc:
            raised.append(exc)

    with db.begin() as conn:
        winner(conn)
        thread = threading.Thread(target=run_blocked)
        thread.start()
        wait_for_lock_waiter(db)
    thread.join(timeout=10)
    return raised[0] if raised else None
