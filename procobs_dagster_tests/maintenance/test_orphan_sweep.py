"""The orphan sweep: unfinished work under a run that has ended."""

import datetime as dt

import pytest

from procobs_dagster import ledger
from procobs_dagster.errors import InvalidInput
from procobs_dagster.maintenance import sweep_orphans, sweep_stuck
from procobs_dagster_tests.concurrency import while_held_after_first_batch
from procobs_dagster_tests.maintenance.helpers import HOUR, T0, make_run


def _statuses(db, *runs) -> list[str]:
    with db.read() as conn:
        return [ledger.get_run(conn, run.process_run_id).status for run in runs]


def _component_status(db, component) -> str:
    with db.read() as conn:
        return ledger.get_component(conn, component.component_run_id).status


def test_unfinished_children_and_components_of_an_ended_run_become_orphans(db):
    with db.begin() as conn:
        parent = make_run(conn, "started", components=1)
        child = make_run(conn, "started", parent=parent, components=0)
        done_child = make_run(conn, "completed", parent=parent, components=0)
        dangling, _ = ledger.record_component(conn, process_run_id=parent.process_run_id, at=T0)
        ledger.finish_run(conn, parent.process_run_id, "failed", at=T0 + HOUR)
        live = make_run(conn, "started", components=0)
        live_child = make_run(conn, "started", parent=live, components=0)
        live_component, _ = ledger.record_component(conn, process_run_id=live.process_run_id)
    now = T0 + 2 * HOUR
    report = sweep_orphans(db, now=now)
    assert report.lock_acquired
    assert [(v.subject_kind, v.subject_id, v.from_status) for v in report.verdicts] == [
        ("run", child.process_run_id, "started"),
        ("component", dangling.component_run_id, "started"),
    ]
    assert _statuses(db, child, done_child, live, live_child) == [
        "orphan",
        "completed",
        "started",
        "started",
    ]
    assert _component_status(db, live_component) == "started"

    with db.read() as conn:
        orphan = ledger.get_run(conn, child.process_run_id)
        component = ledger.get_component(conn, dangling.component_run_id)
        last = ledger.history_of(conn, child.process_run_id)[-1]
    assert orphan.ended_at is None and component.ended_at is None
    evidence = orphan.evidence_ref["orphan_sweep"]
    assert evidence == {
        "sweep_id": str(report.sweep_id),
        "swept_at": now.isoformat(),
        "parent_run_id": str(parent.process_run_id),
        "parent_status": "failed",
        "parent_ended_at": (T0 + HOUR).isoformat(),
    }
    assert component.evidence_ref["orphan_sweep"]["parent_run_id"] == str(parent.process_run_id)
    assert (last.from_status, last.to_status, last.actor) == (
        "started",
        "orphan",
        "procobs sweep orphan",
    )
    assert f"parent run {parent.process_run_id} is failed" in last.reason
    assert sweep_orphans(db, now=now).verdicts == []


def test_grace_spares_work_that_ends_just_after_its_parent(db):
    with db.begin() as conn:
        parent = make_run(conn, "started", components=0)
        child = make_run(conn, "started", parent=parent, components=0)
        ledger.finish_run(conn, parent.process_run_id, at=T0 + HOUR)
    just_after = T0 + HOUR + dt.timedelta(seconds=300)
    assert sweep_orphans(db, now=just_after).verdicts == []
    assert sweep_orphans(db, now=just_after, grace_seconds=301).verdicts == []
    report = sweep_orphans(db, now=just_after, grace_seconds=299)
    assert [v.subject_id for v in report.verdicts] == [child.process_run_id]


def test_a_stuck_child_of_an_ended_parent_becomes_an_orphan_and_may_still_finish(db):
    with db.begin() as conn:
        parent = make_run(conn, "started", components=0)
        child = make_run(conn, "started", parent=parent, components=0)
    sweep_stuck(db, now=T0 + 7 * HOUR)
    with db.begin() as conn:
        ledger.finish_run(conn, parent.process_run_id, at=T0 + 8 * HOUR)
    report = sweep_orphans(db, now=T0 + 9 * HOUR)
    assert [(v.subject_id, v.from_status) for v in report.verdicts] == [
        (child.process_run_id, "stuck")
    ]
    with db.begin() as conn:
        late = ledger.finish_run(conn, child.process_run_id, at=T0 + 10 * HOUR)
        moves = [(h.from_status, h.to_status) for h in ledger.history_of(conn, late.process_run_id)]
    assert late.status == "completed"
    assert moves == [
        (None, "started"),
        ("started", "stuck"),
        ("stuck", "orphan"),
        ("orphan", "completed"),
    ]


def test_bad_grace_is_refused(db):
    with pytest.raises(InvalidInput, match="grace"):
        sweep_orphans(db, grace_seconds=-1)


def test_two_concurrent_orphan_sweeps_do_not_both_act(postgres_db):
    db = postgres_db
    with db.begin() as conn:
        parent = make_run(conn, "started", components=0)
        children = [make_run(conn, "started", parent=parent, components=0) for _ in range(2)]
        ledger.finish_run(conn, parent.process_run_id, at=T0 + HOUR)
    first, second = while_held_after_first_batch(
        lambda hold: sweep_orphans(db, now=T0 + 2 * HOUR, batch=1, progress=hold),
        lambda: sweep_orphans(db, now=T0 + 2 * HOUR),
    )
    assert not second.lock_acquired
    assert {v.subject_id for v in first.verdicts} == {c.process_run_id for c in children}
