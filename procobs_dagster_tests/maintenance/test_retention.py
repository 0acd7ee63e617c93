"""Retention: the policy at its edges, families, dry runs, and what a killed run leaves."""

import datetime as dt
import multiprocessing
import os
import signal
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from procobs_dagster import ledger
from procobs_dagster.errors import InvalidInput, UnknownRun
from procobs_dagster.maintenance import (
    RetentionPolicy,
    TablePolicy,
    archive_run_batch,
    run_retention,
)
from procobs_dagster.maintenance import retention as retention_module
from procobs_dagster.store.engine import Database
from procobs_dagster.store.tables import (
    process_component_observation,
    process_run_observation,
    process_run_observation_archive,
    process_status_history,
)
from procobs_dagster.store.vocabulary import TERMINAL_STATUSES
from procobs_dagster_tests.concurrency import at_once, wait_for_lock_waiter
from procobs_dagster_tests.maintenance.helpers import (
    DAY,
    HOUR,
    T0,
    live_and_archived,
    make_run,
    run_ids,
    snapshot,
)

# The stated policy (completed 90, failed/stuck 180) and procobs's choice for the rest
# (docs/design.md, "Retention and the sweeps").
DEFAULT_DAYS = {"completed": 90, "failed": 180, "cancelled": 90, "stuck": 180, "orphan": 180}


def test_default_policy_is_the_stated_one():
    assert RetentionPolicy().keep_days() == DEFAULT_DAYS
    assert set(DEFAULT_DAYS) == {*TERMINAL_STATUSES, "stuck", "orphan"}


@pytest.mark.parametrize(("status", "days"), sorted(DEFAULT_DAYS.items()))
def test_policy_edges(db, status, days):
    """Kept one day before the edge, archived (whole and unchanged) one day after. A
    terminal run ages from ended_at (a month after it started here), a verdict from
    started_at."""
    with db.begin() as conn:
        run = make_run(conn, status, ended=T0 + 30 * DAY)
    age_from = run.ended_at if status in TERMINAL_STATUSES else run.started_at
    before = snapshot(db)

    kept = run_retention(db, now=age_from + (days - 1) * DAY)
    assert (kept.runs, kept.rows) == (0, 0)
    assert snapshot(db) == before

    archived = run_retention(db, now=age_from + (days + 1) * DAY)
    assert (archived.runs, archived.components, archived.history) == (1, 2, 6)
    assert archived.runs_by_status == {status: 1}
    after = snapshot(db)
    for live in ("process_run_observation", "process_component_observation"):
        assert after[live] == {}
        assert after[f"{live}_archive"] == before[live]
    assert after["process_status_history_archive"] == before["process_status_history"]
    assert after["process_status_history"] == {}


def test_runs_in_flight_and_young_runs_stay(db):
    with db.begin() as conn:
        in_flight = make_run(conn, "started")
        observed, _ = ledger.start_run(conn, candidate_code="x", status="observed", at=T0)
        young = make_run(conn, "completed", started=T0 + 300 * DAY)
        old = make_run(conn, "completed")
    report = run_retention(db, now=T0 + 365 * DAY)
    assert report.runs == 1
    assert run_ids(snapshot(db)) == {
        in_flight.process_run_id,
        observed.process_run_id,
        young.process_run_id,
    }
    assert old.process_run_id not in run_ids(snapshot(db))


def test_policy_is_configurable_per_status(db):
    with db.begin() as conn:
        completed = make_run(conn, "completed")
        failed = make_run(conn, "failed")
    policy = RetentionPolicy().with_keep_options(["completed=forever", "failed=10"])
    report = run_retention(db, policy, now=T0 + 20 * DAY)
    assert report.runs_by_status == {"failed": 1}
    assert report.policy["completed"] is None
    assert run_ids(snapshot(db)) == {completed.process_run_id}
    assert failed.process_run_id not in run_ids(snapshot(db))


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("completed", "expected STATUS=DAYS"),
        ("started=3", "expected STATUS=DAYS"),
        ("failed=-1", "DAYS must be a whole number"),
        ("failed=soon", "DAYS must be a whole number"),
    ],
)
def test_bad_policy_options_are_refused(option, message):
    with pytest.raises(InvalidInput, match=message):
        RetentionPolicy().with_keep_options([option])


def test_policies_out_of_bounds_are_refused_naming_the_setting():
    with pytest.raises(InvalidInput, match=r"^retention policy: failed: Input should be less"):
        RetentionPolicy().with_keep({"failed": 10**9})
    with pytest.raises(
        InvalidInput, match=r"^retention policy: outbox_days: Input should be great"
    ):
        TablePolicy().with_settings({"outbox_days": 0})


def test_bad_arguments_write_nothing(db):
    with db.begin() as conn:
        make_run(conn)
    before = snapshot(db)
    with pytest.raises(InvalidInput, match="batch size"):
        run_retention(db, now=T0 + 365 * DAY, batch=0)
    with pytest.raises(InvalidInput, match="timezone-aware"):
        run_retention(db, now=dt.datetime(2026, 1, 1))
    assert snapshot(db) == before


def test_dry_run_counts_what_a_run_moves_and_changes_nothing(db):
    with db.begin() as conn:
        for status in ("completed", "failed", "started"):
            make_run(conn, status)
        parent = make_run(conn, "completed")
        make_run(conn, "completed", parent=parent, components=1)
    before = snapshot(db)
    counted = run_retention(db, now=T0 + 365 * DAY, batch=2, dry_run=True)
    assert snapshot(db) == before
    moved = run_retention(db, now=T0 + 365 * DAY, batch=2)
    assert counted.dry_run and not moved.dry_run
    assert (counted.runs, counted.components, counted.history) == (4, 7, 4 * 2 + 7 * 2)
    assert (moved.runs, moved.components, moved.history, moved.runs_by_status) == (
        counted.runs,
        counted.components,
        counted.history,
        counted.runs_by_status,
    )


def test_a_family_moves_whole_and_only_when_all_of_it_expired(db):
    """A root, its child and grandchild move together; an expired root whose child is
    still in flight keeps its whole family; an expired child of a live parent stays."""
    with db.begin() as conn:
        root = make_run(conn, "completed", ended=T0 + DAY)
        child = make_run(conn, "completed", parent=root)
        make_run(conn, "failed", parent=child, components=1)
        waiting = make_run(conn, "completed")
        unfinished_child = make_run(conn, "started", parent=waiting)
        live_parent = make_run(conn, "started")
        make_run(conn, "completed", parent=live_parent)

    report = run_retention(db, now=T0 + 200 * DAY)
    assert (report.runs, report.components, report.families_kept_back) == (3, 5, 1)
    live = run_ids(snapshot(db))
    assert root.process_run_id not in live and child.process_run_id not in live
    assert {waiting.process_run_id, unfinished_child.process_run_id} <= live
    assert len(live) == 4

    # The orphan verdict ends the unfinished child; 180 days after it started, the
    # family has expired as a whole.
    with db.begin() as conn:
        ledger.transition_run(conn, unfinished_child.process_run_id, "orphan", at=T0 + 2 * DAY)
    assert run_retention(db, now=T0 + 181 * DAY).runs == 2
    assert run_ids(snapshot(db)) == live - {
        waiting.process_run_id,
        unfinished_child.process_run_id,
    }


def test_runless_components_follow_the_policy_with_their_history(db):
    with db.begin() as conn:
        standalone, _ = ledger.record_component(conn, standalone=True, dot_code="DOT_X", at=T0)
        ledger.transition_component(conn, standalone.component_run_id, "completed", at=T0 + HOUR)
        in_flight, _ = ledger.record_component(conn, standalone=True, at=T0)
    report = run_retention(db, now=T0 + 91 * DAY)
    assert (report.runs, report.components, report.history) == (0, 1, 2)
    after = snapshot(db)
    assert set(after["process_component_observation"]) == {in_flight.component_run_id}
    assert set(after["process_component_observation_archive"]) == {standalone.component_run_id}
    assert {h["subject_id"] for h in after["process_status_history"].values()} == {
        in_flight.component_run_id
    }


def _expired_runs(db, count: int) -> None:
    with db.begin() as conn:
        for _ in range(count):
            make_run(conn, "completed")
        make_run(conn, "started")
        make_run(conn, "completed", started=T0 + 300 * DAY)


def _assert_first_batches_moved_whole(db, original: dict, batches: int) -> None:
    """Nothing lost or doubled, and the archive holds whole runs only."""
    after = snapshot(db)
    assert live_and_archived(after) == original
    archived = set(after["process_run_observation_archive"])
    assert len(archived) == 2 * batches
    for table in ("process_component_observation", "process_status_history"):
        for row in after[f"{table}_archive"].values():
            assert row["process_run_id"] in archived
        for row in after[table].values():
            assert row["process_run_id"] not in archived


def _retain_and_hang(url: str, now: str, ready: str) -> None:
    """Run retention in batches of 2, announcing each committed batch, and hang after the
    first, waiting to be killed."""

    def announce_and_hang(progress) -> None:
        Path(ready).write_text(str(progress.batch))
        time.sleep(120)

    run_retention(
        Database(url), now=dt.datetime.fromisoformat(now), batch=2, progress=announce_and_hang
    )


def test_retention_killed_between_batches_loses_nothing(db, tmp_path):
    _expired_runs(db, 6)
    original = live_and_archived(snapshot(db))
    ready = tmp_path / "first-batch-committed"
    now = T0 + 365 * DAY
    process = multiprocessing.get_context("spawn").Process(
        target=_retain_and_hang,
        args=(db.url.render_as_string(hide_password=False), now.isoformat(), str(ready)),
    )
    process.start()
    try:
        deadline = time.monotonic() + 60
        while not ready.exists() and process.is_alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert ready.exists(), "the retention process never committed a batch"
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.join()
    assert process.exitcode == -signal.SIGKILL
    _assert_first_batches_moved_whole(db, original, batches=1)

    rerun = run_retention(db, now=now, batch=2)
    assert rerun.runs == 4
    after = snapshot(db)
    assert live_and_archived(after) == original
    assert len(after["process_run_observation"]) == 2


def test_a_failure_after_a_batch_keeps_that_batch_and_a_rerun_finishes(db):
    _expired_runs(db, 5)
    original = live_and_archived(snapshot(db))

    def fail_after_second_batch(progress) -> None:
        if progress.batch == 2:
            raise RuntimeError("injected")

    with pytest.raises(RuntimeError, match="injected"):
        run_retention(db, now=T0 + 365 * DAY, batch=2, progress=fail_after_second_batch)
    _assert_first_batches_moved_whole(db, original, batches=2)
    assert run_retention(db, now=T0 + 365 * DAY, batch=2).runs == 1
    assert live_and_archived(snapshot(db)) == original


def test_a_failure_inside_a_batch_rolls_the_whole_batch_back(db, monkeypatch):
    """Components and history already moved in a batch come back if the headers fail."""
    _expired_runs(db, 3)
    before = snapshot(db)
    real_move = retention_module._move

    def move_then_fail_on_headers(conn, live, where, archived_at):
        if live is process_run_observation:
            raise RuntimeError("injected")
        return real_move(conn, live, where, archived_at)

    monkeypatch.setattr(retention_module, "_move", move_then_fail_on_headers)
    with pytest.raises(RuntimeError, match="injected"):
        run_retention(db, now=T0 + 365 * DAY)
    assert snapshot(db) == before


def test_no_component_is_left_pointing_at_an_archived_run(db):
    with db.begin() as conn:
        for _ in range(3):
            parent = make_run(conn, "completed")
            make_run(conn, "failed", parent=parent)
    run_retention(db, now=T0 + 365 * DAY, batch=1)
    with db.read() as conn:
        dangling = conn.execute(
            sa.select(sa.func.count())
            .select_from(process_component_observation)
            .where(
                process_component_observation.c.process_run_id.not_in(
                    sa.select(process_run_observation.c.process_run_id)
                )
            )
        ).scalar_one()
        archived = conn.execute(
            sa.select(sa.func.count()).select_from(process_run_observation_archive)
        ).scalar_one()
    assert (dangling, archived) == (0, 6)


def test_a_run_a_writer_holds_is_skipped_not_waited_for(postgres_db):
    db = postgres_db
    with db.begin() as conn:
        held = make_run(conn, "completed")
        free = make_run(conn, "completed")
    with db.begin() as writer:
        writer.execute(
            sa.select(process_run_observation.c.process_run_id)
            .where(process_run_observation.c.process_run_id == held.process_run_id)
            .with_for_update()
        )
        report = run_retention(db, now=T0 + 365 * DAY, statement_timeout_seconds=5)
    assert report.runs == 1
    assert run_ids(snapshot(db)) == {held.process_run_id}
    assert free.process_run_id not in run_ids(snapshot(db))
    assert run_retention(db, now=T0 + 365 * DAY).runs == 1


def test_two_retention_runs_never_move_a_family_twice(postgres_db):
    db = postgres_db
    with db.begin() as conn:
        for _ in range(40):
            make_run(conn, "completed", components=1)
    original = live_and_archived(snapshot(db))
    reports = at_once(lambda: run_retention(db, now=T0 + 365 * DAY, batch=3), copies=2)
    assert sum(r.runs for r in reports) == 40
    assert live_and_archived(snapshot(db)) == original


def test_a_child_started_under_a_parent_being_archived_is_refused(postgres_db):
    """The parent's key is held by the child's start, so retention and a new child
    serialise: here retention wins and the child is told its parent is gone."""
    db = postgres_db
    with db.begin() as conn:
        parent = make_run(conn, "completed")
    outcome = {}

    def start_child() -> None:
        try:
            with db.begin() as conn:
                ledger.start_run(conn, candidate_code="late", parent_run_id=parent.process_run_id)
        except UnknownRun as exc:
            outcome["error"] = exc

    with db.begin() as conn:
        batch = archive_run_batch(conn, RetentionPolicy(), now=T0 + 365 * DAY)
        assert batch.runs == 1
        thread = threading.Thread(target=start_child)
        thread.start()
        wait_for_lock_waiter(db)
    thread.join(timeout=10)
    assert f"unknown run {parent.process_run_id}" in str(outcome["error"])
    with db.read() as conn:
        assert (
            conn.execute(
                sa.select(sa.func.count()).select_from(process_run_observation)
            ).scalar_one()
            == 0
        )
        assert (
            conn.execute(
                sa.select(sa.func.count()).select_from(process_status_history)
            ).scalar_one()
            == 0
        )
