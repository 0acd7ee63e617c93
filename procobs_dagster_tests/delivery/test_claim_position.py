"""Claims that start after the previous claim's last row: what they take, and that a due
row they pass over waits at most one housekeeping interval of the relay."""

import datetime as dt

import pytest
import sqlalchemy as sa

from procobs_dagster.delivery import Relay, SinkConfig, delivery_state
from procobs_dagster.delivery.relay import HOUSEKEEPING_SECONDS
from procobs_dagster.store.tables import delivery_state as ds
from procobs_dagster_tests.delivery.helpers import emit_events, states

LEASE = dt.timedelta(seconds=30)


def _claim(db, clock, config, batch, after=None):
    with db.begin() as conn:
        return delivery_state.claim(
            conn, config, now=clock(), batch=batch, lease=LEASE, relay_id="r", after=after
        )


def _position(db, sink, event_id):
    row = states(db, sink)[event_id]
    return row["next_attempt_at"], row["seq"]


def _move_before(db, sink, event_id, when):
    """Give a due row an earlier place in the claim order, as a row committed late with
    an earlier time (or by a relay whose clock is behind) has."""
    with db.begin() as conn:
        conn.execute(
            ds.update()
            .where(ds.c.sink == sink, ds.c.event_id == event_id)
            .values(next_attempt_at=when)
        )


def test_a_claim_after_a_position_takes_only_the_rows_after_it(db, clock):
    config = SinkConfig(name="null", kind="null")
    ids = emit_events(db, 4, correlation=lambda i: f"c{i}")
    with db.begin() as conn:
        assert delivery_state.fan_out(conn, config, now=clock(), limit=10) == 4
    bound = _position(db, "null", ids[2])

    later = _claim(db, clock, config, batch=10, after=bound)
    assert [d.event_id for d in later.deliveries] == [ids[3]]
    assert later.last_taken == _position(db, "null", ids[3])

    rest = _claim(db, clock, config, batch=10)
    assert [d.event_id for d in rest.deliveries] == ids[:3]
    assert rest.last_taken == bound
    assert _claim(db, clock, config, batch=10).last_taken is None  # nothing left


@pytest.mark.parametrize("ordered", [False, True])
def test_a_row_the_bounded_claims_pass_over_waits_one_housekeeping_interval(db, clock, ordered):
    config = SinkConfig(name="null", kind="null", ordered=ordered)
    ids = emit_events(db, 6, correlation=lambda i: f"c{i}")
    with Relay(db, [config], clock=clock) as relay:
        # The first claim finds nothing, fans out and claims the first two.
        assert relay.run_once(batch=2).total("delivered") == 2
        assert {i for i, row in states(db).items() if row["state"] == "delivered"} == set(ids[:2])
        _move_before(db, "null", ids[5], clock() - dt.timedelta(seconds=1))

        assert relay.run_once(batch=2).total("delivered") == 2
        delivered = {i for i, row in states(db).items() if row["state"] == "delivered"}
        if ordered:
            # An ordered sink's claims always start at the oldest due row.
            assert delivered == {*ids[:2], ids[5], ids[2]}
        else:
            # Started after the last row claimed: the row moved before it is passed over.
            assert delivered == set(ids[:4])

        clock.advance(HOUSEKEEPING_SECONDS)
        assert relay.run_once(batch=2).total("delivered") == 2
        assert relay.drain(batch=2).total("delivered") == 0
    assert {row["state"] for row in states(db).values()} == {"delivered"}


def test_a_short_claim_makes_the_next_one_start_at_the_oldest_due_row(db, clock):
    config = SinkConfig(name="null", kind="null")
    ids = emit_events(db, 3, correlation=lambda i: f"c{i}")
    with Relay(db, [config], clock=clock) as relay:
        assert relay.run_once(batch=2).total("delivered") == 2
        _move_before(db, "null", ids[2], clock() - dt.timedelta(seconds=1))
        # After the full claim: bounded, passes the moved row over, and comes back short.
        assert relay.run_once(batch=2).total("delivered") == 0
        # Short: the next claim starts at the oldest due row, with the clock unchanged.
        assert relay.run_once(batch=2).total("delivered") == 1
    with db.read() as conn:
        left = conn.execute(sa.select(sa.func.count()).where(ds.c.state != "delivered"))
        assert left.scalar_one() == 0
