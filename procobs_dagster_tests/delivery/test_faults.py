"""Fault tests with relays in their own processes and a real HTTP endpoint on localhost."""

import datetime as dt
import itertools
import json
import os
import signal
from collections import defaultdict

import pytest

from procobs_dagster import events
from procobs_dagster.clock import utcnow
from procobs_dagster.delivery import Relay, SinkConfig, delivery_state, status
from procobs_dagster_tests.delivery.helpers import (
    EVENT_TYPE,
    emit_events,
    spawn_relay,
    state_counts,
    states,
    wait_until,
    webhook_config,
    write_sinks_file,
)
from procobs_dagster_tests.events.helpers import outbox_rows, set_active

pytestmark = pytest.mark.slow


def _overlapping(requests) -> list[str]:
    """Event ids whose deliveries were being handled at the same time."""
    by_event = defaultdict(list)
    for r in requests:
        by_event[r.event_id].append((r.started, r.finished))
    overlapping = []
    for event_id, spans in by_event.items():
        spans.sort()
        if any(later[0] < earlier[1] for earlier, later in itertools.pairwise(spans)):
            overlapping.append(event_id)
    return overlapping


def test_kill_9_mid_batch_repeatedly_loses_no_event(db, receiver, secret_env, tmp_path):
    ids = emit_events(db, 60)
    receiver.delay = 0.01
    hook = webhook_config(receiver.url, timeout_seconds=0.5)
    sinks_file = write_sinks_file(tmp_path / "sinks.yaml", hook)
    for _ in range(3):
        before = len(receiver.received())
        relay = spawn_relay(db, sinks_file, "--batch", "15", "--lease", "2", "--idle", "0.05")
        try:
            target = before + 5
            wait_until(lambda: len(receiver.received()) >= target, what="deliveries")  # noqa: B023
        finally:
            os.kill(relay.pid, signal.SIGKILL)
            relay.wait()
        # Killed in the middle of a batch: claimed rows were left without an outcome.
        assert state_counts(db, "hook").get("delivering", 0) > 0
    # A relay started later takes the abandoned claims once their leases run out.
    later = lambda: utcnow() + dt.timedelta(seconds=5)  # noqa: E731
    with Relay(db, [hook], clock=later) as relay:
        relay.drain(batch=50)
    assert state_counts(db, "hook") == {"delivered": 60}
    received = receiver.received(200)
    assert {r.event_id for r in received} == {str(i) for i in ids}
    first_body = {}
    for r in received:  # a duplicate is the same event: same id, byte-identical body
        assert r.headers["idempotency-key"] == r.event_id == json.loads(r.body)["id"]
        assert first_body.setdefault(r.event_id, r.body) == r.body
    assert len(received) > len(ids)  # the kills did cause re-deliveries
    assert not _overlapping(received)


def test_two_relays_in_parallel_never_deliver_an_event_concurrently(
    db, receiver, secret_env, tmp_path
):
    receiver.delay = 0.01
    receiver.hold_until_in_flight = 2  # the first delivery waits for the other relay's
    hook = webhook_config(receiver.url, timeout_seconds=2 * receiver.HOLD_SECONDS)
    sinks_file = write_sinks_file(tmp_path / "sinks.yaml", hook)
    relays = [
        spawn_relay(db, sinks_file, "--batch", "10", "--idle", "0.05", "--json") for _ in range(2)
    ]
    try:
        for relay in relays:  # both are up and polling before the events arrive
            assert "delivering to hook" in relay.stderr.readline()
        ids = emit_events(db, 120)
        wait_until(lambda: len(receiver.received()) >= len(ids), what="all deliveries")
    finally:
        for relay in relays:
            relay.send_signal(signal.SIGINT)  # Ctrl-C: a clean stop
    outputs = [relay.communicate(timeout=30) for relay in relays]
    assert [relay.returncode for relay in relays] == [0, 0], outputs
    delivered_by = [json.loads(stdout)["hook"]["delivered"] for stdout, _ in outputs]
    assert all(n > 0 for n in delivered_by) and sum(delivered_by) == len(ids)
    received = receiver.received()
    assert sorted(r.event_id for r in received) == sorted(str(i) for i in ids)  # exactly once
    assert not _overlapping(received)
    assert receiver.max_in_flight >= 2  # the two relays really did work at the same time
    assert state_counts(db, "hook") == {"delivered": len(ids)}


def _emit_one(conn, correlation_id: str):
    payload = {
        "process_run_id": None,
        "correlation_id": correlation_id,
        "status": "started",
        "evidence_type": "RUNTIME",
    }
    return events.emit(conn, EVENT_TYPE, payload, correlation_id=correlation_id)


def test_rows_past_a_held_horizon_are_fanned_out_a_window_at_most(
    postgres_db, clock, tmp_path, monkeypatch
):
    """While an open transaction holds the horizon, a fan-out looks at no more than the
    window of committed rows past the cursor; the rest wait for the horizon, none lost."""
    monkeypatch.setattr(delivery_state, "SCAN_WINDOW", 3)
    set_active(postgres_db, EVENT_TYPE)
    sink = SinkConfig(name="archive", kind="file", path=str(tmp_path / "events.jsonl"))
    with postgres_db.begin() as slow:
        late = _emit_one(slow, "slow")
        early = []
        for n in range(5):
            with postgres_db.begin() as fast:
                early.append(_emit_one(fast, f"fast-{n}").id)
        for _ in range(2):  # the second call starts from the same cursor: nothing new
            with postgres_db.begin() as conn:
                delivery_state.fan_out(conn, sink, now=clock(), limit=100)
            assert set(states(postgres_db)) == set(early[:3])
    with Relay(postgres_db, [sink], clock=clock) as relay:

        def every_event_fanned_out() -> bool:
            relay.drain()
            return set(states(postgres_db)) == {late.id, *early}

        # Other sessions of the cluster may hold the horizon back for a moment too.
        wait_until(every_event_fanned_out, timeout=30, what="every event to be fanned out")


def test_fan_out_never_skips_an_event_that_commits_late(postgres_db, clock, tmp_path):
    set_active(postgres_db, EVENT_TYPE)
    sink = SinkConfig(name="archive", kind="file", path=str(tmp_path / "events.jsonl"))
    with postgres_db.begin() as slow:
        late = _emit_one(slow, "slow")  # takes its seq now, commits last
        with postgres_db.begin() as fast:
            early = _emit_one(fast, "fast")
        seqs = {r["event_id"]: r["seq"] for r in outbox_rows(postgres_db)}
        assert seqs == {early.id: seqs[early.id]}  # the slow one is not visible yet
        with postgres_db.begin() as conn:
            delivery_state.fan_out(conn, sink, now=clock(), limit=100)
            cursor = conn.exec_driver_sql("SELECT last_seq FROM delivery_cursor").scalar_one()
        # The committed event goes out at once, but the cursor stays behind the open
        # transaction's horizon: it has not passed the seq the slow one holds.
        assert set(states(postgres_db)) == {early.id} and cursor == 0
    seqs = {r["event_id"]: r["seq"] for r in outbox_rows(postgres_db)}
    assert seqs[late.id] < seqs[early.id]  # a seq-only cursor would now skip it
    with Relay(postgres_db, [sink], clock=clock) as relay:
        relay.drain()
        assert state_counts(postgres_db, "archive") == {"delivered": 2}
        lines = (tmp_path / "events.jsonl").read_text().splitlines()
        assert sorted(json.loads(line)["id"] for line in lines) == sorted(
            [str(early.id), str(late.id)]
        )
        with postgres_db.begin() as conn:
            newest = _emit_one(conn, "next")
        newest_seq = {r["event_id"]: r["seq"] for r in outbox_rows(postgres_db)}[newest.id]

        def cursor_passed_everything() -> bool:
            relay.drain()
            with postgres_db.read() as conn:
                cursor = conn.exec_driver_sql("SELECT last_seq FROM delivery_cursor")
                return cursor.scalar_one() == newest_seq

        # Other sessions of the cluster (the other test workers) may hold the horizon
        # back for a moment; once they end, the cursor passes every committed row.
        wait_until(cursor_passed_everything, timeout=30, what="the cursor to pass the horizon")
    assert state_counts(postgres_db, "archive") == {"delivered": 3}
    with postgres_db.read() as conn:
        assert status(conn)[0]["outbox_unscanned"] == 0
