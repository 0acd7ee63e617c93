"""A key retention deleted is never given again, SQLite included (migration
0013_sqlite_autoincrement): the outbox seq is the fan-out's position, the history and
audit ids the archives' keys."""

import sqlalchemy as sa

from procobs_dagster.events import audit
from procobs_dagster.maintenance import (
    TablePolicy,
    archive_audit_log,
    prune_delivery,
    prune_workflow_events,
    run_retention,
)
from procobs_dagster.store.tables import (
    audit_log,
    audit_log_archive,
    discovery_score,
    event_outbox,
    process_status_history,
    process_status_history_archive,
    workflow_event,
    workflow_run,
)
from procobs_dagster_tests.maintenance.helpers import make_run
from procobs_dagster_tests.maintenance.table_helpers import (
    DAY,
    T0,
    count,
    delivery_states,
    emit,
    fan_out,
    outbox_ids,
    settle,
    sink,
)

AUTOINCREMENTED = (
    event_outbox,
    audit_log,
    process_status_history,
    workflow_event,
    discovery_score,
)


def _highest(db, column: sa.Column) -> int:
    with db.read() as conn:
        return conn.execute(sa.select(sa.func.max(column))).scalar_one()


def test_the_retained_tables_never_hand_a_key_out_twice(db, backend):
    if backend != "sqlite":  # Postgres: identity sequences, which never go back
        return
    with db.read() as conn:
        created = dict(
            conn.exec_driver_sql("SELECT name, sql FROM sqlite_master WHERE type = 'table'").all()
        )
    for table in AUTOINCREMENTED:
        assert "AUTOINCREMENT" in created[table.name], table.name


def test_an_event_after_retention_emptied_the_outbox_is_fanned_out_and_delivered(db):
    a = sink("a")
    events = emit(db, 3)
    fan_out(db, a)
    for event in events:
        settle(db, event, "a", "delivered", T0)
    highest = _highest(db, event_outbox.c.seq)
    report = prune_delivery(db, now=T0 + 30 * DAY)
    assert report.deleted == {"delivery_state": 3, "event_outbox": 3}
    assert outbox_ids(db) == set()

    [late] = emit(db, at=T0 + 30 * DAY)
    fan_out(db, a, at=T0 + 30 * DAY)  # the cursor stands at ``highest``: a reused seq is skipped
    assert delivery_states(db) == {(late, "a"): "pending"}
    settle(db, late, "a", "delivered", T0 + 30 * DAY)
    assert delivery_states(db) == {(late, "a"): "delivered"}
    assert _highest(db, event_outbox.c.seq) > highest


def test_ledger_retention_twice_with_activity_between_archives_each_history_id_once(db):
    with db.begin() as conn:
        make_run(conn, "completed")
    first = run_retention(db, now=T0 + 91 * DAY)
    assert first.runs == 1 and count(db, process_status_history) == 0
    archived = _highest(db, process_status_history_archive.c.history_id)

    with db.begin() as conn:
        make_run(conn, "completed", started=T0 + DAY)
    second = run_retention(db, now=T0 + 92 * DAY)
    assert second.runs == 1 and second.history == first.history
    assert count(db, process_status_history) == 0
    assert count(db, process_status_history_archive) == 2 * first.history
    assert _highest(db, process_status_history_archive.c.history_id) > archived


def test_audit_retention_twice_with_activity_between_archives_each_audit_id_once(db):
    def record(at):
        with db.begin() as conn:
            for i in range(2):
                audit.record(conn, actor="tester", action="test.action", subject=f"s{i}", at=at)

    record(T0)
    assert archive_audit_log(db, now=T0 + 400 * DAY).archived == {"audit_log": 2}
    archived = _highest(db, audit_log_archive.c.audit_id)
    record(T0 + DAY)
    assert _highest(db, audit_log.c.audit_id) > archived
    assert archive_audit_log(db, now=T0 + 400 * DAY).archived == {"audit_log": 2}
    assert count(db, audit_log) == 0 and count(db, audit_log_archive) == 4


def test_a_report_after_retention_removed_every_report_gets_a_new_seq(db):
    def report(run_key, at):
        with db.begin() as conn:
            run = {"source": "openlineage", "run_key": run_key}
            conn.execute(
                workflow_event.insert(),
                {**run, "event_type": "OTHER", "event_time": at, "received_at": at, "document": {}},
            )
            conn.execute(
                workflow_run.insert(),
                {
                    **run,
                    "placement": "held",
                    "facts": {},
                    "first_received_at": at,
                    "updated_at": at,
                },
            )

    report("first", T0)
    report("second", T0)
    highest = _highest(db, workflow_event.c.event_seq)
    report_ = prune_workflow_events(db, TablePolicy(workflow_event_days=1), now=T0 + 2 * DAY)
    assert report_.deleted == {"workflow_event": 2} and count(db, workflow_event) == 0
    report("third", T0 + 2 * DAY)
    assert _highest(db, workflow_event.c.event_seq) > highest
