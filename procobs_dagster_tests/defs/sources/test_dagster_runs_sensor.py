"""The Dagster runs sensor over real jobs executed in a test instance: a run of another code
location with its steps and materialisations, a failed step and its re-execution, ticks
bounded and resumed from their cursor, procobs's own runs left out (or recorded without an
event), and a database error that keeps the cursor."""

import dagster as dg
import pytest
import sqlalchemy as sa

from procobs_dagster import discovery
from procobs_dagster.definitions import build_definitions
from procobs_dagster.defs.conventions import LOCATION_NAME
from procobs_dagster.defs.sources import sensors
from procobs_dagster.defs.sources.sensors import dagster_runs_sensor, dagster_runs_sensor_for
from procobs_dagster.discovery.catalog import EMPTY_CATALOG
from procobs_dagster.errors import SchemaNotReady
from procobs_dagster.events import ProcessEventType, activation
from procobs_dagster.sources.dagster_runs import Position
from procobs_dagster.store.tables import event_outbox, workflow_event
from procobs_dagster_tests.defs.conftest import resource_for
from procobs_dagster_tests.defs.sources import jobs
from procobs_dagster_tests.sources.helpers import ledger_snapshot

JOB = f"dagster/{jobs.LOCATION}/nightly_orders"
CANDIDATE = f"PROC-CAND:workflow:{JOB}"


def tick(defs, procobs_db, instance, cursor=None, sensor=dagster_runs_sensor):
    with dg.build_sensor_context(
        instance=instance,
        cursor=cursor,
        definitions=defs,
        resources={"procobs_db": procobs_db},
    ) as context:
        return sensor.evaluate_tick(context)


def drain(defs, procobs_db, instance, cursor=None, sensor=dagster_runs_sensor):
    """Tick until the sensor has read everything; returns (ticks, the last cursor)."""
    ticks = 0
    while True:
        result = tick(defs, procobs_db, instance, cursor, sensor)
        ticks += 1
        cursor = result.cursor
        if "more to read" not in result.skip_message:
            return ticks, cursor


def snapshot(db) -> dict:
    with db.read() as conn:
        return ledger_snapshot(conn)


def by_job(snap: dict) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {}
    for entry in snap.values():
        job = entry["facts"]["job"][1]
        found.setdefault(job, []).append(entry)
    return found


def test_a_run_of_another_location_is_a_verified_workflow_run(db, defs, procobs_db, instance):
    result = jobs.execute(instance)
    assert result.success
    data = tick(defs, procobs_db, instance)
    assert "more to read" not in data.skip_message
    run = instance.get_run_by_id(result.run_id)
    snap = snapshot(db)
    header = snap[result.run_id]
    assert header["candidate"] == CANDIDATE and header["status"] == "completed"
    assert header["correlation_id"] == f"dagster:{result.run_id}"
    assert header["evidence"] == {"code": {"dagster_job_snapshot_id": run.job_snapshot_id}}
    starts = {
        r.event_log_entry.step_key: r.event_log_entry.timestamp
        for r in instance.get_records_for_run(
            result.run_id, of_type=dg.DagsterEventType.STEP_START
        ).records
    }
    extract, load = snap[f"{result.run_id}/extract"], snap[f"{result.run_id}/load"]
    assert (extract["dot_code"], load["dot_code"]) == (
        "nightly_orders.extract",
        "nightly_orders.load",
    )
    assert extract["header"] == load["header"] == result.run_id
    assert extract["started_at"].timestamp() == pytest.approx(starts["extract"], abs=1e-5)
    assert extract["status"] == load["status"] == "completed"
    assert extract["evidence"] == {
        "outputs": {"warehouse/raw_orders": {"row_count": 3}},
        "rows_touched": 3,
    }
    assert load["evidence"] == {
        "outputs": {"warehouse/orders": {"row_count": 3}, "warehouse/order_totals[2026-03-05]": {}},
        "rows_touched": 3,
    }
    with db.read() as conn:
        score = discovery.score_of(conn, EMPTY_CATALOG, CANDIDATE)
    assert score.status == "verified_candidate"

    # Nothing new: the next tick reads nothing and records nothing.
    again = tick(defs, procobs_db, instance, data.cursor)
    assert again.skip_message.startswith("0 record(s) read")
    assert snapshot(db) == snap


def test_a_failed_step_then_its_re_execution(db, defs, procobs_db, instance, tmp_path):
    marker = tmp_path / "ready"
    failed = jobs.execute(instance, marker=marker)
    assert not failed.success
    marker.touch()
    options = dg.ReexecutionOptions.from_failure(failed.run_id, instance)
    retried = jobs.execute(instance, reexecution_options=options)
    assert retried.success
    tick(defs, procobs_db, instance)

    snap = snapshot(db)
    first, second = snap[failed.run_id], snap[retried.run_id]
    assert first["status"] == "failed" and first["error"].startswith("Execution of run for")
    assert snap[f"{failed.run_id}/extract"]["status"] == "completed"
    load = snap[f"{failed.run_id}/load"]
    assert load["status"] == "failed" and load["error"] == "ValueError: the warehouse is not ready"
    # The re-execution is a run of the same job, nested under the run it re-executes, with
    # the one step it ran again.
    assert second["parent"] == failed.run_id and second["candidate"] == CANDIDATE
    assert second["status"] == "completed"
    assert [k for k, v in snap.items() if v.get("header") == retried.run_id] == [
        f"{retried.run_id}/load"
    ]
    with db.read() as conn:
        score = discovery.score_of(conn, EMPTY_CATALOG, CANDIDATE)
    # Neither run alone did the whole work: one failed, the other ran one step.
    assert (score.status, score.support, score.completed_runs) == ("observed", 2, 1)


def test_bounded_ticks_resume_from_their_cursor(
    db, defs, procobs_db, instance, tmp_path, monkeypatch
):
    marker = tmp_path / "ready"
    runs = [jobs.execute(instance, marker=marker) for _ in range(2)]
    marker.touch()
    runs += [jobs.execute(instance) for _ in range(2)]
    # Each run has 2 status changes and up to 8 step records: 3 records a tick stops inside
    # runs and inside their records, so every resumption path is taken.
    monkeypatch.setattr(sensors, "TICK_RECORDS", 3)
    ticks, cursor = drain(defs, procobs_db, instance)
    assert ticks > 4
    bounded = snapshot(db)
    assert {r.run_id for r in runs} <= set(bounded)

    # The same runs read in one tick give the same ledger; read again from the start,
    # nothing is recorded twice.
    with db.begin() as conn:
        for table in ("workflow_event", "workflow_run"):
            conn.execute(sa.text(f"DELETE FROM {table}"))
    monkeypatch.setattr(sensors, "TICK_RECORDS", 1000)
    with db.read() as conn:
        kept = conn.execute(sa.select(sa.func.count()).select_from(workflow_event)).scalar_one()
    assert kept == 0
    ticks, _ = drain(defs, procobs_db, instance)
    assert ticks == 1
    assert snapshot(db) == bounded
    with db.read() as conn:
        kept = conn.execute(sa.select(sa.func.count()).select_from(workflow_event)).scalar_one()
    again = tick(defs, procobs_db, instance)
    assert "0 new report(s)" in again.skip_message
    with db.read() as conn:
        assert (
            conn.execute(sa.select(sa.func.count()).select_from(workflow_event)).scalar_one()
            == kept
        )
    assert Position.decode(cursor) == Position.decode(again.cursor)


def procobs_runs(defs, instance, *, launched_from: str | None):
    """procobs's delivery job and an asset refresh, run as the daemon launches them (from
    procobs's location) or in-process (no location at all)."""
    tags = {} if launched_from is None else {jobs.CODE_LOCATION_TAG: launched_from}
    for job in (defs.resolve_job_def("delivery_job"), defs.resolve_implicit_global_asset_job_def()):
        subset = (
            job.get_subset(
                asset_selection={dg.AssetKey("event_type_registry"), dg.AssetKey("event_outbox")}
            )
            if job.name == "__ASSET_JOB"
            else job
        )
        assert subset.execute_in_process(instance=instance, tags=tags).success


@pytest.mark.parametrize("launched_from", [LOCATION_NAME, None], ids=["daemon", "in-process"])
def test_procobs_own_runs_are_left_out(db, defs, procobs_db, instance, launched_from):
    procobs_runs(defs, instance, launched_from=launched_from)
    foreign = jobs.execute(instance)
    data = tick(defs, procobs_db, instance)
    assert "4 status change(s) of procobs's own runs left out" in data.skip_message
    assert {v["facts"]["run_key"] for v in snapshot(db).values() if v["placement"] == "run"} == {
        foreign.run_id
    }


def test_procobs_own_runs_observed_are_recorded_without_an_event(db, defs, procobs_db, instance):
    with db.begin() as conn:
        packet = activation.stage(conn, [t.value for t in ProcessEventType])
        activation.apply(conn, packet, approved_by="test")
    procobs_runs(defs, instance, launched_from=LOCATION_NAME)
    observing = dagster_runs_sensor_for(observe_own_runs=True)
    data = tick(defs, procobs_db, instance, sensor=observing)
    assert "of procobs's own runs recorded without an event" in data.skip_message
    jobs_seen = by_job(snapshot(db))
    assert {e["status"] for e in jobs_seen["delivery_job"]} == {"completed"}
    assert {e["candidate"] for e in jobs_seen["__ASSET_JOB"]} == {
        f"PROC-CAND:workflow:dagster/{LOCATION_NAME}/__ASSET_JOB"
    }
    with db.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(event_outbox)).scalar_one() == 0
    # Another location's run, recorded in the same way, announces itself.
    jobs.execute(instance)
    tick(defs, procobs_db, instance, data.cursor, sensor=observing)
    with db.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(event_outbox)).scalar_one() > 0


def test_a_database_not_migrated_fails_the_tick_and_keeps_the_cursor(empty_db, defs, instance):
    jobs.execute(instance)
    with pytest.raises(SchemaNotReady):
        tick(defs, resource_for(empty_db), instance, cursor=Position(after=0).encode())


def test_the_sensor_is_in_the_code_location_and_starts_running(defs):
    sensor = defs.resolve_sensor_def("dagster_runs_sensor")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    assert sensor.minimum_interval_seconds == 15
    assert "left out" in sensor.description


def test_without_its_definitions_the_sensor_refuses_to_guess(procobs_db, instance):
    with (
        pytest.raises(dg.DagsterInvariantViolationError, match="definitions"),
        dg.build_sensor_context(instance=instance, resources={"procobs_db": procobs_db}) as context,
    ):
        dagster_runs_sensor.evaluate_tick(context)


@pytest.mark.postgres_only
def test_on_the_production_instance_storage(
    production_instance, postgres_db, tmp_path, monkeypatch
):
    """Dagster's storage on PostgreSQL (deploy/dagster.yaml): one event log for all runs,
    not SQLite's shards — the same reading, the same ledger."""
    instance = production_instance
    procobs_db = resource_for(postgres_db)
    defs = build_definitions(procobs_db)
    marker = tmp_path / "ready"
    failed = jobs.execute(instance, marker=marker)
    marker.touch()
    options = dg.ReexecutionOptions.from_failure(failed.run_id, instance)
    retried = jobs.execute(instance, reexecution_options=options)
    monkeypatch.setattr(sensors, "TICK_RECORDS", 3)
    ticks, _ = drain(defs, procobs_db, instance)
    assert ticks > 2
    snap = snapshot(postgres_db)
    assert snap[failed.run_id]["status"] == "failed"
    assert snap[retried.run_id]["parent"] == failed.run_id
    assert snap[f"{retried.run_id}/load"]["status"] == "completed"


def test_a_run_canceled_before_it_started(db, defs, procobs_db, instance):
    """A queued run cancelled before it started: a run of its own, cancelled, no steps."""
    run = instance.create_run_for_job(
        jobs.nightly_orders, tags={jobs.CODE_LOCATION_TAG: jobs.LOCATION}
    )
    instance.report_run_canceled(run, message="cancelled from the UI")
    tick(defs, procobs_db, instance)
    header = snapshot(db)[run.run_id]
    assert (header["candidate"], header["status"]) == (CANDIDATE, "cancelled")
    assert header["error"] == "cancelled from the UI"
    assert [k for k, v in snapshot(db).items() if v.get("header") == run.run_id] == []
