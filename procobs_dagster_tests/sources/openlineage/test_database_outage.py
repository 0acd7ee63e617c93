"""The database stops in the middle of a stream: the receiver answers 503 with
Retry-After and writes nothing, the client's own retry lands every event, once.

PostgreSQL only, on a cluster of the test's own that it stops and starts. SQLite has no
server to stop: its equivalent — the write lock held elsewhere past the 30 s busy timeout —
also ends in a database error and a 503, but takes too long to wait for in the suite."""

import threading
import time

import httpx
import pytest
import sqlalchemy as sa

from procobs_dagster.store import migrate
from procobs_dagster.store.engine import Database
from procobs_dagster.store.tables import workflow_event
from procobs_dagster_tests.databases import postgres_admin_url
from procobs_dagster_tests.pg_cluster import own_cluster
from procobs_dagster_tests.sources.helpers import ledger_snapshot
from procobs_dagster_tests.sources.openlineage.client_events import client, dag_with_two_tasks
from procobs_dagster_tests.sources.openlineage.live import KEY, live

pytestmark = [pytest.mark.postgres_only, pytest.mark.slow]
RESTART_AFTER_SECONDS = 2.0


def test_a_stopped_database_gives_503_and_the_client_retry_lands_everything_once():
    postgres_admin_url()  # the Postgres half of the suite runs (skipped, or failed under CI)
    with own_cluster() as cluster:
        db = Database(cluster.url)
        migrate.upgrade(db)
        dag, events = dag_with_two_tasks()
        with live(db) as server:
            # Retry-After (5 s) is honoured by the client between its attempts.
            sender = client(server.url, KEY, total=5, backoff_factor=0.5)
            for event in events[:2]:
                sender.emit(event)
            cluster.stop()
            refused = httpx.post(
                server.endpoint,
                content=_serialised(events[2]),
                headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"},
            )
            assert refused.status_code == 503, refused.text
            assert refused.headers["retry-after"] == "5"
            assert "nothing was written" in refused.json()["error"]
            restarter = threading.Timer(RESTART_AFTER_SECONDS, cluster.start)
            restarter.start()
            started = time.monotonic()
            for event in events[2:]:
                sender.emit(event)  # the first of these waits for the database to return
            restarter.join()
            assert time.monotonic() - started >= RESTART_AFTER_SECONDS
        with db.read() as conn:
            kept = conn.execute(sa.select(sa.func.count()).select_from(workflow_event)).scalar_one()
            runs = ledger_snapshot(conn)
        db.dispose()
    assert kept == len(events)
    assert runs[dag]["status"] == "completed"
    assert sorted(r["status"] for r in runs.values()) == ["completed"] * 3


def _serialised(event) -> str:
    from openlineage.client.serde import Serde

    return Serde.to_json(event)
