"""The reactive bus: publish after commit, durable first, one failing subscriber harms none."""

import logging

import pytest
import sqlalchemy as sa
from reactivex import operators as ops

from procobs_dagster import events, ledger
from procobs_dagster.events import UnknownEventType, publishing
from procobs_dagster.events.bus import EventBus, ReactiveEventBus, default_bus
from procobs_dagster.store.tables import audit_log
from procobs_dagster_tests.events.helpers import set_active

STARTED = {
    "process_run_id": None,
    "correlation_id": "c",
    "status": "started",
    "evidence_type": "RUNTIME",
}


@pytest.fixture
def bus():
    """A fresh process-wide bus for the test, the previous one restored afterwards."""
    previous = publishing.default()
    publishing.set_default(None)
    yield default_bus()
    publishing.set_default(previous)


def _emit(db, emitter=events.emit, event_type="process.run.started"):
    with db.begin() as conn:
        return emitter(conn, event_type, STARTED, correlation_id="c")


def test_subscribers_see_an_event_only_once_it_is_durable_in_the_audit_log(db, bus):
    set_active(db, "process.run.started")
    seen = []

    def durable(envelope):
        with db.read() as other_connection:
            audited = other_connection.execute(
                sa.select(audit_log.c.event_id).where(audit_log.c.event_id == envelope.id)
            ).scalar_one_or_none()
        seen.append((envelope.type, audited == envelope.id))

    bus.subscribe("process.run.started", durable)
    with db.begin() as conn:
        envelope = events.emit(conn, "process.run.started", STARTED, correlation_id="c")
        assert seen == []  # not before the commit
    assert seen == [("process.run.started", True)]
    assert envelope is not None


def test_a_rolled_back_or_gated_event_is_never_published(db, bus):
    seen = []
    bus.stream.subscribe(seen.append)
    _emit(db)  # inactive: gated
    set_active(db, "process.run.started")
    with pytest.raises(RuntimeError), db.begin() as conn:
        events.emit(conn, "process.run.started", STARTED, correlation_id="c")
        raise RuntimeError("rolled back")
    assert seen == []


def test_a_failing_subscriber_stops_neither_the_others_nor_the_emitter(db, bus, caplog):
    set_active(db, "process.run.started", "process.run.completed")
    first, last, calls_to_failing = [], [], []

    def failing(envelope):
        calls_to_failing.append(envelope.id)
        raise ValueError("subscriber bug")

    bus.subscribe("process.run.started", first.append)
    bus.subscribe("process.run.started", failing)
    bus.stream.pipe(ops.map(lambda e: e.type)).subscribe(last.append)
    with caplog.at_level(logging.ERROR, logger="procobs_dagster.events.bus"):
        one = _emit(db)
        two = _emit(db)
    assert [e.id for e in first] == [one.id, two.id]
    assert last == ["process.run.started", "process.run.started"]
    assert calls_to_failing == [one.id, two.id]  # still subscribed after raising
    assert caplog.text.count("event subscriber failed") == 2


def test_subscribe_filters_by_type_refuses_unknown_types_and_can_be_disposed(db, bus):
    set_active(db, "process.run.started", "process.run.completed")
    started = []
    subscription = bus.subscribe("process.run.started", started.append)
    _emit(db)
    with db.begin() as conn:
        events.emit(
            conn,
            "process.run.completed",
            {**STARTED, "status": "completed"},
            correlation_id="c",
        )
    assert [e.type for e in started] == ["process.run.started"]
    subscription.dispose()
    _emit(db)
    assert len(started) == 1
    with pytest.raises(UnknownEventType):
        bus.subscribe("process.run.exploded", started.append)


def test_a_bus_of_its_own_gets_exactly_what_it_emits(db, bus):
    set_active(db, "process.run.started")
    private = ReactiveEventBus()
    assert isinstance(private, EventBus)
    mine, everyone = [], []
    private.stream.subscribe(mine.append)
    bus.stream.subscribe(everyone.append)
    envelope = _emit(db, emitter=private.emit)
    assert [e.id for e in mine] == [envelope.id] and everyone == []


def test_wrapped_runs_publish_their_process_events_to_the_default_bus(db, bus):
    set_active(db, "process.run.started", "process.run.completed", "process.step.completed")
    seen = []
    bus.stream.subscribe(lambda e: seen.append(e.type))
    with ledger.observe_run(db, "PROC-CAND:bus") as run, run.step("DOT_X") as step:
        step.touched(1)
    assert seen == ["process.run.started", "process.step.completed", "process.run.completed"]
