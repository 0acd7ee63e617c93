"""The delivery backlog: what the sinks the relay has started are still owed, and since
when the oldest of it has waited in the outbox."""

from procobs_dagster.delivery import Backlog, Relay, SinkConfig, backlog
from procobs_dagster_tests.delivery.helpers import Receiver, emit_events, webhook_config
from procobs_dagster_tests.events.helpers import outbox_rows


def current(db) -> Backlog:
    with db.read() as conn:
        return backlog(conn)


def test_backlog_counts_what_each_sink_is_owed_and_since_when(db, tmp_path, secret_env, clock):
    first = emit_events(db, 2)
    assert current(db) == Backlog(undelivered=0, dead=0, oldest_recorded_at=None)  # no sink yet

    archive = SinkConfig(name="archive", kind="file", path=str(tmp_path / "archive.jsonl"))
    with Relay(db, [archive], clock=clock) as relay:
        assert relay.drain(batch=10).total("delivered") == 2
    assert current(db) == Backlog(undelivered=0, dead=0, oldest_recorded_at=None)

    later = emit_events(db, 3)
    recorded = {row["event_id"]: row["recorded_at"] for row in outbox_rows(db)}
    # Past the archive's cursor, not fanned out yet: owed all the same.
    assert current(db) == Backlog(undelivered=3, dead=0, oldest_recorded_at=recorded[later[0]])

    # A webhook nobody answers: its five events are fanned out and retried, still owed.
    closed = Receiver()
    url = closed.url
    closed.close()
    with Relay(db, [webhook_config(url)], clock=clock) as relay:
        assert relay.run_once().total("retried") == 5
    owed = current(db)
    assert (owed.undelivered, owed.dead) == (3 + 5, 0)
    assert owed.oldest_recorded_at == recorded[first[0]]
    assert owed.oldest_age_seconds(recorded[first[0]]) == 0.0

    # Dead letters are counted apart: nothing retries them until a redrive.
    rejecting = Receiver()
    rejecting.respond = lambda _id, _body: 422
    strict = webhook_config(rejecting.url, name="strict", dead_after_rejections=1)
    try:
        with Relay(db, [strict], clock=clock) as relay:
            assert relay.run_once().total("dead") == 5
    finally:
        rejecting.close()
    assert current(db) == Backlog(undelivered=8, dead=5, oldest_recorded_at=recorded[first[0]])
