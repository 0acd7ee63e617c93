"""No configuration makes procobs observe itself into a loop.

The loop to fear: an observed run emits events → the outbox sensor requests a delivery
run (an alert run, a discovery refresh) → that run is observed → it emits events → …
Here every process.* type is active and emission is on, another location's runs succeed
and fail, and for several rounds the Dagster runs sensor, the outbox sensor and the
immediate-lane sensor tick, and every run they request is executed into the same instance
— launched from procobs's location as the daemon launches it, or in-process. Whether
procobs's own runs are left out or observed, the requests stop and the number of runs
stops growing. A control with the one safeguard removed (procobs's own runs announced)
shows the same rounds would catch a loop."""

import contextlib

import dagster as dg
import pytest
import sqlalchemy as sa

from procobs_dagster import ledger
from procobs_dagster.defs.conventions import LOCATION_NAME
from procobs_dagster.defs.sources.sensors import dagster_runs_sensor_for
from procobs_dagster.events import ProcessEventType, activation
from procobs_dagster.ledger import tracking
from procobs_dagster.store.tables import event_outbox, workflow_run
from procobs_dagster_tests.defs.sources import jobs

ROUNDS = 6
SETTLED_AFTER = 3  # rounds after which nothing may be requested any more


def activate_every_process_event(db) -> None:
    with db.begin() as conn:
        packet = activation.stage(conn, [t.value for t in ProcessEventType])
        activation.apply(conn, packet, approved_by="test")


def launch(defs, instance, job_name: str, request: dg.RunRequest, tags: dict) -> None:
    """Execute a run a sensor requested, as the daemon would launch it."""
    job = defs.resolve_job_def(job_name)
    job.execute_in_process(
        run_config=request.run_config or None,
        instance=instance,
        tags={**request.tags, **tags},
        raise_on_error=False,
    )


def rounds(defs, procobs_db, instance, sensor, tags, jobs_requested=None) -> list[int]:
    """Tick the three sensors ROUNDS times, executing what they request; the runs
    requested in each round (their jobs added to ``jobs_requested``)."""
    sensors = [
        sensor,
        defs.resolve_sensor_def("event_outbox_sensor"),
        defs.resolve_sensor_def("immediate_lane_sensor"),
    ]
    cursors: dict[str, str | None] = {}
    requested = []
    for _ in range(ROUNDS):
        requests = []
        for each in sensors:
            with dg.build_sensor_context(
                instance=instance,
                cursor=cursors.get(each.name),
                definitions=defs,
                resources={"procobs_db": procobs_db},
            ) as context:
                result = each.evaluate_tick(context)
            cursors[each.name] = result.cursor
            requests += [(r.job_name or each.job_name, r) for r in result.run_requests]
        for job_name, request in requests:
            launch(defs, instance, job_name, request, tags)
            if jobs_requested is not None:
                jobs_requested.add(job_name)
        requested.append(len(requests))
    return requested


@pytest.fixture
def observed_world(db, instance, tmp_path):
    """Every process.* type active; a DOT run, whose outcome asks for a discovery refresh;
    another location's runs: one completed, one failed (its failure goes to the immediate
    lane)."""
    activate_every_process_event(db)
    with ledger.observe_run(db, "PROC-CAND:dot:nightly") as run, run.step("DOT_COUNT") as step:
        step.touched(1)
    assert jobs.execute(instance).success
    assert not jobs.execute(instance, marker=tmp_path / "never").success
    return instance


@pytest.mark.parametrize("observe_own", [False, True], ids=["own-left-out", "own-observed"])
@pytest.mark.parametrize(
    "launched_from", [LOCATION_NAME, None], ids=["launched-by-daemon", "in-process"]
)
def test_the_sensors_and_the_runs_they_request_converge(
    db, defs, procobs_db, observed_world, observe_own, launched_from
):
    instance = observed_world
    tags = {} if launched_from is None else {jobs.CODE_LOCATION_TAG: launched_from}
    requested_jobs: set[str] = set()
    sensor = dagster_runs_sensor_for(observe_own)
    requested = rounds(defs, procobs_db, instance, sensor, tags, requested_jobs)

    # The runs caused procobs runs (delivery, alerts, a discovery refresh) at first …
    assert requested_jobs == {"delivery_job", "alert_job", "discovery_refresh_job"}
    # … and then nothing more: the run count converged.
    assert requested[SETTLED_AFTER:] == [0] * (ROUNDS - SETTLED_AFTER), requested
    runs = instance.get_runs_count()
    assert runs == 2 + sum(requested)
    with db.read() as conn:
        recorded = conn.execute(
            sa.select(sa.func.count())
            .select_from(workflow_run)
            .where(workflow_run.c.placement == "run")
        ).scalar_one()
        announced = set(conn.execute(sa.select(event_outbox.c.correlation_id).distinct()).scalars())
    # Observed or not, procobs's own runs announced nothing: the events are of the two
    # runs of the other location and their steps.
    assert recorded == (runs if observe_own else 2)
    own_ids = {
        run.run_id for run in instance.get_runs() if run.job_name != jobs.nightly_orders.name
    }
    assert not {f"dagster:{run_id}" for run_id in own_ids} & announced


def test_control_announcing_procobs_own_runs_would_loop(
    db, defs, procobs_db, observed_world, monkeypatch
):
    """The same rounds with procobs's own runs observed and announced: every round
    requests another run — what the safeguard prevents."""
    monkeypatch.setattr(tracking, "unannounced", contextlib.nullcontext)
    tags = {jobs.CODE_LOCATION_TAG: LOCATION_NAME}
    sensor = dagster_runs_sensor_for(observe_own_runs=True)
    requested = rounds(defs, procobs_db, observed_world, sensor, tags)
    assert all(count > 0 for count in requested), requested
