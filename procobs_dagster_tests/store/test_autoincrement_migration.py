"""Migration 0013 on a database with rows: on SQLite it rebuilds the retained tables with
AUTOINCREMENT keeping every row, the delivery rows that refer to the outbox, the
triggers, and starts each counter above every key already given; on Postgres it changes
nothing. Down and up again keep the rows too."""

import pytest
import sqlalchemy as sa

from procobs_dagster.delivery import delivery_state as queue
from procobs_dagster.events import audit
from procobs_dagster.store import migrate
from procobs_dagster.store.tables import (
    audit_log,
    delivery_cursor,
    delivery_state,
    event_outbox,
    process_status_history,
)
from procobs_dagster_tests.maintenance.helpers import make_run
from procobs_dagster_tests.maintenance.table_helpers import T0, emit, sink

BEFORE = "0012_ledger_functions"
REVISION = "0013_sqlite_autoincrement"
TABLES = (event_outbox, delivery_state, delivery_cursor, audit_log, process_status_history)


def _rows(db) -> dict[str, list]:
    with db.read() as conn:
        return {t.name: sorted(conn.execute(sa.select(t)).all(), key=repr) for t in TABLES}


def _created(db, table: str) -> str:
    with db.read() as conn:
        return conn.exec_driver_sql(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
        ).scalar_one()


def _filled(db):
    migrate.upgrade(db, BEFORE)
    events = emit(db, 3)
    with db.begin() as conn:
        queue.fan_out(conn, sink("a"), now=T0, limit=100)
        # Retention took the newest event: the cursor stands past every seq still present.
        conn.execute(delivery_state.delete().where(delivery_state.c.event_id == events[2]))
        conn.execute(event_outbox.delete().where(event_outbox.c.event_id == events[2]))
        audit.record(conn, actor="tester", action="test.action", subject="s", at=T0)
        make_run(conn, "completed")
    return events[:2]


def _refused(db, statement, match: str) -> None:
    with pytest.raises(sa.exc.DatabaseError, match=match), db.begin() as conn:
        conn.execute(statement)


def test_upgrade_keeps_every_row_and_starts_above_every_key_given(empty_db, backend):
    _filled(empty_db)
    before = _rows(empty_db)
    migrate.upgrade(empty_db, REVISION)
    assert _rows(empty_db) == before
    [late] = emit(empty_db)
    with empty_db.read() as conn:
        seq = conn.execute(sa.select(event_outbox.c.seq).where(event_outbox.c.event_id == late))
        assert seq.scalar_one() > 3  # above the cursor, so it is fanned out
    with empty_db.begin() as conn:
        assert queue.fan_out(conn, sink("a"), now=T0, limit=100) == 1
    if backend == "sqlite":
        assert "AUTOINCREMENT" in _created(empty_db, "event_outbox")


def test_the_rebuilt_tables_keep_their_triggers_and_foreign_keys(empty_db, backend):
    [event, _] = _filled(empty_db)
    migrate.upgrade(empty_db, REVISION)
    _refused(empty_db, event_outbox.update().values(source="x"), "append-only")
    _refused(empty_db, process_status_history.update().values(actor="x"), "append-only")
    _refused(empty_db, audit_log.delete(), "leaves only into audit_log_archive")
    # A delivery row still refers to it: the foreign key survived the rebuild.
    _refused(
        empty_db, event_outbox.delete().where(event_outbox.c.event_id == event), "(?i)foreign key"
    )


def test_down_and_up_again_keep_every_row(empty_db, backend):
    _filled(empty_db)
    migrate.upgrade(empty_db, REVISION)
    before = _rows(empty_db)
    migrate.downgrade(empty_db, BEFORE)
    assert _rows(empty_db) == before
    if backend == "sqlite":
        assert "AUTOINCREMENT" not in _created(empty_db, "event_outbox")
    migrate.upgrade(empty_db, REVISION)
    assert _rows(empty_db) == before
