"""Maintenance jobs run the maintenance API through Dagster; their schedules fire when
stated, start RUNNING, and tag runs for the instance's one-at-a-time limit."""

import datetime as dt

import dagster as dg
import pydantic
import pytest

from procobs_dagster import definitions, ledger, maintenance
from procobs_dagster.defs.conventions import MAINTENANCE_TAG
from procobs_dagster.defs.maintenance.jobs import RetentionConfig
from procobs_dagster.errors import SchemaNotReady
from procobs_dagster.store.tables import audit_log, audit_log_archive, event_outbox
from procobs_dagster_tests.defs.conftest import resource_for
from procobs_dagster_tests.maintenance.helpers import T0, make_run
from procobs_dagster_tests.maintenance.table_helpers import count, emit, fan_out, settle, sink

# When each fires is pinned as the cron string itself, in UTC: Dagster has no public way
# to list a schedule's ticks, and an exact string leaves no other time it could fire at.
SCHEDULES = {
    # schedule: (job, its cron string: when it fires, as docs/dagster.md states it)
    "retention_daily": ("retention_job", "17 3 * * *"),
    "stuck_sweep_every_15_minutes": ("stuck_sweep_job", "*/15 * * * *"),
    "orphan_sweep_hourly": ("orphan_sweep_job", "7 * * * *"),
    "delivery_retention_hourly": ("delivery_retention_job", "52 * * * *"),
    "audit_retention_daily": ("audit_retention_job", "47 3 * * *"),
    "dossier_retention_daily": ("dossier_retention_job", "22 4 * * *"),
    "score_retention_daily": ("score_retention_job", "27 4 * * *"),
    "workflow_event_retention_daily": ("workflow_event_retention_job", "53 4 * * *"),
}
# A time any of them may be evaluated at: a schedule's request does not depend on it.
SOME_TICK = dt.datetime(2026, 3, 1, 3, 17, tzinfo=dt.UTC)


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_schedule_requests_its_tagged_job(name):
    defs = definitions.defs
    job_name, cron = SCHEDULES[name]
    schedule = defs.resolve_schedule_def(name)
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    assert schedule.job_name == job_name
    assert defs.resolve_job_def(job_name).tags[MAINTENANCE_TAG]
    assert (schedule.cron_schedule, schedule.execution_timezone) == (cron, "UTC")
    with dg.build_schedule_context(scheduled_execution_time=SOME_TICK) as context:
        data = schedule.evaluate_tick(context)
    (request,) = data.run_requests
    assert request.run_key is None


def _observation(result) -> dict:
    (event,) = [e for e in result.all_events if e.event_type_value == "ASSET_OBSERVATION"]
    observation = event.event_specific_data.asset_observation
    assert observation.asset_key == dg.AssetKey("process_run_observation")
    return {k: v.value for k, v in observation.metadata.items()}


def test_retention_job_archives_expired_runs(db, defs, instance):
    with db.begin() as conn:
        expired = make_run(conn, "completed", components=2)
        recent, _ = ledger.start_run(conn, candidate_code="PROC-CAND:maintenance")
    job = defs.resolve_job_def("retention_job")
    dry = job.execute_in_process(
        instance=instance,
        run_config={"ops": {"archive_expired_runs": {"config": {"dry_run": True}}}},
    )
    assert _observation(dry)["archived_runs"] == 1
    result = job.execute_in_process(instance=instance)
    assert result.success
    metadata = _observation(result)
    assert (metadata["archived_runs"], metadata["archived_components"]) == (1, 2)
    with db.read() as conn:
        assert [r.process_run_id for r in ledger.list_runs(conn)] == [recent.process_run_id]
    assert expired.process_run_id != recent.process_run_id


def test_retention_job_takes_a_typed_day_count_per_status(db, defs, instance):
    assert set(RetentionConfig.model_fields) - {"dry_run", "batch"} == set(
        maintenance.RetentionPolicy.model_fields
    )
    with db.begin() as conn:
        make_run(conn, "completed", components=2)
    job = defs.resolve_job_def("retention_job")

    def run(**config):
        return job.execute_in_process(
            instance=instance, run_config={"ops": {"archive_expired_runs": {"config": config}}}
        )

    kept = _observation(run(completed=None))  # null: kept forever
    assert kept["archived_runs"] == 0
    assert "| completed | forever |" in kept["policy_days"]
    # A misspelt status is refused at launch, a day count out of bounds naming its field;
    # neither archives anything.
    with pytest.raises(dg.DagsterInvalidConfigError, match="complete"):
        run(complete=30)
    with pytest.raises(pydantic.ValidationError, match="completed"):
        run(completed=-1)
    assert _observation(run(completed=30))["archived_runs"] == 1


def test_stuck_sweep_job_judges_overdue_runs(db, defs, instance):
    with db.begin() as conn:
        overdue = make_run(conn, "started", started=T0, components=0)
    result = defs.resolve_job_def("stuck_sweep_job").execute_in_process(instance=instance)
    metadata = _observation(result)
    assert (metadata["sweep"], metadata["verdicts"]) == ("stuck", 1)
    assert str(overdue.process_run_id) in metadata["judged"]
    with db.read() as conn:
        assert ledger.get_run(conn, overdue.process_run_id).status == "stuck"


def test_orphan_sweep_job_judges_work_left_under_an_ended_run(db, defs, instance):
    with db.begin() as conn:
        parent, _ = ledger.start_run(conn, candidate_code="PROC-CAND:maintenance", at=T0)
        left, _ = ledger.record_component(conn, process_run_id=parent.process_run_id, at=T0)
        ledger.finish_run(conn, parent.process_run_id, "failed", at=T0 + dt.timedelta(hours=1))
    result = defs.resolve_job_def("orphan_sweep_job").execute_in_process(instance=instance)
    metadata = _observation(result)
    assert (metadata["sweep"], metadata["verdicts"]) == ("orphan", 1)
    with db.read() as conn:
        assert ledger.get_component(conn, left.component_run_id).status == "orphan"


def test_maintenance_refuses_a_database_not_at_head(empty_db, instance):
    defs = definitions.build_definitions(resource_for(empty_db))
    with pytest.raises(SchemaNotReady, match="procobs db upgrade"):
        defs.resolve_job_def("stuck_sweep_job").execute_in_process(instance=instance)


def _logged(instance, result, job: str) -> list[str]:
    """The run's log lines of ``job`` (the table retention ops log their totals)."""
    messages = [entry.user_message for entry in instance.all_logs(result.run_id)]
    return [m for m in messages if m.startswith(f"{job}:")]


def test_delivery_retention_job_deletes_settled_rows(db, defs, instance):
    [event] = emit(db)
    fan_out(db, sink("a"))
    settle(db, event, "a", "delivered", T0)
    job = defs.resolve_job_def("delivery_retention_job")
    dry = job.execute_in_process(
        instance=instance,
        run_config={"ops": {"prune_delivery_state": {"config": {"dry_run": True}}}},
    )
    assert "would remove" in _logged(instance, dry, "retention: delivery")[-1]
    assert count(db, event_outbox) == 1
    result = job.execute_in_process(
        instance=instance,
        run_config={"ops": {"prune_delivery_state": {"config": {"outbox_days": None}}}},
    )
    assert "'delivery_state deleted': 1" in _logged(instance, result, "retention: delivery")[-1]
    assert count(db, event_outbox) == 1  # outbox_days null: kept forever
    defs.resolve_job_def("delivery_retention_job").execute_in_process(instance=instance)
    assert count(db, event_outbox) == 0


def test_audit_retention_job_archives(db, defs, instance):
    with db.begin() as conn:
        conn.execute(audit_log.insert(), {"recorded_at": T0, "actor": "t", "action": "a"})
    result = defs.resolve_job_def("audit_retention_job").execute_in_process(instance=instance)
    assert "'audit_log archived': 1" in _logged(instance, result, "retention: audit log")[-1]
    assert (count(db, audit_log), count(db, audit_log_archive)) == (0, 1)


@pytest.mark.parametrize(
    ("job", "op", "setting"),
    [
        ("dossier_retention_job", "prune_dossier_snapshots", "snapshots_per_feature"),
        ("score_retention_job", "prune_discovery_scores", "scores_per_candidate"),
        ("workflow_event_retention_job", "prune_workflow_events", "workflow_event_days"),
    ],
)
def test_table_retention_jobs_run_and_bound_their_config(db, defs, instance, job, op, setting):
    definition = defs.resolve_job_def(job)
    assert definition.execute_in_process(instance=instance).success
    with pytest.raises(pydantic.ValidationError, match=setting):
        definition.execute_in_process(
            instance=instance, run_config={"ops": {op: {"config": {setting: -1}}}}
        )
