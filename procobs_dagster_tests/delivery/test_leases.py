"""Claims, leases and their expiry, in-process with a steppable clock."""

import datetime as dt

import sqlalchemy as sa

from procobs_dagster.delivery import NullSink, Relay, SinkConfig, delivery_state
from procobs_dagster.delivery.sinks import DELIVERED, WebhookSink
from procobs_dagster.store.tables import delivery_state as ds
from procobs_dagster_tests.delivery.helpers import (
    SECRET,
    emit_events,
    state_counts,
    states,
    webhook_config,
)

NULL = SinkConfig(name="null", kind="null")
LEASE = dt.timedelta(seconds=30)


def _claim(db, clock, batch=10, relay_id="relay-that-dies"):
    with db.begin() as conn:
        delivery_state.fan_out(conn, NULL, now=clock(), limit=100)
        return delivery_state.claim(
            conn, NULL, now=clock(), batch=batch, lease=LEASE, relay_id=relay_id
        )


def test_a_claim_is_taken_by_one_relay_until_its_lease_expires(db, clock):
    ids = emit_events(db, 3)
    dying = _claim(db, clock)
    assert {d.event_id for d in dying.deliveries} == set(ids)
    assert state_counts(db, "null") == {"delivering": 3}
    relay = Relay(db, [NULL], clock=clock, lease_seconds=30)
    clock.advance(29)
    assert relay.run_once().total("claimed") == 0  # still held by the claim's owner
    clock.advance(1)
    report = relay.run_once()
    assert report.total("expired") == 3 and report.total("delivered") == 3
    rows = states(db).values()
    assert all(r["state"] == "delivered" and r["attempts"] == 2 for r in rows)
    assert all(r["errors"][0]["kind"] == "lease_expired" for r in rows)
    assert all(r["errors"][0]["relay"] == "relay-that-dies" for r in rows)
    # The first owner wakes up: its acknowledgement is refused, nothing changes.
    with db.begin() as conn:
        late = delivery_state.acknowledge(
            conn,
            dying,
            [(d, DELIVERED) for d in dying.deliveries],
            config=NULL,
            now=clock(),
            delays={},
        )
    assert late.delivered == 0 and late.lost == 3
    assert state_counts(db, "null") == {"delivered": 3}


def test_expired_claims_at_the_attempt_limit_are_dead(db, clock):
    emit_events(db, 1)
    limited = NULL.model_copy(update={"dead_after_attempts": 1})
    with db.begin() as conn:
        delivery_state.fan_out(conn, limited, now=clock(), limit=10)
        delivery_state.claim(conn, limited, now=clock(), batch=1, lease=LEASE, relay_id="gone")
    clock.advance(60)
    with Relay(db, [limited], clock=clock) as relay:
        assert relay.run_once().total("dead") == 1
    assert state_counts(db, "null") == {"dead": 1}


def test_concurrent_claims_on_postgres_take_disjoint_rows(postgres_db, clock):
    emit_events(postgres_db, 6)
    with postgres_db.begin() as conn:
        delivery_state.fan_out(conn, NULL, now=clock(), limit=100)
    with postgres_db.begin() as first:
        mine = delivery_state.claim(first, NULL, now=clock(), batch=4, lease=LEASE, relay_id="a")
        # The first claim is not committed yet: SKIP LOCKED passes its rows over.
        with postgres_db.begin() as second:
            theirs = delivery_state.claim(
                second, NULL, now=clock(), batch=4, lease=LEASE, relay_id="b"
            )
    assert len(mine.deliveries) == 4 and len(theirs.deliveries) == 2
    assert not {d.event_id for d in mine.deliveries} & {d.event_id for d in theirs.deliveries}


class SlowSink(WebhookSink):
    """A webhook whose every request takes ``seconds`` of the test clock and may run
    ``during`` (what other relays do meanwhile) while it is in flight."""

    def __init__(self, config, clock, seconds, during=None):
        super().__init__(config, SECRET)
        self.clock, self.seconds, self.during = clock, seconds, during
        self.sent = []

    def deliver(self, delivery):
        self.clock.advance(self.seconds)
        self.sent.append(delivery.event_id)
        if self.during:
            self.during(len(self.sent))
        return DELIVERED


def test_a_slow_batch_renews_its_lease_instead_of_losing_it(db, clock):
    emit_events(db, 6)
    config = webhook_config("http://127.0.0.1:9/unused", timeout_seconds=5)
    sink = SlowSink(config, clock, seconds=6)
    with Relay(db, [sink], clock=clock, lease_seconds=20) as relay:
        report = relay.run_once(batch=6)
    # 6 requests x 6 s = 36 s > the 20 s lease: renewed on the way, nothing expired.
    assert report.total("delivered") == 6 and report.total("lost") == 0
    assert state_counts(db, "hook") == {"delivered": 6}


def test_a_relay_that_stalled_past_its_lease_records_nothing(db, clock):
    emit_events(db, 3)
    config = webhook_config("http://127.0.0.1:9/unused", timeout_seconds=5)
    other = Relay(db, [NullSink(config)], clock=clock)

    def stall_then_let_another_relay_take_over(sent):
        if sent == 1:
            clock.advance(60)
            assert other.run_once().total("delivered") == 3

    stalled = SlowSink(config, clock, seconds=0, during=stall_then_let_another_relay_take_over)
    with Relay(db, [stalled], clock=clock, lease_seconds=20) as relay:
        report = relay.run_once(batch=3)
    other.close()
    # Its first outcome is refused, and the renewal finds the other two rows taken.
    assert len(stalled.sent) == 1
    assert report.total("delivered") == 0 and report.total("lost") == 3
    rows = states(db).values()
    assert all(r["state"] == "delivered" and r["attempts"] == 2 for r in rows)


def test_stopping_mid_batch_releases_what_was_not_attempted(db, clock):
    emit_events(db, 5)
    config = webhook_config("http://127.0.0.1:9/unused")
    sink = SlowSink(
        config, clock, seconds=0, during=lambda sent: sent == 2 and relay.request_stop()
    )
    relay = Relay(db, [sink], clock=clock)
    report = relay.run_once(batch=5)
    relay.close()
    assert report.total("delivered") == 2 and report.total("released") == 3
    rows = sorted(states(db).values(), key=lambda r: r["seq"])
    assert [r["state"] for r in rows] == ["delivered"] * 2 + ["pending"] * 3
    assert [r["attempts"] for r in rows] == [1, 1, 0, 0, 0]  # a release is no attempt
    assert all(r["locked_until"] is None for r in rows)


def test_expiry_on_postgres_passes_over_a_claim_whose_outcome_is_being_recorded(postgres_db, clock):
    ids = emit_events(postgres_db, 3)
    _claim(postgres_db, clock)
    clock.advance(60)
    held = sorted(ids)[0]
    with postgres_db.begin() as recording:
        # The claim's relay, late, records one outcome: that row is locked until it commits.
        recording.execute(
            sa.select(ds.c.event_id)
            .where(ds.c.event_id == held, ds.c.sink == "null")
            .with_for_update()
        ).one()
        with postgres_db.begin() as expiring:
            # Waiting for the lock would be the first half of a deadlock: fail fast instead.
            expiring.execute(sa.select(sa.func.set_config("lock_timeout", "2s", True)))
            expired = delivery_state.expire_leases(expiring, NULL, now=clock())
        assert expired.retried == 2
    rows = states(postgres_db, "null")
    assert rows[held]["state"] == "delivering"
    assert sorted(r["state"] for key, r in rows.items() if key != held) == ["retry", "retry"]
