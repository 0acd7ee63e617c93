"""When an outcome cannot be recorded, or a sink raises, the relay keeps going: every
other outcome is recorded, no row is left `delivering` past its lease, nothing is asked
again before its backoff, and nothing is settled without an answer from its sink."""

import os
import random
import uuid

import pytest
import sqlalchemy as sa

from procobs_dagster.delivery import (
    FileSink,
    NullSink,
    Outcome,
    OutcomeKind,
    Relay,
    Sink,
    SinkConfig,
)
from procobs_dagster.delivery import delivery_state as delivery_state_module
from procobs_dagster.delivery.relay import DEFAULT_LEASE_SECONDS
from procobs_dagster_tests.delivery.helpers import emit_events, state_counts, states, webhook_config


def _refusing(monkeypatch, poisoned: uuid.UUID, *, plain_retry_too: bool) -> list[str]:
    """Make the database refuse (as for a value it cannot hold) every acknowledgement
    that records the outcome of ``poisoned`` — or, unless ``plain_retry_too``, only the
    real outcome, not the plain retry the relay records in its place."""
    real = delivery_state_module.acknowledge
    refused: list[str] = []

    def acknowledge(conn, claim, outcomes, **kwargs):
        for delivery, outcome in outcomes:
            plain = "could not be recorded" in (outcome.error or "")
            if delivery.event_id == poisoned and (plain_retry_too or not plain):
                refused.append(outcome.kind.value)
                raise sa.exc.DataError("UPDATE delivery_state", {}, ValueError("out of range"))
        return real(conn, claim, outcomes, **kwargs)

    monkeypatch.setattr(delivery_state_module, "acknowledge", acknowledge)
    return refused


def test_an_outcome_the_database_refuses_becomes_a_plain_retry_after_its_backoff(
    db, receiver, secret_env, clock, monkeypatch
):
    ids = emit_events(db, 4)
    poisoned = ids[1]
    refused = _refusing(monkeypatch, poisoned, plain_retry_too=False)
    config = webhook_config(receiver.url, dead_after_attempts=3)
    with Relay(db, [config], clock=clock, rng=random.Random(3)) as relay:
        report = relay.run_once()
        # One refusal for the batch, one for the outcome recorded alone.
        assert refused == ["delivered", "delivered"]
        assert report.total("delivered") == 3 and report.total("retried") == 1
        assert report.total("unrecorded") == 0
        row = states(db)[poisoned]
        assert row["state"] == "retry" and row["locked_until"] is None
        assert row["last_error"] == (
            "the delivered outcome could not be recorded (DataError); to be delivered again"
        )
        assert 0 < (row["next_attempt_at"] - clock()).total_seconds() <= 1.0
        assert relay.run_once().total("claimed") == 0  # not asked again before its backoff
        for _ in range(2):  # a fault that persists ends in dead: no endless re-sending
            clock.advance(config.backoff_cap_seconds)
            relay.run_once()
    assert state_counts(db, "hook") == {"delivered": 3, "dead": 1}
    assert [r.event_id for r in receiver.received()].count(str(poisoned)) == 3


def test_an_outcome_that_cannot_be_recorded_at_all_is_left_to_its_lease(
    db, receiver, secret_env, clock, monkeypatch
):
    ids = emit_events(db, 3)
    poisoned = ids[0]
    _refusing(monkeypatch, poisoned, plain_retry_too=True)
    with Relay(db, [webhook_config(receiver.url)], clock=clock) as relay:
        report = relay.run_once()  # does not raise: the relay carries on
        assert report.total("delivered") == 2 and report.total("unrecorded") == 1
        assert states(db)[poisoned]["state"] == "delivering"
        assert relay.run_once().total("claimed") == 0
        monkeypatch.undo()  # the fault goes away
        clock.advance(DEFAULT_LEASE_SECONDS)
        report = relay.run_once()  # the lease ran out: taken back and delivered again
        assert report.total("expired") == 1 and report.total("delivered") == 1
    assert state_counts(db, "hook") == {"delivered": 3}


class RaisingSink(Sink):
    """A sink with a fault for one event (sinks must report failures as outcomes)."""

    def __init__(self, config, poisoned: uuid.UUID):
        super().__init__(config)
        self.poisoned = poisoned
        self.seen: list[uuid.UUID] = []

    def deliver(self, delivery):
        self.seen.append(delivery.event_id)
        if delivery.event_id == self.poisoned:
            raise RuntimeError("bug\x1b[2J in the sink")
        return Outcome(OutcomeKind.DELIVERED)


def test_a_sink_that_raises_rejects_that_event_and_delivers_the_others(db, clock):
    ids = emit_events(db, 3)
    config = webhook_config("http://127.0.0.1:9/", dead_after_rejections=2)
    sink = RaisingSink(config, poisoned=ids[2])
    with Relay(db, [sink], clock=clock) as relay:
        first = relay.run_once()
        assert first.total("delivered") == 2 and first.total("rejected") == 1
        clock.advance(config.backoff_cap_seconds)
        assert relay.run_once().total("dead") == 1
    row = states(db)[ids[2]]
    assert row["state"] == "dead"
    assert row["last_error"] == "the sink failed: RuntimeError: bug\\x1b[2J in the sink"
    assert sink.seen.count(ids[2]) == 2


class FlakyBatchSink(NullSink):
    """A batched sink that raises for a batch, or miscounts its outcomes."""

    reads_events = True

    def __init__(self, config, fault: str):
        super().__init__(config)
        self.fault = fault
        self.singles = 0

    def deliver(self, delivery):
        self.singles += 1
        return Outcome(OutcomeKind.DELIVERED)

    def deliver_batch(self, deliveries):
        if self.fault == "raise":
            raise OSError("disk on fire")
        return [Outcome(OutcomeKind.DELIVERED)] * (len(deliveries) - 1)


@pytest.mark.parametrize("fault", ["raise", "miscount"])
def test_a_batched_sink_that_fails_a_batch_has_each_event_tried_alone(db, clock, fault):
    emit_events(db, 4)
    sink = FlakyBatchSink(webhook_config("http://127.0.0.1:9/", name="flaky"), fault)
    with Relay(db, [sink], clock=clock) as relay:
        assert relay.run_once().total("delivered") == 4
    assert sink.singles == 4
    assert state_counts(db, "flaky") == {"delivered": 4}


def test_a_file_sink_turned_into_a_fifo_is_retried_without_blocking(db, tmp_path, clock):
    emit_events(db, 2)
    path = tmp_path / "events.jsonl"
    config = SinkConfig(name="archive", kind="file", path=str(path))
    with Relay(db, [config], clock=clock) as relay:
        assert isinstance(relay.sinks[0], FileSink)
        path.unlink()
        os.mkfifo(path)  # replaced after the relay started: the next write must not hang
        report = relay.run_once()
    assert report.total("retried") == 2
    assert all("not a regular file" in r["last_error"] for r in states(db).values())
