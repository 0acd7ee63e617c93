"""Outbox rows written straight into the table, for tests of the readers of the outbox.

Readers (the feed, the Dagster sensors) only care that rows exist and in which order their
transactions commit; the emitting side and its gate are tested with the event system.
"""

import time
import uuid

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from procobs_dagster.clock import utcnow
from procobs_dagster.store.engine import Database
from procobs_dagster.store.sql import visible_txid_horizon
from procobs_dagster.store.tables import event_outbox


def insert_outbox_rows(
    conn: Connection, event_type: str = "process.step.completed", count: int = 1
) -> list[uuid.UUID]:
    """Insert ``count`` rows of ``event_type``; returns their event ids in insert order."""
    now = utcnow()
    event_ids = [uuid.uuid4() for _ in range(count)]
    conn.execute(
        sa.insert(event_outbox),
        [
            {
                "event_id": event_id,
                "event_type": event_type,
                "source": "procobs/tests",
                "correlation_id": f"corr-{event_id}",
                "schema_version": 1,
                "occurred_at": now,
                "safe_payload": {"event_type": event_type},
            }
            for event_id in event_ids
        ],
    )
    return event_ids


def wait_until_readable(db: Database, timeout_seconds: float = 30.0) -> None:
    """Wait until every committed outbox row is below the Postgres transaction horizon.

    The horizon is cluster-wide: a transaction of a parallel test, in another database,
    can hold it back for a moment. Readers then see the rows a little later, never out of
    order; tests wait for that instead of racing it. SQLite needs no wait.
    """
    if db.dialect != "postgresql":
        return
    deadline = time.monotonic() + timeout_seconds
    while True:
        with db.read() as conn:
            newest = conn.execute(sa.select(sa.func.max(event_outbox.c.tx_id))).scalar()
            horizon = conn.execute(sa.select(visible_txid_horizon())).scalar_one()
        if newest is None or newest < horizon:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"outbox tx {newest} still not below the horizon {horizon}")
        time.sleep(0.02)
