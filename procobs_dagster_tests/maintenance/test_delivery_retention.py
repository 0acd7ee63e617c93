"""Retention of delivery_state and event_outbox: what is settled goes after its age, what
a sink still needs (not fanned out, pending, retrying, delivering, dead and young) stays."""

import threading

import pytest
import sqlalchemy as sa

from procobs_dagster.maintenance import TablePolicy, prune_delivery
from procobs_dagster.maintenance import delivery_retention as module
from procobs_dagster.store.tables import delivery_cursor, delivery_state, event_outbox
from procobs_dagster_tests.concurrency import at_once, wait_for_lock_waiter
from procobs_dagster_tests.maintenance.table_helpers import (
    DAY,
    SECOND,
    T0,
    delivery_states,
    emit,
    fan_out,
    outbox_ids,
    rows,
    settle,
    sink,
)

A, B = sink("a"), sink("b")


def test_defaults_are_the_documented_ones():
    policy = TablePolicy()
    assert (policy.delivered_days, policy.dead_days, policy.outbox_days) == (7, 30, 7)


def test_delivered_rows_and_their_outbox_row_go_only_past_the_age(db):
    [event] = emit(db)
    fan_out(db, A, B)
    settle(db, event, "a", "delivered", T0 + DAY)
    settle(db, event, "b", "delivered", T0 + DAY)

    early = prune_delivery(db, now=T0 + 8 * DAY - SECOND)  # delivered 7 days ago, less 1 s
    assert early.deleted == {"delivery_state": 0, "event_outbox": 0}
    assert len(delivery_states(db)) == 2

    late = prune_delivery(db, now=T0 + 8 * DAY + SECOND)
    assert late.deleted == {"delivery_state": 2, "event_outbox": 1}
    assert delivery_states(db) == {} and outbox_ids(db) == set()


def test_the_outbox_row_keeps_its_own_age(db):
    [event] = emit(db)
    fan_out(db, A)
    settle(db, event, "a", "delivered", T0)
    policy = TablePolicy(delivered_days=1, outbox_days=3)
    report = prune_delivery(db, policy, now=T0 + 2 * DAY)
    assert report.deleted == {"delivery_state": 1, "event_outbox": 0}
    assert outbox_ids(db) == {event}
    assert prune_delivery(db, policy, now=T0 + 3 * DAY + SECOND).deleted["event_outbox"] == 1


@pytest.mark.parametrize("state", ["pending", "retry", "delivering"])
def test_a_sink_still_owed_the_event_keeps_its_outbox_row(db, state):
    [event] = emit(db)
    fan_out(db, A, B)
    settle(db, event, "a", "delivered", T0)
    settle(db, event, "b", state, T0)
    report = prune_delivery(db, now=T0 + 365 * DAY)
    assert report.deleted == {"delivery_state": 1, "event_outbox": 0}
    assert report.kept_back == {"event_outbox": 1}
    assert delivery_states(db) == {(event, "b"): state}
    assert outbox_ids(db) == {event}


def test_dead_rows_stay_for_their_own_longer_age(db):
    [event] = emit(db)
    fan_out(db, A)
    settle(db, event, "a", "dead", T0 + DAY)
    assert prune_delivery(db, now=T0 + 31 * DAY - SECOND).deleted["delivery_state"] == 0
    assert outbox_ids(db) == {event}
    report = prune_delivery(db, now=T0 + 31 * DAY + SECOND)
    assert report.deleted == {"delivery_state": 1, "event_outbox": 1}


def test_rows_a_sink_has_not_fanned_out_yet_stay_whatever_their_age(db):
    fanned = emit(db, 2)
    fan_out(db, A)
    for event in fanned:
        settle(db, event, "a", "delivered", T0)
    waiting = emit(db, 3)  # past a's cursor: a has not seen them yet
    report = prune_delivery(db, now=T0 + 365 * DAY)
    assert report.deleted == {"delivery_state": 2, "event_outbox": 2}
    assert report.kept_back == {"event_outbox": 3}
    assert outbox_ids(db) == set(waiting)
    fan_out(db, A, at=T0 + 365 * DAY)
    assert {event for event, _ in delivery_states(db)} == set(waiting)


def test_rows_no_sink_wanted_go_once_every_cursor_passed_them(db):
    [wanted] = emit(db, event_type="process.run.failed")
    [unwanted] = emit(db)
    fan_out(db, sink("a", event_types=("process.run.failed",)))
    assert set(delivery_states(db)) == {(wanted, "a")}
    assert outbox_ids(db) == {wanted, unwanted}
    report = prune_delivery(db, now=T0 + 365 * DAY)
    assert report.deleted == {"delivery_state": 0, "event_outbox": 1}
    assert outbox_ids(db) == {wanted}


def test_a_new_sink_receives_the_history_still_retained(db):
    old = emit(db, 2)
    young = emit(db, 2, at=T0 + 360 * DAY)
    fan_out(db, A)
    for event in old + young:
        settle(db, event, "a", "delivered", T0 + 360 * DAY)
    prune_delivery(db, TablePolicy(delivered_days=0), now=T0 + 361 * DAY)
    assert outbox_ids(db) == set(young)
    fan_out(db, B, at=T0 + 361 * DAY)
    assert {event for event, name in delivery_states(db) if name == "b"} == set(young)


def test_forever_keeps_everything(db):
    [event] = emit(db)
    fan_out(db, A)
    settle(db, event, "a", "delivered", T0)
    policy = TablePolicy(delivered_days=None, dead_days=None, outbox_days=None)
    report = prune_delivery(db, policy, now=T0 + 3000 * DAY)
    assert report.deleted == {"delivery_state": 0, "event_outbox": 0} and report.batches == 0
    assert len(delivery_states(db)) == 1


def test_dry_run_counts_what_a_run_removes_and_writes_nothing(db):
    events = emit(db, 5)
    fan_out(db, A, B)
    for event in events[:3]:
        settle(db, event, "a", "delivered", T0)
        settle(db, event, "b", "delivered", T0)
    settle(db, events[3], "a", "delivered", T0)
    before = rows(db)
    dry = prune_delivery(db, now=T0 + 365 * DAY, batch=2, dry_run=True)
    assert rows(db) == before
    real = prune_delivery(db, now=T0 + 365 * DAY, batch=2)
    assert dry.deleted == real.deleted == {"delivery_state": 7, "event_outbox": 3}
    assert dry.batches == real.batches == 3


def test_a_failure_after_a_batch_keeps_that_batch_and_a_rerun_finishes(db):
    events = emit(db, 5)
    fan_out(db, A)
    for event in events:
        settle(db, event, "a", "delivered", T0)

    def fail_after_second_batch(progress) -> None:
        if progress.batch == 2:
            raise RuntimeError("injected")

    with pytest.raises(RuntimeError, match="injected"):
        prune_delivery(db, now=T0 + 365 * DAY, batch=2, progress=fail_after_second_batch)
    assert outbox_ids(db) == {events[4]}
    assert set(delivery_states(db)) == {(events[4], "a")}
    assert prune_delivery(db, now=T0 + 365 * DAY, batch=2).deleted == {
        "delivery_state": 1,
        "event_outbox": 1,
    }


def test_a_failure_inside_a_batch_rolls_the_whole_batch_back(db, monkeypatch):
    events = emit(db, 3)
    fan_out(db, A)
    for event in events:
        settle(db, event, "a", "delivered", T0)
    before = rows(db)
    real = module.fanned_out_to_every_sink

    def fail(conn):
        raise RuntimeError("injected")

    monkeypatch.setattr(module, "fanned_out_to_every_sink", fail)
    with pytest.raises(RuntimeError, match="injected"):
        prune_delivery(db, now=T0 + 365 * DAY)
    assert rows(db) == before
    monkeypatch.setattr(module, "fanned_out_to_every_sink", real)
    assert prune_delivery(db, now=T0 + 365 * DAY).deleted["event_outbox"] == 3


def test_a_delivery_row_a_relay_holds_is_skipped_not_waited_for(postgres_db):
    db = postgres_db
    held, free = emit(db, 2)
    fan_out(db, A)
    settle(db, held, "a", "delivered", T0)
    settle(db, free, "a", "delivered", T0)
    with db.begin() as relay:
        relay.execute(
            sa.select(delivery_state.c.event_id)
            .where(delivery_state.c.event_id == held)
            .with_for_update()
        )
        report = prune_delivery(db, now=T0 + 365 * DAY, statement_timeout_seconds=5)
    assert report.deleted == {"delivery_state": 1, "event_outbox": 1}
    assert outbox_ids(db) == {held}
    assert prune_delivery(db, now=T0 + 365 * DAY).deleted["event_outbox"] == 1


def test_an_outbox_row_is_never_deleted_under_a_delivery_row(db):
    """The foreign key is the last guard: whatever the retention decides, the database
    refuses to delete an outbox row a delivery row still refers to."""
    [event] = emit(db)
    fan_out(db, A)
    with pytest.raises(sa.exc.IntegrityError), db.begin() as conn:
        conn.execute(event_outbox.delete().where(event_outbox.c.event_id == event))
    assert outbox_ids(db) == {event}


def test_a_sink_whose_cursor_appears_during_a_batch_keeps_the_history(postgres_db):
    """A relay creating a new sink's cursor and a delivery batch serialise on
    delivery_cursor (SHARE mode): the batch waits for the new cursor and then keeps every
    row the new sink has not fanned out yet."""
    db = postgres_db
    events = emit(db, 3)
    fan_out(db, A)
    for event in events:
        settle(db, event, "a", "delivered", T0)
    reports = []
    with db.begin() as relay:
        relay.execute(
            delivery_cursor.insert().values(sink="b", last_tx_id=0, last_seq=0, updated_at=T0)
        )
        pruning = threading.Thread(
            target=lambda: reports.append(prune_delivery(db, now=T0 + 365 * DAY))
        )
        pruning.start()
        wait_for_lock_waiter(db)
    pruning.join(timeout=30)
    [report] = reports
    assert report.deleted == {"delivery_state": 3, "event_outbox": 0}
    assert report.kept_back == {"event_outbox": 3}
    fan_out(db, B)
    assert {event for event, name in delivery_states(db) if name == "b"} == set(events)


def test_two_delivery_retentions_at_once_remove_each_row_once(postgres_db):
    db = postgres_db
    events = emit(db, 40)
    fan_out(db, A)
    for event in events:
        settle(db, event, "a", "delivered", T0)
    reports = at_once(lambda: prune_delivery(db, now=T0 + 365 * DAY, batch=3), copies=2)
    assert sum(r.deleted["event_outbox"] for r in reports) == 40
    assert sum(r.deleted["delivery_state"] for r in reports) == 40
    assert outbox_ids(db) == set()
