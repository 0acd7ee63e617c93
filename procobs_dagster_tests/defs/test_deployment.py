"""A deployment keeps every asset fresh with no click: dagster-daemon and dagster-webserver
on deploy/dagster.yaml (Dagster's storage in a fresh PostgreSQL database), the code
location on a procobs database in PostgreSQL, as docs/operations/deploying.md sets them up.

The procobs work happens first, as it would in production: the demo pipeline observes
runs, writes and activates events and scans a dossier; a file sink is configured in the
database. Then the two processes start and nobody launches anything: within the deadline
every asset has a materialisation, every check has run and passed, every asset with a
freshness policy is fresh in the UI, the outbox reached the sink, and every run was
launched by a sensor or a schedule.

The refresh cron is PROCOBS_REFRESH_MINUTES=1, a setting operators have, so a tick comes
within the test's minutes. Under CI=true the test fails, not skips, when it cannot run.
"""

import dataclasses
import os
import subprocess
import time
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa

from procobs_dagster import delivery
from procobs_dagster.definitions import defs
from procobs_dagster.demo.pipeline import FEATURE, run_demo, write_sinks_file
from procobs_dagster.store.tables import workflow_run
from procobs_dagster_tests.dagster_processes import (
    BIN,
    ROOT,
    clean_env,
    free_port,
    graphql,
    started,
    tail,
    wait_until_serving,
)
from procobs_dagster_tests.defs.conftest import production_home

# The first cron tick comes within a minute of the automation sensor's first evaluation;
# the runs, their checks and the freshness daemon's next pass take the rest.
DEADLINE_SECONDS = 420
POLL_SECONDS = 5
# Dagster exports no constant or enum for these, so they are compared by value: the tags
# the daemon puts on a run it launches, and the states a tick may be in short of failing.
# A value Dagster renamed fails the assertions below rather than passing them: every run
# must carry one of the tags, and a tick in a state not listed fails.
SENSOR_NAME_TAG, SCHEDULE_NAME_TAG = "dagster/sensor_name", "dagster/schedule_name"
TICK_STATES_WITHOUT_FAILURE = {"STARTED", "SKIPPED", "SUCCESS"}


@dataclasses.dataclass(frozen=True)
class Deployment:
    instance: dg.DagsterInstance
    url: str
    daemon: subprocess.Popen
    logs: Path
    delivered: Path


@pytest.fixture
def deployment(tmp_path, monkeypatch, dagster_storage_db, postgres_db):
    """The procobs work done, then dagster-daemon and dagster-webserver started on a copy of
    deploy/dagster.yaml, as an operator copies it into DAGSTER_HOME."""
    home = tmp_path / "procobs_home"
    monkeypatch.setenv("PROCOBS_HOME", str(home))
    run_demo(postgres_db)
    sink, _ = write_sinks_file(home)
    with postgres_db.begin() as conn:
        delivery.save_sinks(conn, [sink])

    dagster_home = production_home(tmp_path / "dagster_home", monkeypatch)
    env = clean_env(
        DAGSTER_HOME=str(dagster_home),
        PROCOBS_HOME=str(home),
        PROCOBS_DATABASE_URL=postgres_db.url.render_as_string(hide_password=False),
        PROCOBS_REFRESH_MINUTES="1",
    )
    # The fixture that made Dagster's storage database set DAGSTER_PG_* for this process.
    env |= {name: value for name, value in os.environ.items() if name.startswith("DAGSTER_PG_")}
    workspace = ["-w", ROOT / "workspace.yaml"]
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with (
        started(
            [BIN / "dagster-daemon", "run", *workspace],
            cwd=tmp_path,
            env=env,
            log=tmp_path / "daemon.log",
        ) as daemon,
        started(
            [BIN / "dagster-webserver", *workspace, "-h", "127.0.0.1", "-p", str(port)],
            cwd=tmp_path,
            env=env,
            log=tmp_path / "webserver.log",
        ) as webserver,
        dg.DagsterInstance.get() as instance,
    ):
        wait_until_serving(url, webserver, tmp_path / "webserver.log", timeout=240)
        yield Deployment(instance, url, daemon, tmp_path, Path(sink.path))


def check_outcomes(instance: dg.DagsterInstance) -> dict[str, str]:
    """Each check's latest finished execution, SUCCEEDED or FAILED (a later one may be
    planned already)."""
    keys = list(defs.resolve_asset_graph().asset_check_keys)
    summaries = instance.event_log_storage.get_asset_check_summary_records(keys)
    return {
        key.to_user_string(): summary.last_completed_check_execution_record.status.value
        for key, summary in summaries.items()
        if summary.last_completed_check_execution_record is not None
    }


def missing(instance: dg.DagsterInstance) -> list[str]:
    """What is not there yet: assets never materialised, checks that have not run."""
    assets = [
        key.to_user_string()
        for key in defs.resolve_all_asset_keys()
        if instance.get_latest_materialization_event(key) is None
    ]
    ran = check_outcomes(instance)
    checks = [
        key.to_user_string()
        for key in defs.resolve_asset_graph().asset_check_keys
        if key.to_user_string() not in ran
    ]
    return assets + checks


def freshness(url: str) -> dict[str, str]:
    """Each asset's freshness as the UI shows it (None: the asset has no policy)."""
    nodes = graphql(
        url, "{ assetNodes { assetKey { path } freshnessStatusInfo { freshnessStatus } } }"
    )
    return {
        "/".join(node["assetKey"]["path"]): (node["freshnessStatusInfo"] or {}).get(
            "freshnessStatus"
        )
        for node in nodes["assetNodes"]
    }


@pytest.mark.postgres_only
def test_every_asset_is_materialised_within_its_window_with_no_click(deployment, postgres_db):
    instance, logs = deployment.instance, deployment.logs
    deadline = time.monotonic() + DEADLINE_SECONDS
    while True:
        if deployment.daemon.poll() is not None:
            pytest.fail(f"dagster-daemon exited:\n{tail(logs / 'daemon.log')}")
        waiting = missing(instance)
        fresh = freshness(deployment.url)
        stale = sorted(name for name, state in fresh.items() if state not in (None, "HEALTHY"))
        if not waiting and not stale:
            break
        if time.monotonic() > deadline:
            pytest.fail(
                f"after {DEADLINE_SECONDS} s, not yet materialised or run: {waiting}; "
                f"not fresh: {stale}\n{tail(logs / 'daemon.log')}"
            )
        time.sleep(POLL_SECONDS)

    assert set(check_outcomes(instance).values()) == {"SUCCEEDED"}
    snapshot = instance.get_latest_materialization_event(dg.AssetKey("dossier_snapshot"))
    assert snapshot.asset_materialization.partition == FEATURE
    # Only policies decide freshness: the dossier follows its scans and has none.
    assert {name for name, state in fresh.items() if state is None} == {"dossier_snapshot"}
    # The outbox reached the sink configured in the database, through the sensor's runs.
    with postgres_db.read() as conn:
        (state,) = delivery.status(conn)
    assert state["delivered"] > 0 and state["pending"] == state["dead"] == 0
    assert len(deployment.delivered.read_text().splitlines()) == state["delivered"]
    # Every run came from a sensor or a schedule (a maintenance sweep may fall due too).
    runs = instance.get_runs()
    launched_by = {run.tags.get(SENSOR_NAME_TAG) or run.tags.get(SCHEDULE_NAME_TAG) for run in runs}
    assert None not in launched_by, [run.tags for run in runs]
    assert {"procobs_automation", "event_outbox_sensor"} <= launched_by
    # The daemon's dagster_runs_sensor ticked, knew its location, and left every one of
    # these runs out as procobs's own: none is in the ledger, no tick failed.
    (state,) = [s for s in instance.all_instigator_state() if s.name == "dagster_runs_sensor"]
    ticks = instance.get_ticks(state.instigator_origin_id, state.selector_id)
    assert ticks and {t.status.value for t in ticks} <= TICK_STATES_WITHOUT_FAILURE
    assert any("procobs's own runs left out" in (t.skip_reason or "") for t in ticks)
    with postgres_db.read() as conn:
        reported = conn.execute(
            sa.select(workflow_run.c.source, sa.func.count()).group_by(workflow_run.c.source)
        ).all()
    assert dict(reported) == {"openlineage": 3}  # the demo's DAG and its two tasks
