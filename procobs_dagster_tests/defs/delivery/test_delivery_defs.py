"""Delivery runs drain the outbox to the configured sinks; alert runs deliver at once; the
dead-letter check warns per sink; the backlog check warns once an owed event outgrows its
window."""

import datetime as dt
import json

import dagster as dg
import pytest
import sqlalchemy as sa

from procobs_dagster.clock import utcnow
from procobs_dagster.definitions import build_definitions
from procobs_dagster.defs.automation import OUTBOX_BACKLOG_MINUTES
from procobs_dagster.defs.resources import DeliverySinks
from procobs_dagster.store.tables import delivery_state
from procobs_dagster_tests.delivery.helpers import (
    SECRET,
    SECRET_ENV,
    Receiver,
    webhook_config,
    write_sinks_file,
)
from procobs_dagster_tests.outbox_rows import insert_outbox_rows, wait_until_readable


@pytest.fixture
def archive(tmp_path):
    """A file sink configured through a sinks YAML file, as PROCOBS_SINKS_FILE names one."""
    events = tmp_path / "events.jsonl"
    sinks = tmp_path / "sinks.yaml"
    sinks.write_text(f"sinks:\n  - name: archive\n    kind: file\n    path: {events}\n")
    return sinks, events


@pytest.fixture
def delivering_defs(procobs_db, archive):
    return build_definitions(procobs_db, DeliverySinks(sinks_file=str(archive[0])))


def delivered_ids(events_file) -> list[str]:
    if not events_file.exists():
        return []
    return [json.loads(line)["id"] for line in events_file.read_text().splitlines()]


def observation(result) -> dict:
    (event,) = [e for e in result.all_events if e.event_type_value == "ASSET_OBSERVATION"][-1:]
    return {k: v.value for k, v in event.event_specific_data.asset_observation.metadata.items()}


def test_delivery_job_drains_the_outbox_to_the_sinks(db, delivering_defs, instance, archive):
    with db.begin() as conn:
        written = insert_outbox_rows(conn, "process.run.completed", count=5)
    wait_until_readable(db)
    result = delivering_defs.resolve_job_def("delivery_job").execute_in_process(instance=instance)
    assert result.success
    assert sorted(delivered_ids(archive[1])) == sorted(map(str, written))
    metadata = observation(result)
    assert (metadata["delivered"], metadata["dead"]) == (5, 0)
    assert "| archive | 0 | 0 | 5 | 0 | 0 |" in metadata["delivery_state"]


def test_without_a_sink_events_wait_in_the_outbox(db, defs, instance):
    with db.begin() as conn:
        insert_outbox_rows(conn, "process.run.completed")
    result = defs.resolve_job_def("delivery_job").execute_in_process(instance=instance)
    assert result.success
    with db.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(delivery_state)).scalar() == 0


def test_alert_job_raises_then_delivers_at_once(db, delivering_defs, instance, archive):
    with db.begin() as conn:
        alerts = insert_outbox_rows(conn, "process.evidence.missing", count=2)
    wait_until_readable(db)
    result = delivering_defs.resolve_job_def("alert_job").execute_in_process(
        instance=instance,
        run_config={"ops": {"raise_alerts": {"config": {"event_ids": list(map(str, alerts))}}}},
    )
    assert result.success
    assert sorted(delivered_ids(archive[1])) == sorted(map(str, alerts))


def test_dead_letter_check_warns_per_sink(db, delivering_defs, instance):
    with db.begin() as conn:
        insert_outbox_rows(conn, "process.run.completed", count=2)
    wait_until_readable(db)
    job = delivering_defs.resolve_implicit_global_asset_job_def()
    (check_key,) = [
        k
        for k in delivering_defs.resolve_asset_graph().asset_check_keys
        if k.name == "no_dead_deliveries"
    ]
    check = job.get_subset(asset_selection=set(), asset_check_selection={check_key})
    delivering_defs.resolve_job_def("delivery_job").execute_in_process(instance=instance)
    assert check.execute_in_process(instance=instance).get_asset_check_evaluations()[0].passed
    with db.begin() as conn:
        conn.execute(delivery_state.update().values(state="dead", delivered_at=None))
    (evaluation,) = check.execute_in_process(instance=instance).get_asset_check_evaluations()
    assert not evaluation.passed
    assert evaluation.severity == dg.AssetCheckSeverity.WARN
    assert evaluation.description == "archive: 2 dead"


def test_backlog_check_warns_once_an_owed_event_outgrows_its_window(
    db, delivering_defs, instance, monkeypatch
):
    key = dg.AssetCheckKey(dg.AssetKey("event_outbox"), "oldest_undelivered_within_window")
    job = delivering_defs.resolve_implicit_global_asset_job_def()

    def backlog_check(at: dt.datetime) -> dg.AssetCheckEvaluation:
        monkeypatch.setattr("procobs_dagster.defs.delivery.checks.utcnow", lambda: at)
        result = job.get_subset(
            asset_selection=set(), asset_check_selection={key}
        ).execute_in_process(instance=instance)
        (evaluation,) = result.get_asset_check_evaluations()
        return evaluation

    with db.begin() as conn:
        insert_outbox_rows(conn, "process.run.completed", count=2)
    wait_until_readable(db)
    now = utcnow()
    # No sink has started: nothing is owed yet.
    assert backlog_check(now).description == "nothing owed to any sink"
    assert (
        delivering_defs.resolve_job_def("delivery_job")
        .execute_in_process(instance=instance)
        .success
    )
    with db.begin() as conn:
        insert_outbox_rows(conn, "process.run.completed", count=3)
    within = backlog_check(now + dt.timedelta(minutes=OUTBOX_BACKLOG_MINUTES - 1))
    assert within.passed and within.metadata["undelivered"].value == 3
    late = backlog_check(now + dt.timedelta(minutes=OUTBOX_BACKLOG_MINUTES + 1))
    assert (late.passed, late.severity) == (False, dg.AssetCheckSeverity.WARN)
    assert late.description.startswith("the oldest undelivered event is ")
    assert late.metadata["oldest_undelivered_age_seconds"].value > OUTBOX_BACKLOG_MINUTES * 60


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"ops": {"deliver_outbox": {"config": {"batch": 10**7}}}}, "batch"),
        ({"ops": {"deliver_outbox": {"config": {"batch": 2**63}}}}, "batch"),
        ({"ops": {"deliver_outbox": {"config": {"max_cycles": 10**30}}}}, "max_cycles"),
        ({"ops": {"raise_alerts": {"config": {"event_ids": ["x" * 100_000]}}}}, "event_ids"),
        ({"ops": {"raise_alerts": {"config": {"event_ids": ["0190"] * 20_000}}}}, "event_ids"),
    ],
)
def test_delivery_run_config_out_of_bounds_fails_the_step_naming_the_field(
    db, delivering_defs, instance, config, field
):
    """The probe's D2 and D5: such values reached the database (bigint out of range) or
    an error echoing 100 kB; now the config is refused before anything is read."""
    with db.begin() as conn:
        insert_outbox_rows(conn, "process.run.completed", count=2)
    wait_until_readable(db)
    job = "alert_job" if "raise_alerts" in config["ops"] else "delivery_job"
    result = delivering_defs.resolve_job_def(job).execute_in_process(
        instance=instance, run_config=config, raise_on_error=False
    )
    assert not result.success
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    cause = failure.event_specific_data.error.cause
    assert cause.cls_name == "ValidationError" and field in cause.message
    assert len(cause.message) < 2_000
    with db.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(delivery_state)).scalar() == 0


def test_a_delivery_run_survives_a_hostile_retry_after(db, procobs_db, instance, tmp_path):
    """The probe's D3: a receiver answering `Retry-After: ²` failed every delivery run
    after the events had been POSTed, and left them `delivering`."""
    receiver = Receiver()
    try:
        receiver.respond = lambda _id, _body: (503, {"Retry-After": "²"})
        sinks = write_sinks_file(tmp_path / "sinks.yaml", webhook_config(receiver.url))
        defs = build_definitions(procobs_db, DeliverySinks(sinks_file=str(sinks)))
        with db.begin() as conn:
            insert_outbox_rows(conn, "process.run.completed", count=3)
        wait_until_readable(db)
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv(SECRET_ENV, SECRET)
            result = defs.resolve_job_def("delivery_job").execute_in_process(instance=instance)
    finally:
        receiver.close()
    assert result.success
    assert observation(result)["retried"] == 3
    with db.read() as conn:
        states = conn.execute(sa.select(delivery_state.c.state)).scalars().all()
    assert states == ["retry"] * 3
