"""Late facts about ledger rows: a start moved earlier, evidence added, a parent linked, a
component reported after its run ended."""

import datetime as dt

import pytest
import sqlalchemy as sa

from procobs_dagster import ledger
from procobs_dagster.errors import IllegalTransition, InvalidInput, UnknownRun
from procobs_dagster.ids import uuid7
from procobs_dagster.ledger import amend, tracking
from procobs_dagster.store.tables import process_run_observation as ledger_runs
from procobs_dagster.store.tables import process_status_history

T0 = dt.datetime(2026, 3, 5, 10, 0, tzinfo=dt.UTC)
CANDIDATE = "PROC-CAND:workflow:ns/job"


def _history_rows(conn) -> int:
    return conn.execute(sa.select(sa.func.count()).select_from(process_status_history)).scalar_one()


def test_a_start_only_moves_earlier_and_writes_no_history(db):
    with db.begin() as conn:
        run = tracking.open_run(conn, candidate_code=CANDIDATE, at=T0).run
        history = _history_rows(conn)
        later = amend.backdate_start(conn, "run", run.process_run_id, T0 + dt.timedelta(1))
        earlier = amend.backdate_start(conn, "run", run.process_run_id, T0 - dt.timedelta(1))
        assert _history_rows(conn) == history
    assert later.started_at == T0
    assert earlier.started_at == T0 - dt.timedelta(1)


def test_backdating_an_ended_row_keeps_it_ended_after_it_began(db):
    with db.begin() as conn:
        run = tracking.open_run(conn, candidate_code=CANDIDATE, at=T0).run
        tracking.close_run(conn, run.process_run_id, tracking.Outcome(at=T0))
        moved = amend.backdate_start(conn, "run", run.process_run_id, T0 - dt.timedelta(hours=1))
    assert moved.status == "completed"
    assert moved.started_at < moved.ended_at == T0


def test_evidence_is_added_whatever_the_status_and_never_the_dry_run_flag(db):
    with db.begin() as conn:
        run = tracking.open_run(conn, candidate_code=CANDIDATE, at=T0).run
        tracking.close_run(conn, run.process_run_id, tracking.Outcome(evidence={"a": 1}, at=T0))
        merged = amend.add_evidence(conn, "run", run.process_run_id, {"b": {"c": 2, "d": 3}})
        assert merged.evidence_ref == {"a": 1, "b": {"c": 2, "d": 3}}
        # A key is replaced whole, on both databases: "d" does not linger.
        replaced = amend.add_evidence(conn, "run", run.process_run_id, {"b": {"c": 4}})
        assert replaced.evidence_ref == {"a": 1, "b": {"c": 4}}
        with pytest.raises(InvalidInput, match="plain names"):
            amend.add_evidence(conn, "run", run.process_run_id, {"a.b": 1})
        with pytest.raises(InvalidInput, match="dry run"):
            amend.add_evidence(conn, "run", run.process_run_id, {"dry_run": False})
        with pytest.raises(InvalidInput, match="non-empty"):
            amend.add_evidence(conn, "run", run.process_run_id, {})
        assert amend.add_evidence(conn, "run", uuid7(), {"a": 1}) is None
        bare = tracking.open_run(conn, candidate_code=CANDIDATE, at=T0).run
        first = amend.add_evidence(conn, "run", bare.process_run_id, {"a": {"b": 1}})
        assert first.evidence_ref == {"a": {"b": 1}}


def test_a_parent_is_linked_once_and_must_exist(db):
    with db.begin() as conn:
        parent = tracking.open_run(conn, candidate_code=CANDIDATE, at=T0).run
        other = tracking.open_run(conn, candidate_code=CANDIDATE, at=T0).run
        child = tracking.open_run(conn, candidate_code=CANDIDATE, at=T0).run
        linked = amend.link_parent(conn, child.process_run_id, parent.process_run_id)
        kept = amend.link_parent(conn, child.process_run_id, other.process_run_id)
        with pytest.raises(InvalidInput, match="a cycle"):
            amend.link_parent(conn, child.process_run_id, child.process_run_id)
    assert linked.parent_run_id == parent.process_run_id
    assert kept.parent_run_id == parent.process_run_id
    with db.begin() as conn, pytest.raises(UnknownRun):
        amend.link_parent(conn, child.process_run_id, uuid7())


def test_an_ended_run_takes_a_component_only_as_a_late_report(db):
    with db.begin() as conn:
        run = tracking.open_run(conn, candidate_code=CANDIDATE, at=T0).run
        tracking.close_run(conn, run.process_run_id, tracking.Outcome(evidence={"a": 1}, at=T0))
    with db.begin() as conn, pytest.raises(IllegalTransition, match="takes no new components"):
        tracking.open_step(conn, run.process_run_id, dot_code="late", at=T0)
    with db.begin() as conn:
        step = tracking.open_step(
            conn, run.process_run_id, dot_code="late", at=T0, late_report=True
        ).component
        closed = tracking.close_step(conn, step.component_run_id, tracking.Outcome(at=T0))
        header = ledger.get_run(conn, run.process_run_id)
    assert closed.status == "completed" and closed.correlation_id == run.correlation_id
    assert header.status == "completed"  # the header is left as it ended


def test_linking_a_parent_never_makes_a_cycle(db):
    with db.begin() as conn:
        outer = tracking.open_run(conn, candidate_code=CANDIDATE, at=T0).run
        inner = tracking.open_run(
            conn, candidate_code=CANDIDATE, parent_run_id=outer.process_run_id, at=T0
        ).run
        with pytest.raises(InvalidInput, match="a cycle"):
            amend.link_parent(conn, outer.process_run_id, inner.process_run_id)
        with pytest.raises(InvalidInput, match="a cycle"):
            amend.link_parent(conn, outer.process_run_id, outer.process_run_id)


def test_two_links_at_once_never_make_a_cycle(postgres_db):
    # Each link checks the ancestry of its new parent, then writes: two sessions linking
    # a under b and b under a each see the other's row still without a parent.
    import contextlib
    import threading

    from procobs_dagster_tests.concurrency import wait_for_lock_waiter

    db = postgres_db
    with db.begin() as conn:
        a = tracking.open_run(conn, candidate_code=CANDIDATE, at=T0).run.process_run_id
        b = tracking.open_run(conn, candidate_code=CANDIDATE, at=T0).run.process_run_id
    outcome = []

    def second() -> None:
        try:
            with db.begin() as conn:
                outcome.append(amend.link_parent(conn, b, a))
        except InvalidInput as exc:
            outcome.append(exc)

    with db.begin() as conn:
        amend.link_parent(conn, a, b)
        thread = threading.Thread(target=second)
        thread.start()
        # Not waiting means the second link went through (or will once this commits).
        with contextlib.suppress(AssertionError):
            wait_for_lock_waiter(db, timeout=5)
    thread.join(timeout=10)
    with db.read() as conn:
        parents = {
            row.process_run_id: row.parent_run_id
            for row in conn.execute(
                sa.select(ledger_runs.c.process_run_id, ledger_runs.c.parent_run_id).where(
                    ledger_runs.c.process_run_id.in_([a, b])
                )
            )
        }
    assert parents == {a: b, b: None}
    assert len(outcome) == 1 and isinstance(outcome[0], InvalidInput)
    assert "a cycle" in str(outcome[0])
