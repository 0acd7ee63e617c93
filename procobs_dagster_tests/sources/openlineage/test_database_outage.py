"""The database becomes unavailable in the middle of a stream: the receiver answers 503
with Retry-After and writes nothing, the client's own retry lands every event, once.

PostgreSQL: a cluster of the test's own, stopped and started again. SQLite has no server
to stop; what makes it unavailable to a writer is another process holding its write lock
past the busy timeout (a backup, a long migration). The test holds it with a plain sqlite3
connection, against a receiver whose busy timeout is shortened from 30 s to half a second
so that the suite does not wait."""

import functools
import sqlite3
import threading
import time

import httpx
import pytest
import sqlalchemy as sa
from openlineage.client.serde import Serde

from procobs_dagster.store import engine, migrate
from procobs_dagster.store.engine import Database
from procobs_dagster.store.tables import workflow_event
from procobs_dagster_tests.databases import postgres_admin_url
from procobs_dagster_tests.pg_cluster import own_cluster
from procobs_dagster_tests.sources.helpers import ledger_snapshot
from procobs_dagster_tests.sources.openlineage.client_events import client, dag_with_two_tasks
from procobs_dagster_tests.sources.openlineage.live import KEY, live

pytestmark = pytest.mark.slow
RESTART_AFTER_SECONDS = 2.0


@pytest.mark.postgres_only
def test_a_stopped_database_gives_503_and_the_client_retry_lands_everything_once():
    postgres_admin_url()  # the Postgres half of the suite runs (skipped, or failed under CI)
    with own_cluster() as cluster:
        db = Database(cluster.url)
        migrate.upgrade(db)
        _stream_through_an_outage(db, cluster.stop, cluster.start, "nothing was written")


def test_a_locked_sqlite_database_gives_503_and_the_client_retry_lands_everything_once(
    tmp_path, monkeypatch
):
    monkeypatch.setattr(engine, "SQLITE_BUSY_TIMEOUT_MS", 500)
    path = tmp_path / "procobs.db"
    db = Database(f"sqlite:///{path}")
    migrate.upgrade(db)
    locker = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:  # another process holds the write lock, then lets it go
        lock = functools.partial(locker.execute, "BEGIN EXCLUSIVE")
        _stream_through_an_outage(db, lock, locker.rollback, "database is locked")
    finally:
        locker.close()


def _stream_through_an_outage(db: Database, take_away, give_back, reason: str) -> None:
    """Send a DAG run; after two events the database is taken away, and given back while
    the client is retrying the third. Every event must land once."""
    dag, events = dag_with_two_tasks()
    with live(db) as server:
        # Retry-After (5 s) is honoured between attempts: ten of them wait out a slow restart.
        sender = client(server.url, KEY, total=10, backoff_factor=0.5)
        for event in events[:2]:
            sender.emit(event)
        take_away()
        refused = httpx.post(
            server.endpoint,
            content=Serde.to_json(events[2]),
            headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"},
        )
        assert refused.status_code == 503, refused.text
        assert refused.headers["retry-after"] == "5"
        assert reason in refused.json()["error"]
        restorer = threading.Timer(RESTART_AFTER_SECONDS, give_back)
        restorer.start()
        started = time.monotonic()
        for event in events[2:]:
            sender.emit(event)  # the first of these waits for the database to return
        restorer.join()
        assert time.monotonic() - started >= RESTART_AFTER_SECONDS
    with db.read() as conn:
        kept = conn.execute(sa.select(sa.func.count()).select_from(workflow_event)).scalar_one()
        runs = ledger_snapshot(conn)
    db.dispose()
    assert kept == len(events)
    assert runs[dag]["status"] == "completed"
    assert sorted(r["status"] for r in runs.values()) == ["completed"] * 3
