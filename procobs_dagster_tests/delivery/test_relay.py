import json
import random

import pytest
import sqlalchemy as sa

from procobs_dagster.delivery import (
    Relay,
    SinkConfig,
    dead_letters,
    redrive_dead,
    status,
    verify_signature,
)
from procobs_dagster.events import Envelope
from procobs_dagster.store.tables import audit_log
from procobs_dagster_tests.delivery.helpers import (
    SECRET,
    Receiver,
    emit_events,
    signature_of,
    state_counts,
    states,
    webhook_config,
)
from procobs_dagster_tests.events.helpers import outbox_rows


def file_config(tmp_path, name="archive", **overrides) -> SinkConfig:
    return SinkConfig(name=name, kind="file", path=str(tmp_path / f"{name}.jsonl"), **overrides)


def test_every_event_reaches_a_file_sink_once(db, tmp_path, clock):
    ids = emit_events(db, 5)
    config = file_config(tmp_path)
    with Relay(db, [config], clock=clock) as relay:
        report = relay.drain(batch=2)
    assert report.total("fanned_out") == 5 and report.total("delivered") == 5
    lines = (tmp_path / "archive.jsonl").read_text().splitlines()
    rows = {r["event_id"]: r for r in outbox_rows(db)}
    assert [json.loads(line)["id"] for line in lines] == [str(i) for i in ids]
    assert [line for line in lines] == [Envelope.from_outbox_row(rows[i]).to_json() for i in ids]
    assert state_counts(db, "archive") == {"delivered": 5}
    with Relay(db, [config], clock=clock) as relay:
        assert not relay.run_once().busy  # nothing new: nothing fanned out or claimed


def test_webhook_posts_a_signed_cloudevent_with_the_event_id(db, receiver, secret_env, clock):
    (event_id,) = emit_events(db, 1)
    with Relay(db, [webhook_config(receiver.url)], clock=clock) as relay:
        assert relay.run_once().total("delivered") == 1
    (request,) = receiver.received()
    assert request.headers["idempotency-key"] == request.headers["ce-id"] == str(event_id)
    assert request.headers["content-type"].startswith("application/cloudevents+json")
    assert request.headers["procobs-delivery-attempt"] == "1"
    document = json.loads(request.body)
    assert document["id"] == str(event_id) and document["specversion"] == "1.0"
    assert document["type"] == "process.run.started" and document["correlationid"] == "corr"
    assert verify_signature(request.body, signature_of(request), SECRET)
    assert not verify_signature(request.body + b" ", signature_of(request), SECRET)


def test_event_types_filter_what_a_sink_receives(db, tmp_path, clock):
    emit_events(db, 2)
    only_other = file_config(tmp_path, "other", event_types=("process.run.failed",))
    everything = file_config(tmp_path, "all")
    with Relay(db, [only_other, everything], clock=clock) as relay:
        report = relay.drain()
    assert report.sinks["other"].fanned_out == 0 and report.sinks["all"].delivered == 2
    assert states(db, "other") == {}
    assert {s["sink"]: s["delivered"] for s in _status(db)} == {"all": 2, "other": 0}


def _status(db):
    with db.read() as conn:
        return status(conn)


def test_endpoint_down_then_up_respects_backoff_and_delivers_everything(
    db, receiver, secret_env, clock
):
    ids = emit_events(db, 4)
    receiver.respond = lambda _id, _body: 503
    config = webhook_config(receiver.url, backoff_base_seconds=10, backoff_cap_seconds=40)
    relay = Relay(db, [config], clock=clock, rng=random.Random(7))
    first_failure = clock()
    assert relay.run_once().total("retried") == 4
    due = {i: s["next_attempt_at"] for i, s in states(db).items()}
    # Jitter draws from [half, full] of the base delay: never earlier than half of it.
    assert all(10 * 0.5 <= (d - first_failure).total_seconds() <= 10 for d in due.values())
    for _ in range(3):  # nothing is tried before its time, however often the relay cycles
        assert relay.run_once().total("claimed") == 0
    earliest = min(due.values())
    clock.now = earliest - (earliest - first_failure) / 10
    assert relay.run_once().total("claimed") == 0
    assert len(receiver.received()) == 4
    clock.now = max(due.values())
    assert relay.run_once().total("retried") == 4  # second failure: the delay doubles
    second_failure = clock()
    for row in states(db).values():
        assert row["attempts"] == 2 and row["state"] == "retry"
        assert 20 * 0.5 <= (row["next_attempt_at"] - second_failure).total_seconds() <= 20
        assert [e["kind"] for e in row["errors"]] == ["retry", "retry"]
        assert row["last_error"].startswith("HTTP 503")
    receiver.respond = lambda _id, _body: 200
    clock.advance(20)
    assert relay.run_once().total("delivered") == 4
    relay.close()
    assert sorted(receiver.event_ids(200)) == sorted(str(i) for i in ids)
    assert state_counts(db, "hook") == {"delivered": 4}


def test_unreachable_endpoint_is_retried_and_loses_nothing(db, secret_env, clock):
    emit_events(db, 2)
    closed = Receiver()
    url = closed.url
    closed.close()  # nothing listens there now: connection refused
    with Relay(db, [webhook_config(url)], clock=clock) as relay:
        assert relay.run_once().total("retried") == 2
    rows = states(db).values()
    assert all(r["state"] == "retry" and r["rejections"] == 0 for r in rows)
    assert all(r["last_error"].startswith("ConnectError") for r in rows)
    assert all(url not in json.dumps(r["errors"]) for r in rows)


def test_rejections_lead_to_dead_and_redrive_delivers(db, receiver, secret_env, clock):
    ids = emit_events(db, 2)
    receiver.respond = lambda _id, _body: 422
    config = webhook_config(receiver.url, dead_after_rejections=3)
    relay = Relay(db, [config], clock=clock)
    for expected in ("retry", "retry", "dead"):
        clock.advance(60)
        report = relay.run_once()
        assert report.total("rejected") == 2
        assert state_counts(db, "hook") == {expected: 2}
    assert report.total("dead") == 2
    clock.advance(3600)
    assert relay.run_once().total("claimed") == 0  # dead is never retried by itself
    with db.read() as conn:
        dead = dead_letters(conn)
    assert {d["event_id"] for d in dead} == set(ids)
    assert all(d["rejections"] == 3 and len(d["errors"]) == 3 for d in dead)
    assert all(d["last_error"].startswith("HTTP 422") for d in dead)
    receiver.respond = lambda _id, _body: 200
    assert redrive_dead(db, actor="ops@example.com", now=clock()).redriven_count == 2
    assert state_counts(db, "hook") == {"pending": 2}
    assert relay.run_once().total("delivered") == 2
    relay.close()
    assert state_counts(db, "hook") == {"delivered": 2}
    row = states(db)[ids[0]]
    assert row["attempts"] == 1 and len(row["errors"]) == 3  # history kept across redrive
    with db.read() as conn:
        audited = conn.execute(
            sa.select(audit_log.c.actor, audit_log.c.details).where(
                audit_log.c.action == "delivery.redriven"
            )
        ).one()
    assert audited.actor == "ops@example.com" and audited.details["count"] == 2


def test_transient_failures_only_die_at_dead_after_attempts(db, receiver, secret_env, clock):
    emit_events(db, 1)
    receiver.respond = lambda _id, _body: 500
    config = webhook_config(receiver.url, dead_after_rejections=1, dead_after_attempts=3)
    with Relay(db, [config], clock=clock) as relay:
        for expected in ("retry", "retry", "dead"):
            clock.advance(60)
            relay.run_once()
            assert state_counts(db, "hook") == {expected: 1}
    (row,) = states(db).values()
    assert row["attempts"] == 3 and row["rejections"] == 0


@pytest.mark.parametrize(
    ("answer", "outcome"),
    [
        (200, "delivered"),
        (204, "delivered"),
        (408, "retry"),
        (429, "retry"),
        (500, "retry"),
        (503, "retry"),
        (400, "rejected"),
        (404, "rejected"),
        (410, "rejected"),
        (301, "rejected"),
    ],
)
def test_status_codes_are_classified(postgres_db, receiver, secret_env, clock, answer, outcome):
    emit_events(postgres_db, 1)
    receiver.respond = lambda _id, _body: answer
    with Relay(postgres_db, [webhook_config(receiver.url)], clock=clock) as relay:
        report = relay.run_once()
    counts = {
        "delivered": report.total("delivered"),
        "retry": report.total("retried") - report.total("rejected"),
        "rejected": report.total("rejected"),
    }
    assert counts == {k: int(k == outcome) for k in counts}


def test_retry_after_is_honoured_up_to_the_cap(db, receiver, secret_env, clock):
    emit_events(db, 2)
    asked = {}

    def respond(event_id, _body):
        asked.setdefault(event_id, "30" if not asked else "3600")
        return 429, {"Retry-After": asked[event_id]}

    receiver.respond = respond
    config = webhook_config(receiver.url, backoff_base_seconds=1, backoff_cap_seconds=120)
    with Relay(db, [config], clock=clock) as relay:
        relay.run_once()
    delays = sorted((s["next_attempt_at"] - clock()).total_seconds() for s in states(db).values())
    assert delays == [30, 120]


def test_ordered_sink_holds_back_later_events_of_a_correlation(db, receiver, secret_env, clock):
    first, second, third = emit_events(db, 3, correlation="run-a")
    (other,) = emit_events(db, 1, correlation="run-b")
    failing = {str(first)}
    receiver.respond = lambda event_id, _body: 503 if event_id in failing else 200
    ordered = Relay(db, [webhook_config(receiver.url, ordered=True)], clock=clock)
    ordered.run_once()
    # run-a's head failed: its successors wait; run-b is independent.
    assert receiver.event_ids(200) == [str(other)]
    clock.advance(60)
    failing.clear()
    ordered.drain()
    ordered.close()
    assert receiver.event_ids(200) == [str(other), str(first), str(second), str(third)]


def test_unordered_sink_does_not_wait_and_dead_unblocks_ordered(db, receiver, secret_env, clock):
    first, second = emit_events(db, 2, correlation="run-a")
    receiver.respond = lambda event_id, _body: 400 if event_id == str(first) else 200
    with Relay(db, [webhook_config(receiver.url)], clock=clock) as relay:
        relay.run_once()
    assert receiver.event_ids(200) == [str(second)]
    ordered = webhook_config(receiver.url, name="ordered", ordered=True, dead_after_rejections=1)
    with Relay(db, [ordered], clock=clock) as relay:
        relay.drain()
    assert states(db, "ordered")[first]["state"] == "dead"
    assert receiver.event_ids(200) == [str(second), str(second)]  # once per sink
