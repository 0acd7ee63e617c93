"""Retention of raw workflow events: a run's reports go all together once the newest is
old; its workflow_run row stays, marked, and a replay leaves it alone."""

import pytest
import sqlalchemy as sa

from procobs_dagster.maintenance import TablePolicy, prune_workflow_events
from procobs_dagster.sources import workflow_store
from procobs_dagster.store.tables import workflow_event, workflow_run
from procobs_dagster_tests.maintenance.table_helpers import DAY, SECOND, T0, count, rows


def _report(db, run_key: str, *days: float, with_run: bool = True) -> None:
    """Reports of ``run_key`` received ``days`` after T0 (and its workflow_run row)."""
    with db.begin() as conn:
        conn.execute(
            workflow_event.insert(),
            [
                {
                    "source": "openlineage",
                    "run_key": run_key,
                    "event_type": "OTHER",
                    "event_time": T0 + day * DAY,
                    "received_at": T0 + day * DAY,
                    "document": {"day": day},
                }
                for day in days
            ],
        )
        if with_run:
            conn.execute(
                workflow_run.insert(),
                {
                    "source": "openlineage",
                    "run_key": run_key,
                    "placement": "held",
                    "facts": {},
                    "first_received_at": T0 + min(days) * DAY,
                    "updated_at": T0 + max(days) * DAY,
                },
            )


def _reported(db) -> dict[str, int]:
    with db.read() as conn:
        return dict(
            conn.execute(
                sa.select(workflow_event.c.run_key, sa.func.count()).group_by(
                    workflow_event.c.run_key
                )
            ).all()
        )


def _pruned(db) -> dict[str, bool]:
    with db.read() as conn:
        return {
            row.run_key: row.raw_pruned_at is not None
            for row in conn.execute(sa.select(workflow_run))
        }


def test_a_runs_reports_go_together_once_its_newest_is_old(db):
    _report(db, "old", 0, 1, 2)
    _report(db, "straddling", 0, 9)
    assert TablePolicy().workflow_event_days == 7
    early = prune_workflow_events(db, now=T0 + 9 * DAY - SECOND)  # "old"'s newest: 7 days less 1 s
    assert early.deleted == {"workflow_event": 0}
    report = prune_workflow_events(db, now=T0 + 9 * DAY + SECOND, batch=1)
    assert report.deleted == {"workflow_event": 3}
    assert _reported(db) == {"straddling": 2}
    assert _pruned(db) == {"old": True, "straddling": False}
    assert count(db, workflow_run) == 2  # the folded facts stay


def test_a_replay_leaves_a_pruned_run_alone_also_after_a_late_report(db):
    _report(db, "r1", 0)
    _report(db, "r2", 0)
    prune_workflow_events(db, TablePolicy(workflow_event_days=1), now=T0 + 2 * DAY)
    _report(db, "r1", 30, with_run=False)  # a late report of a pruned run
    _report(db, "r3", 30)
    with db.read() as conn:
        assert workflow_store.run_keys_after(conn, "openlineage", "", 100) == ["r3"]


def test_a_run_without_its_workflow_run_row_is_left_alone(db):
    _report(db, "orphan", 0, with_run=False)
    report = prune_workflow_events(db, now=T0 + 100 * DAY)
    assert report.deleted == {"workflow_event": 0}
    assert report.kept_back == {"workflow_run": 1}


def test_dry_run_counts_and_writes_nothing(db):
    _report(db, "a", 0, 1)
    _report(db, "b", 0)
    before = rows(db)
    dry = prune_workflow_events(db, now=T0 + 100 * DAY, dry_run=True)
    assert rows(db) == before
    assert dry.deleted == prune_workflow_events(db, now=T0 + 100 * DAY).deleted
    assert dry.deleted == {"workflow_event": 3}


def test_dry_run_counts_a_run_spanning_batches_once(db):
    _report(db, "long", 0, 1, 2, 3, 4)
    _report(db, "short", 2)
    _report(db, "young", 1, 99)
    dry = prune_workflow_events(db, now=T0 + 50 * DAY, batch=2, dry_run=True)
    real = prune_workflow_events(db, now=T0 + 50 * DAY, batch=2)
    assert dry.deleted == real.deleted == {"workflow_event": 6}
    assert dry.kept_back == real.kept_back == {"workflow_run": 1}


def test_a_failure_after_a_batch_keeps_that_batch_and_a_rerun_finishes(db):
    for key in ("a", "b", "c"):
        _report(db, key, 0)

    def fail(progress) -> None:
        raise RuntimeError("injected")

    with pytest.raises(RuntimeError, match="injected"):
        prune_workflow_events(db, now=T0 + 100 * DAY, batch=1, progress=fail)
    assert _reported(db) == {"b": 1, "c": 1}
    assert _pruned(db) == {"a": True, "b": False, "c": False}
    prune_workflow_events(db, now=T0 + 100 * DAY, batch=1)
    assert _reported(db) == {} and all(_pruned(db).values())


def test_a_run_being_recorded_is_skipped_not_waited_for(postgres_db):
    db = postgres_db
    _report(db, "busy", 0)
    _report(db, "idle", 0)
    with db.begin() as recorder:
        recorder.execute(
            sa.select(workflow_run.c.run_key)
            .where(workflow_run.c.run_key == "busy")
            .with_for_update()
        )
        report = prune_workflow_events(db, now=T0 + 100 * DAY, statement_timeout_seconds=5)
    assert report.deleted == {"workflow_event": 1}
    assert _reported(db) == {"busy": 1}
