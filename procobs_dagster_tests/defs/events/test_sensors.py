"""The outbox sensors: evaluated with build_sensor_context, through evaluate_tick with the
code location's definitions, against late commits on Postgres, and on database errors
(every sensor that reads the procobs database)."""

import dagster as dg
import pytest

from procobs_dagster.defs.dossier.sensors import dossier_features_sensor
from procobs_dagster.defs.events.sensors import (
    ALERT_PAGE,
    event_outbox_sensor,
    immediate_lane_sensor,
)
from procobs_dagster.defs.resources import ProcobsDatabase
from procobs_dagster.errors import DatabaseUnreachable, SchemaNotReady
from procobs_dagster.events.feed import OutboxPosition
from procobs_dagster_tests.defs.conftest import resource_for
from procobs_dagster_tests.outbox_rows import insert_outbox_rows, wait_until_readable

ALERT = "process.run.failed"  # lane 'immediate'
UPDATE = "process.run.completed"  # lane 'delayed'


def tick(sensor, procobs_db, cursor=None, defs=None) -> dg.SensorResult:
    with dg.build_sensor_context(
        cursor=cursor, resources={"procobs_db": procobs_db}, definitions=defs
    ) as context:
        return sensor.evaluate_tick(context)


def alert_ids(data) -> list[str]:
    return [
        event_id
        for request in data.run_requests
        for event_id in request.run_config["ops"]["raise_alerts"]["config"]["event_ids"]
    ]


def drain(sensor, db, procobs_db, cursor=None):
    """Tick until the sensor skips; returns (event ids requested, run keys, cursor)."""
    wait_until_readable(db)
    requested, keys = [], []
    while True:
        data = tick(sensor, procobs_db, cursor)
        cursor = data.cursor
        if not data.run_requests:
            return requested, keys, cursor
        requested += alert_ids(data)
        keys += [r.run_key for r in data.run_requests]


def test_immediate_lane_sensor_requests_an_alert_run_for_alert_rows_only(db, procobs_db):
    with db.begin() as conn:
        insert_outbox_rows(conn, UPDATE, count=3)
        alerts = insert_outbox_rows(conn, ALERT, count=2)
        insert_outbox_rows(conn, UPDATE, count=1)
    wait_until_readable(db)
    with dg.build_sensor_context(resources={"procobs_db": procobs_db}) as context:
        result = immediate_lane_sensor(context)
    (request,) = result.run_requests
    assert request.run_config["ops"]["raise_alerts"]["config"]["event_ids"] == list(
        map(str, alerts)
    )
    assert request.run_key.startswith("alerts:")
    # Nothing new: the next tick skips and keeps (or only moves) its cursor.
    again = tick(immediate_lane_sensor, procobs_db, result.cursor)
    assert again.run_requests == []
    assert again.skip_message == "no new immediate-lane event"
    assert OutboxPosition.decode(again.cursor) == OutboxPosition.decode(result.cursor)


def test_immediate_lane_sensor_through_the_code_location(db, defs, procobs_db):
    sensor = defs.resolve_sensor_def("immediate_lane_sensor")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    assert sensor.job_name == "alert_job"
    with db.begin() as conn:
        alerts = insert_outbox_rows(conn, ALERT, count=ALERT_PAGE + 1)
    wait_until_readable(db)
    first = tick(sensor, procobs_db, defs=defs)
    second = tick(sensor, procobs_db, first.cursor, defs=defs)
    assert (len(first.run_requests), len(second.run_requests)) == (1, 1)
    assert alert_ids(first) + alert_ids(second) == list(map(str, alerts))
    assert first.run_requests[0].run_key != second.run_requests[0].run_key


def test_alert_job_raises_the_events_it_is_given(db, defs, instance):
    with db.begin() as conn:
        alerts = insert_outbox_rows(conn, ALERT, count=2)
    result = defs.resolve_job_def("alert_job").execute_in_process(
        instance=instance,
        run_config={"ops": {"raise_alerts": {"config": {"event_ids": list(map(str, alerts))}}}},
    )
    assert result.success
    (observation,) = [
        e.event_specific_data.asset_observation
        for e in result.all_events
        if e.event_type_value == "ASSET_OBSERVATION"
    ]
    assert observation.metadata["alerts"].value == 2
    assert "process.run.failed" in observation.metadata["events"].value


SENSORS = pytest.mark.parametrize(
    "sensor",
    [event_outbox_sensor, immediate_lane_sensor, dossier_features_sensor],
    ids=lambda s: s.name,
)
# Nothing listens on port 9: connecting fails at once.
UNREACHABLE = ProcobsDatabase(database_url="postgresql+psycopg2://procobs@127.0.0.1:9/nowhere")


@SENSORS
def test_a_database_not_at_head_fails_the_tick_naming_the_fix(empty_db, sensor):
    """Dagster then keeps the old cursor, and the tick's error says what to run."""
    cursor = OutboxPosition(tx_id=0, seq=5).encode()
    with pytest.raises(SchemaNotReady, match="run `procobs db upgrade`"):
        tick(sensor, resource_for(empty_db), cursor)


@SENSORS
def test_an_unreachable_database_fails_the_tick_instead_of_skipping(sensor):
    cursor = OutboxPosition(tx_id=0, seq=5).encode()
    with pytest.raises(DatabaseUnreachable, match="cannot reach database"):
        tick(sensor, UNREACHABLE, cursor)


@pytest.mark.postgres_only
def test_late_commit_is_requested_exactly_once(postgres_db):
    """A transaction that took a lower seq commits after one with a higher seq; the sensor
    yields both, each once, across ticks."""
    procobs_db = resource_for(postgres_db)
    with postgres_db.begin() as conn:
        first = insert_outbox_rows(conn, ALERT)
    requested, keys, cursor = drain(immediate_lane_sensor, postgres_db, procobs_db)
    assert requested == list(map(str, first))

    with postgres_db.engine.connect() as early, postgres_db.engine.connect() as late:
        early_tx = early.begin()
        early_ids = insert_outbox_rows(early, ALERT)
        with late.begin():
            late_ids = insert_outbox_rows(late, ALERT)
        held = tick(immediate_lane_sensor, procobs_db, cursor)
        assert held.run_requests == []
        early_tx.commit()
    more, more_keys, cursor = drain(immediate_lane_sensor, postgres_db, procobs_db, held.cursor)

    assert more == list(map(str, early_ids + late_ids))
    assert len(set(keys + more_keys)) == len(keys + more_keys)
    assert drain(immediate_lane_sensor, postgres_db, procobs_db, cursor)[0] == []


def test_outbox_sensor_requests_delivery_and_a_refresh_when_runs_end(
    db, defs, procobs_db, instance
):
    sensor = defs.resolve_sensor_def("event_outbox_sensor")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING

    def outbox_tick(cursor=None) -> dict[str, str]:
        """One tick; returns {job name: run key} of what it requested."""
        wait_until_readable(db)
        with dg.build_sensor_context(
            instance=instance, cursor=cursor, resources={"procobs_db": procobs_db}, definitions=defs
        ) as context:
            data = sensor.evaluate_tick(context)
        return data.cursor, {r.job_name: r.run_key for r in data.run_requests}

    cursor, requested = outbox_tick()
    assert requested == {}
    with db.begin() as conn:
        insert_outbox_rows(conn, "process.step.completed", count=3)
    cursor, requested = outbox_tick(cursor)
    assert list(requested) == ["delivery_job"]
    with db.begin() as conn:
        insert_outbox_rows(conn, "process.step.completed")
        insert_outbox_rows(conn, "process.run.completed")
    cursor, requested = outbox_tick(cursor)
    assert sorted(requested) == ["delivery_job", "discovery_refresh_job"]
    assert requested["delivery_job"].startswith("delivery:")
    assert requested["discovery_refresh_job"].startswith("discovery:")
    assert outbox_tick(cursor)[1] == {}
    with db.begin() as conn:
        insert_outbox_rows(conn, "process.run.failed")
    cursor, requested = outbox_tick(cursor)
    assert sorted(requested) == ["delivery_job", "discovery_refresh_job"]

    # Runs already waiting to start will see later rows too: no second request.
    for job in ("delivery_job", "discovery_refresh_job"):
        instance.create_run_for_job(
            job_def=defs.resolve_job_def(job), status=dg.DagsterRunStatus.NOT_STARTED
        )
    with db.begin() as conn:
        insert_outbox_rows(conn, "process.run.failed")
    assert outbox_tick(cursor)[1] == {}


def test_no_refresh_while_a_run_of_the_automation_sensor_will_score(db, defs, procobs_db, instance):
    """The automation sensor's run for the cron re-scores discovery too: while it waits to
    start, a run outcome asks for nothing more (delivery still is)."""
    with db.begin() as conn:
        insert_outbox_rows(conn, "process.run.completed")
    wait_until_readable(db)
    scores = dg.AssetKey("discovery_scores")
    instance.create_run_for_job(
        job_def=defs.resolve_implicit_global_asset_job_def().get_subset(asset_selection={scores}),
        asset_selection=frozenset({scores}),
        status=dg.DagsterRunStatus.NOT_STARTED,
    )
    with dg.build_sensor_context(
        instance=instance, resources={"procobs_db": procobs_db}, definitions=defs
    ) as context:
        data = defs.resolve_sensor_def("event_outbox_sensor").evaluate_tick(context)
    assert [r.job_name for r in data.run_requests] == ["delivery_job"]
