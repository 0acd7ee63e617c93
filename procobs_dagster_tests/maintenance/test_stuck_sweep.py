"""The stuck sweep: SLAs, the compare-and-set against real completions, and exclusion."""

import datetime as dt
import threading

import pytest
import sqlalchemy as sa

from procobs_dagster import ledger
from procobs_dagster.errors import InvalidInput
from procobs_dagster.ids import uuid7
from procobs_dagster.maintenance import (
    DEFAULT_STUCK_SLA_SECONDS,
    BatchTimeout,
    clear_sla,
    list_slas,
    set_sla,
    sweep_stuck,
)
from procobs_dagster.maintenance._sweep import Sweep
from procobs_dagster.maintenance.stuck_sweep import _stuck_runs
from procobs_dagster.store.tables import process_status_history
from procobs_dagster_tests.concurrency import (
    at_once,
    wait_for_lock_waiter,
    while_held_after_first_batch,
)
from procobs_dagster_tests.maintenance.helpers import HOUR, T0, make_run

SLA = DEFAULT_STUCK_SLA_SECONDS


def _status(db, run) -> str:
    with db.read() as conn:
        return ledger.get_run(conn, run.process_run_id).status


def _moves(db, run) -> list[tuple]:
    with db.read() as conn:
        return [(h.from_status, h.to_status) for h in ledger.history_of(conn, run.process_run_id)]


def test_an_overdue_run_in_flight_becomes_stuck_with_evidence_and_history(db):
    with db.begin() as conn:
        overdue = make_run(conn, "started", components=0)
        stepping = make_run(conn, "started", components=0)
        ledger.transition_run(conn, stepping.process_run_id, "step_started", at=T0 + HOUR)
        within_sla = make_run(conn, "started", started=T0 + HOUR, components=0)
        completed = make_run(conn, "completed", components=0)
        never_started, _ = ledger.start_run(conn, candidate_code="x", status="observed", at=T0)
    now = T0 + HOUR + dt.timedelta(seconds=SLA)
    report = sweep_stuck(db, now=now)
    assert report.lock_acquired
    assert {v.subject_id for v in report.verdicts} == {
        overdue.process_run_id,
        stepping.process_run_id,
    }
    assert {v.from_status for v in report.verdicts} == {"started", "step_started"}
    for run in (within_sla, never_started):
        assert _status(db, run) in ("started", "observed")
    assert _status(db, completed) == "completed"

    with db.read() as conn:
        swept = ledger.get_run(conn, overdue.process_run_id)
        last = ledger.history_of(conn, overdue.process_run_id)[-1]
    assert (swept.status, swept.ended_at) == ("stuck", None)
    evidence = swept.evidence_ref["stuck_sweep"]
    assert evidence["sweep_id"] == str(report.sweep_id)
    assert (evidence["sla_seconds"], evidence["sla_source"]) == (SLA, "default")
    assert evidence["overdue_seconds"] == SLA + 3600
    assert (last.from_status, last.to_status, last.changed_at) == ("started", "stuck", now)
    assert last.actor == "procobs sweep stuck" and "SLA 21600 s" in last.reason


def test_the_sla_edge_and_the_default_given_per_sweep(db):
    with db.begin() as conn:
        run = make_run(conn, "started", components=0)
    assert sweep_stuck(db, default_sla_seconds=600, now=T0.replace(minute=10)).verdicts == []
    report = sweep_stuck(db, default_sla_seconds=600, now=T0.replace(minute=10, second=1))
    assert [v.subject_id for v in report.verdicts] == [run.process_run_id]
    assert report.settings["default_sla_seconds"] == 600


def test_per_candidate_overrides_win_over_the_default(db):
    with db.begin() as conn:
        slow = make_run(conn, "started", candidate="PROC-CAND:slow", components=0)
        fast = make_run(conn, "started", candidate="PROC-CAND:fast", components=0)
        plain = make_run(conn, "started", candidate="PROC-CAND:plain", components=0)
        set_sla(conn, "PROC-CAND:slow", 10 * SLA, reason="nightly batch")
        set_sla(conn, "PROC-CAND:fast", 60, actor="ops")
    report = sweep_stuck(db, now=T0 + 2 * HOUR)
    assert [v.subject_id for v in report.verdicts] == [fast.process_run_id]
    assert report.verdicts[0].details["sla_source"] == "candidate"
    report = sweep_stuck(db, now=T0 + 7 * HOUR)
    assert [v.subject_id for v in report.verdicts] == [plain.process_run_id]
    assert _status(db, slow) == "started"

    with db.begin() as conn:
        assert [(o.process_candidate_code, o.sla_seconds) for o in list_slas(conn)] == [
            ("PROC-CAND:fast", 60),
            ("PROC-CAND:slow", 10 * SLA),
        ]
        set_sla(conn, "PROC-CAND:slow", 120)  # replaces the earlier override
        assert clear_sla(conn, "PROC-CAND:fast") and not clear_sla(conn, "PROC-CAND:none")
        assert [(o.process_candidate_code, o.sla_seconds) for o in list_slas(conn)] == [
            ("PROC-CAND:slow", 120)
        ]


@pytest.mark.parametrize("seconds", [0, -5, 1.5, True, 2**31, 99999999999999, 10**30])
def test_bad_slas_are_refused_and_write_nothing(db, seconds):
    with pytest.raises(InvalidInput, match=r"^SLA (is|must)"), db.begin() as conn:
        set_sla(conn, "PROC-CAND:x", seconds)
    with pytest.raises(InvalidInput, match="default SLA"):
        sweep_stuck(db, default_sla_seconds=seconds)
    with db.read() as conn:
        assert list_slas(conn) == []


def test_a_late_real_completion_of_a_stuck_run_is_accepted(db):
    with db.begin() as conn:
        run = make_run(conn, "started", components=0)
    sweep_stuck(db, now=T0 + 7 * HOUR)
    with db.begin() as conn:
        finished = ledger.finish_run(conn, run.process_run_id, output_ref="late", at=T0 + 8 * HOUR)
    assert (finished.status, finished.ended_at, finished.output_ref) == (
        "completed",
        T0 + 8 * HOUR,
        "late",
    )
    assert "stuck_sweep" in finished.evidence_ref
    assert _moves(db, run) == [(None, "started"), ("started", "stuck"), ("stuck", "completed")]
    assert sweep_stuck(db, now=T0 + 100 * HOUR).verdicts == []


def test_a_run_that_completed_after_the_sweep_read_it_is_left_alone(db):
    """The compare-and-set on the status the sweep read: a stale reading moves nothing."""
    with db.begin() as conn:
        run = make_run(conn, "started", components=0)
    with db.begin() as conn:
        ledger.finish_run(conn, run.process_run_id, at=T0 + 7 * HOUR)
    sweep = Sweep("stuck", uuid7(), T0 + 8 * HOUR)
    with db.begin() as conn:
        batch = sweep.judge(
            conn,
            run.process_run_id,
            [("run", run.process_run_id, run.process_run_id, "started", {})],
            lambda _: "stale",
        )
    assert (batch.verdicts, batch.left_alone) == ((), 1)
    assert _status(db, run) == "completed"
    assert _moves(db, run) == [(None, "started"), ("started", "completed")]


def test_sweeps_racing_completions_never_make_a_completed_run_stuck(db):
    """A writer completes runs one by one while sweeps run on another connection: every
    run ends completed, whether a sweep got to it first (stuck → completed) or not."""
    with db.begin() as conn:
        runs = [make_run(conn, "started", components=0) for _ in range(20)]
    done = threading.Event()
    swept = []

    def sweeper() -> None:
        while not done.is_set():
            swept.extend(sweep_stuck(db, now=T0 + 7 * HOUR, batch=3).verdicts)

    thread = threading.Thread(target=sweeper)
    thread.start()
    try:
        for run in runs:
            with db.begin() as conn:
                ledger.finish_run(conn, run.process_run_id, at=T0 + 8 * HOUR)
    finally:
        done.set()
        thread.join(timeout=60)
    assert {_status(db, run) for run in runs} == {"completed"}
    for run in runs:
        assert _moves(db, run) in (
            [(None, "started"), ("started", "completed")],
            [(None, "started"), ("started", "stuck"), ("stuck", "completed")],
        )
    assert len(swept) == len({v.subject_id for v in swept})


def test_a_run_being_completed_is_skipped_not_waited_for(postgres_db):
    db = postgres_db
    with db.begin() as conn:
        run = make_run(conn, "started", components=0)
    with db.begin() as writer:
        ledger.finish_run(writer, run.process_run_id, at=T0 + 7 * HOUR)
        report = sweep_stuck(db, now=T0 + 7 * HOUR, statement_timeout_seconds=5)
    assert (report.verdicts, report.left_alone) == ([], 0)
    assert _moves(db, run) == [(None, "started"), ("started", "completed")]


def test_a_completion_waiting_on_the_sweep_lands_after_it(postgres_db):
    """The sweep holds the run; the completing writer waits, then moves stuck → completed."""
    db = postgres_db
    with db.begin() as conn:
        run = make_run(conn, "started", components=0)
    outcome = {}

    def complete() -> None:
        with db.begin() as conn:
            outcome["run"] = ledger.finish_run(conn, run.process_run_id, output_ref="real")

    with db.begin() as conn:
        sweep = Sweep("stuck", uuid7(), T0 + 7 * HOUR)
        batch = _stuck_runs(
            conn, sweep=sweep, after=None, limit=10, default_seconds=SLA, overrides={}
        )
        assert [v.subject_id for v in batch.verdicts] == [run.process_run_id]
        thread = threading.Thread(target=complete)
        thread.start()
        wait_for_lock_waiter(db)
    thread.join(timeout=10)
    assert (outcome["run"].status, outcome["run"].output_ref) == ("completed", "real")
    assert _moves(db, run) == [(None, "started"), ("started", "stuck"), ("stuck", "completed")]


def test_a_step_recorded_while_the_sweep_judges_its_run_is_not_held_up(postgres_db):
    """The sweep changes the run's status, not its key: the new step's foreign key check
    (KEY SHARE on the run) does not wait for the sweep's batch to commit."""
    db = postgres_db
    with db.begin() as conn:
        run = make_run(conn, "started", components=0)
    with db.begin() as conn:
        sweep = Sweep("stuck", uuid7(), T0 + 7 * HOUR)
        batch = _stuck_runs(
            conn, sweep=sweep, after=None, limit=10, default_seconds=SLA, overrides={}
        )
        assert [v.subject_id for v in batch.verdicts] == [run.process_run_id]
        with db.begin() as writer:
            writer.execute(sa.select(sa.func.set_config("lock_timeout", "2s", True)))
            step, _ = ledger.record_component(writer, process_run_id=run.process_run_id)
    assert step.process_run_id == run.process_run_id
    assert _status(db, run) == "stuck"


def _stuck_moves(db) -> dict:
    with db.read() as conn:
        rows = conn.execute(
            sa.select(process_status_history.c.subject_id, sa.func.count())
            .where(process_status_history.c.to_status == "stuck")
            .group_by(process_status_history.c.subject_id)
        ).all()
    return dict(rows)


def test_two_concurrent_sweeps_do_not_both_act(postgres_db):
    db = postgres_db
    with db.begin() as conn:
        runs = [make_run(conn, "started", components=0) for _ in range(3)]
    first, second = while_held_after_first_batch(
        lambda hold: sweep_stuck(db, now=T0 + 7 * HOUR, batch=1, progress=hold),
        lambda: sweep_stuck(db, now=T0 + 7 * HOUR),
    )
    assert not second.lock_acquired and second.verdicts == []
    assert first.lock_acquired and len(first.verdicts) == 3
    assert _stuck_moves(db) == {run.process_run_id: 1 for run in runs}
    # The lock went with the first sweep: the next one runs (and finds nothing to do).
    assert sweep_stuck(db, now=T0 + 7 * HOUR).lock_acquired


def test_concurrent_sweeps_judge_each_run_once(db):
    """Postgres: one sweep holds the lock. SQLite: the single writer serialises the
    sweeps' batches. Either way each run is judged exactly once."""
    with db.begin() as conn:
        runs = [make_run(conn, "started", components=0) for _ in range(12)]
    reports = at_once(lambda: sweep_stuck(db, now=T0 + 7 * HOUR, batch=2), copies=3)
    assert sum(len(r.verdicts) for r in reports if r.lock_acquired) == 12
    assert _stuck_moves(db) == {run.process_run_id: 1 for run in runs}


def test_a_sweep_cannot_hang_on_a_lock(postgres_db):
    db = postgres_db
    with db.begin() as conn:
        run = make_run(conn, "started", components=0)
    with db.begin() as blocker:
        blocker.exec_driver_sql("LOCK TABLE process_run_observation IN ACCESS EXCLUSIVE MODE")
        with pytest.raises(BatchTimeout, match="statement timeout"):
            sweep_stuck(db, now=T0 + 7 * HOUR, statement_timeout_seconds=0.5)
    assert _status(db, run) == "started"
    report = sweep_stuck(db, now=T0 + 7 * HOUR)
    assert report.lock_acquired and len(report.verdicts) == 1


def test_bad_sweep_arguments_are_refused(db):
    with pytest.raises(InvalidInput, match="statement timeout must be positive"):
        sweep_stuck(db, statement_timeout_seconds=0)
    with pytest.raises(InvalidInput, match="batch size"):
        sweep_stuck(db, batch=0)
