"""Redrive: every dead delivery in bounded, committed batches; named events in one."""

import pytest
import sqlalchemy as sa

from procobs_dagster.delivery import (
    MAX_REDRIVE_IDS,
    redrive,
    redrive_dead,
)
from procobs_dagster.delivery.redrive import next_dead
from procobs_dagster.errors import InvalidInput, NotFound
from procobs_dagster.store.batches import BatchProgress, BatchTimeout
from procobs_dagster.store.tables import audit_log, delivery_state
from procobs_dagster_tests.hostile import row_counts
from procobs_dagster_tests.maintenance.table_helpers import T0, emit, fan_out, settle, sink

ds = delivery_state
LATER = T0.replace(year=2026)


def kill(db, sink_name: str, event_ids) -> None:
    with db.begin() as conn:
        conn.execute(
            ds.update()
            .where(ds.c.sink == sink_name, ds.c.event_id.in_(list(event_ids)))
            .values(state="dead", attempts=3, rejections=2, last_error="HTTP 422", updated_at=T0)
        )


def rows(db) -> dict[tuple, dict]:
    with db.read() as conn:
        return {(r["event_id"], r["sink"]): dict(r) for r in conn.execute(sa.select(ds)).mappings()}


def redrive_audits(db) -> list[dict]:
    with db.read() as conn:
        return [
            {**r.details, "actor": r.actor}
            for r in conn.execute(
                sa.select(audit_log.c.actor, audit_log.c.details)
                .where(audit_log.c.action == "delivery.redriven")
                .order_by(audit_log.c.audit_id)
            )
        ]


@pytest.fixture
def dead_world(db):
    """Sinks a and b: 7 dead of a, 3 dead of b, and one row of a in every other state."""
    events = emit(db, 11)
    fan_out(db, sink("a"), sink("b"))
    kill(db, "a", events[:7])
    kill(db, "b", events[:3])
    for event, state in zip(
        events[7:], ("delivered", "retry", "delivering", "pending"), strict=True
    ):
        settle(db, event, "a", state, T0)
    dead = {(e, "a") for e in events[:7]} | {(e, "b") for e in events[:3]}
    return events, dead


def test_every_dead_delivery_goes_in_batches_each_audited(db, dead_world):
    _, dead = dead_world
    before = rows(db)
    seen: list[BatchProgress] = []
    report = redrive_dead(db, actor="ops", batch=3, now=LATER, progress=seen.append)
    assert (report.redriven_count, report.batches) == (10, 4)
    assert [len(b.result.redriven) for b in seen] == [3, 3, 3, 1]
    assert [b.batch for b in seen] == [1, 2, 3, 4]
    after = rows(db)
    for key, row in after.items():
        if key in dead:
            assert (row["state"], row["attempts"], row["rejections"]) == ("pending", 0, 0)
            assert row["next_attempt_at"] == LATER and row["last_error"] == "HTTP 422"
        else:  # nothing that was not dead was touched
            assert row == before[key]
    audits = redrive_audits(db)
    assert [a["batch_number"] for a in audits] == [1, 2, 3, 4]
    assert [a["count"] for a in audits] == [3, 3, 3, 1]
    assert {a["redrive_id"] for a in audits} == {str(report.redrive_id)}
    assert all(a["actor"] == "ops" and a["all_dead"] and a["sink"] is None for a in audits)
    audited = {(d["event_id"], d["sink"]) for a in audits for d in a["deliveries"]}
    assert audited == {(str(e), s) for e, s in dead}
    # Nothing dead is left: a second run finds nothing and records nothing.
    assert redrive_dead(db, batch=3).batches == 0
    assert len(redrive_audits(db)) == 4


def test_the_sink_filter_redrives_only_that_sinks_dead(db, dead_world):
    events, _ = dead_world
    report = redrive_dead(db, sink="b", batch=2, now=LATER)
    assert (report.redriven_count, report.batches) == (3, 2)
    after = rows(db)
    assert {after[(e, "b")]["state"] for e in events[:3]} == {"pending"}
    assert {after[(e, "a")]["state"] for e in events[:7]} == {"dead"}
    assert {a["sink"] for a in redrive_audits(db)} == {"b"}


def test_an_unknown_sink_or_a_bad_batch_size_writes_nothing(db, dead_world):
    before = row_counts(db)
    with pytest.raises(NotFound, match="no delivery to sink 'c' at all"):
        redrive_dead(db, sink="c")
    for batch in (0, 10_001):
        with pytest.raises(InvalidInput, match="batch size"):
            redrive_dead(db, batch=batch)
    with pytest.raises(InvalidInput, match="statement timeout must be positive"):
        redrive_dead(db, statement_timeout_seconds=0)
    assert row_counts(db) == before


def test_an_interrupted_run_keeps_its_committed_batches_and_a_rerun_finishes(db, dead_world):
    _, dead = dead_world

    def stop(done: BatchProgress) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        redrive_dead(db, batch=4, progress=stop)
    states = [rows(db)[key]["state"] for key in dead]
    assert (states.count("pending"), states.count("dead")) == (4, 6)
    assert [a["count"] for a in redrive_audits(db)] == [4]
    assert redrive_dead(db, batch=4).redriven_count == 6
    assert {rows(db)[key]["state"] for key in dead} == {"pending"}


def test_a_delivery_that_dies_again_during_the_run_is_not_redriven_twice(db, dead_world):
    """The walk only moves forward: a sink that still refuses cannot keep a run going."""

    def dies_again(done: BatchProgress) -> None:
        if done.batch == 1:
            kill(db, "a", [e for e, s in done.result.redriven if s == "a"])
            kill(db, "b", [e for e, s in done.result.redriven if s == "b"])

    report = redrive_dead(db, batch=3, progress=dies_again)
    assert report.redriven_count == 10
    assert sum(row["state"] == "dead" for row in rows(db).values()) == 3


def test_a_dead_row_someone_holds_is_skipped_not_waited_for(postgres_db):
    db = postgres_db
    held, free = emit(db, 2)
    fan_out(db, sink("a"))
    kill(db, "a", [held, free])
    with db.begin() as other:
        other.execute(sa.select(ds.c.event_id).where(ds.c.event_id == held).with_for_update())
        report = redrive_dead(db)
    assert report.redriven_count == 1
    assert {k[0]: r["state"] for k, r in rows(db).items()} == {held: "dead", free: "pending"}
    assert redrive_dead(db).redriven_count == 1  # the rerun takes what was skipped


def test_a_batch_past_the_statement_timeout_is_rolled_back_and_the_batches_before_kept(
    postgres_db,
):
    db = postgres_db
    events = emit(db, 5)
    fan_out(db, sink("a"))
    kill(db, "a", events)
    with db.connect() as blocker, blocker.begin():

        def block_the_audit_log(done: BatchProgress) -> None:
            if done.batch == 1:
                blocker.exec_driver_sql("LOCK TABLE audit_log IN EXCLUSIVE MODE")

        with pytest.raises(BatchTimeout) as raised:
            redrive_dead(db, batch=2, progress=block_the_audit_log, statement_timeout_seconds=0.5)
    assert str(raised.value) == (
        "relay redrive: a statement ran past the 0.5 s statement timeout; the batch was rolled back"
    )
    states = [row["state"] for row in rows(db).values()]
    assert (states.count("pending"), states.count("dead")) == (2, 3)
    assert [a["count"] for a in redrive_audits(db)] == [2]
    assert redrive_dead(db).redriven_count == 3


def test_an_unknown_sink_cannot_hang_on_a_locked_table(postgres_db):
    """The sink check runs under the statement timeout too."""
    db = postgres_db
    fan_out(db, sink("a"))
    with db.connect() as blocker, blocker.begin():
        blocker.exec_driver_sql("LOCK TABLE delivery_state IN ACCESS EXCLUSIVE MODE")
        with pytest.raises(BatchTimeout):
            redrive_dead(db, sink="a", statement_timeout_seconds=0.5)


def test_named_events_are_one_bounded_transaction(db, dead_world):
    events, _ = dead_world
    before = row_counts(db)
    with db.begin() as conn, pytest.raises(InvalidInput, match="at most 1,000 event ids"):
        redrive(conn, events[:1] * (MAX_REDRIVE_IDS + 1))
    with db.begin() as conn, pytest.raises(InvalidInput, match="needs event ids"):
        redrive(conn, [])
    assert row_counts(db) == before
    with db.begin() as conn:
        result = redrive(conn, events[:1] + events[7:9], actor="ops", now=LATER)
    # dead (a, b) and delivered (a) go again; deliveries on their way are left alone.
    assert sorted(s for _, s in result.redriven) == ["a", "a", "b"]
    assert set(result.skipped) == {
        (events[7], "b", "pending"),
        (events[8], "b", "pending"),
        (events[8], "a", "retry"),
    }
    (audited,) = redrive_audits(db)
    assert audited["count"] == 3 and audited["all_dead"] is False


def _plan(conn, query: sa.Select) -> str:
    sql = str(query.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
    explain = "EXPLAIN " if conn.dialect.name == "postgresql" else "EXPLAIN QUERY PLAN "
    return "\n".join(str(row[-1]) for row in conn.exec_driver_sql(explain + sql))


@pytest.mark.parametrize("scope", [None, "a"])
def test_a_batch_reads_the_dead_rows_from_their_own_index(db, scope):
    """The dead rows of an outage lie behind the whole delivered history in key order; a
    batch must read them from ix_delivery_state_dead, not walk the primary key to them."""
    events = emit(db, 2_000)
    fan_out(db, sink("a"))
    dead = events[-5:]
    with db.begin() as conn:
        conn.execute(
            ds.update()
            .where(ds.c.event_id.not_in(dead))
            .values(state="delivered", attempts=1, delivered_at=T0)
        )
    kill(db, "a", dead)
    with db.begin() as conn:
        conn.exec_driver_sql("ANALYZE")
    after = min((e, "a") for e in dead)
    with db.read() as conn:
        for position in (None, after):
            plan = _plan(conn, next_dead(conn.dialect.name, sink=scope, after=position, limit=500))
            assert "ix_delivery_state_dead" in plan, plan
