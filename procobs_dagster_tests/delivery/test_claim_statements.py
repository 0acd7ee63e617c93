"""The cycle's statements are built once and their values bound at execution (on Postgres
through the driver's cursor): what they claim and record is what SQLAlchemy reads back."""

import dataclasses
import datetime as dt
import random

import pytest
import sqlalchemy as sa

from procobs_dagster.delivery import Relay, SinkConfig, delivery_state
from procobs_dagster.delivery.sinks import Delivery
from procobs_dagster.store.tables import event_outbox
from procobs_dagster_tests.delivery.helpers import emit_events, states, webhook_config

NULL = SinkConfig(name="null", kind="null")


def _claim(db, clock, config=NULL, with_events=True):
    with db.begin() as conn:
        delivery_state.fan_out(conn, config, now=clock(), limit=100)
        return delivery_state.claim(
            conn,
            config,
            now=clock(),
            batch=10,
            lease=dt.timedelta(seconds=30),
            relay_id="r",
            with_events=with_events,
        )


def _claim_more(db, clock, with_events):
    emit_events(db, 1)
    return _claim(db, clock, with_events=with_events)


def test_claimed_deliveries_are_what_the_constructor_builds(db, clock):
    ids = emit_events(db, 3)
    claim = _claim(db, clock)
    with db.read() as conn:
        outbox = {
            row["event_id"]: dict(row) for row in conn.execute(sa.select(event_outbox)).mappings()
        }
    # The claim fills each delivery in without calling __init__: nothing it would skip.
    assert not hasattr(Delivery, "__post_init__")
    assert all(
        f.default is f.default_factory is dataclasses.MISSING for f in dataclasses.fields(Delivery)
    )
    assert [d.event_id for d in claim.deliveries] == ids  # in seq order
    bare = _claim_more(db, clock, with_events=False)
    for delivery in (*claim.deliveries, *bare.deliveries):
        values = {f.name: getattr(delivery, f.name) for f in dataclasses.fields(Delivery)}
        built = Delivery(**values)
        assert built == delivery and repr(built) == repr(delivery)
        assert delivery.sink == "null" and delivery.attempt == 1 and delivery.rejections == 0
        with pytest.raises(dataclasses.FrozenInstanceError):
            delivery.attempt = 2  # type: ignore[misc]
    for delivery in claim.deliveries:
        # Read by the claim itself on Postgres: the same values, the same types.
        assert dict(delivery.outbox_row) == outbox[delivery.event_id]
    assert [d.outbox_row for d in bare.deliveries] == [None]
    assert hash(bare.deliveries[0]) == hash(Delivery(**vars(bare.deliveries[0])))


def test_the_claim_is_built_once_per_form(db, clock):
    emit_events(db, 4)
    _claim(db, clock)
    built = delivery_state._claim_statement.cache_info().misses
    _claim(db, clock)
    _claim(db, clock, with_events=False)
    _claim(db, clock, with_events=False)
    assert delivery_state._claim_statement.cache_info().misses <= built + 1


def test_a_failed_attempt_records_its_error_from_bound_values(db, receiver, secret_env, clock):
    emit_events(db, 1)
    receiver.respond = lambda _id, _body: 503
    hook = webhook_config(receiver.url, dead_after_rejections=1)
    with Relay(db, [hook], clock=clock, rng=random.Random(1), relay_id="relay-a") as relay:
        assert relay.run_once().total("retried") == 1
        (row,) = states(db).values()
        assert row["errors"] == [
            {
                "at": clock().isoformat(),
                "attempt": 1,
                "kind": "retry",
                "status": 503,
                "error": row["last_error"],
                "relay": "relay-a",
            }
        ]
        receiver.respond = lambda _id, _body: 400
        clock.advance(60)
        assert relay.run_once().total("dead") == 1
        (row,) = states(db).values()
        assert row["state"] == "dead" and row["rejections"] == 1
        assert [(e["kind"], e["status"], e["attempt"]) for e in row["errors"]] == [
            ("retry", 503, 1),
            ("rejected", 400, 2),
        ]


def test_a_failure_without_an_answer_records_no_status(db, secret_env, clock):
    emit_events(db, 1)
    unreachable = webhook_config("http://127.0.0.1:1/hook", timeout_seconds=1.0)
    with Relay(db, [unreachable], clock=clock, relay_id="relay-b") as relay:
        assert relay.run_once().total("retried") == 1
    (row,) = states(db).values()
    (entry,) = row["errors"]
    assert entry["status"] is None and entry["kind"] == "retry" and entry["relay"] == "relay-b"
    assert entry["error"] == row["last_error"]
