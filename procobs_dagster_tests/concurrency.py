"""Helpers to stage interleavings between concurrent database sessions."""

import time

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
