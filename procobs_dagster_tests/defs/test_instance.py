"""The two Dagster instances. deploy/dagster.yaml, the production instance, against the
CI's PostgreSQL: Dagster's own storage in a fresh database, an asset materialised through
it. The root dagster.yaml, the instance of a checkout: what `make demo` and `make ui` use on
a fresh clone, with the production instance's queue limits, monitoring and retention."""

import shutil
import subprocess
import sys

import dagster as dg
import pytest
import sqlalchemy as sa
import yaml

from procobs_dagster import demo_location
from procobs_dagster.definitions import build_definitions, defs
from procobs_dagster_tests.dagster_processes import (
    ROOT,
    clean_env,
    free_port,
    graphql,
    require,
    started,
    tail,
    wait_until_serving,
)
from procobs_dagster_tests.defs.conftest import resource_for

DEPLOY = ROOT / "deploy"
# What the two files share: a checkout queues, monitors and purges as production does.
SHARED_SETTINGS = ("concurrency", "run_monitoring", "retention", "telemetry")


@pytest.mark.postgres_only
def test_production_instance_materialises_an_asset(
    dagster_storage_db, production_instance, postgres_db
):
    instance = production_instance
    limits = instance.get_concurrency_config().run_queue_config.tag_concurrency_limits
    assert {"key": "procobs/maintenance", "limit": 1} in limits
    defs = build_definitions(resource_for(postgres_db))
    job = defs.resolve_implicit_global_asset_job_def()
    result = job.execute_in_process(
        instance=instance,
        asset_selection=[
            dg.AssetKey("process_run_observation"),
            dg.AssetKey("process_component_observation"),
        ],
    )
    assert result.success
    materialization = instance.get_latest_materialization_event(
        dg.AssetKey("process_run_observation")
    )
    assert materialization.run_id == result.run_id
    # The run and its events are in the fresh Postgres database, not in local files.
    engine = sa.create_engine(dagster_storage_db)
    with engine.connect() as conn:
        run_ids = conn.execute(sa.text("SELECT run_id FROM runs")).scalars().all()
        events = conn.execute(
            sa.text("SELECT count(*) FROM event_logs WHERE run_id = :r"), {"r": result.run_id}
        ).scalar_one()
    engine.dispose()
    assert run_ids == [result.run_id]
    assert events > 0


def test_the_checkout_instance_keeps_the_production_settings():
    checkout = yaml.safe_load((ROOT / "dagster.yaml").read_text())
    production = yaml.safe_load((DEPLOY / "dagster.yaml").read_text())
    assert {k: checkout[k] for k in SHARED_SETTINGS} == {k: production[k] for k in SHARED_SETTINGS}
    assert checkout["storage"] == {"sqlite": {"base_dir": ".procobs/dagster"}}
    assert set(production["storage"]) == {"postgres"}


def test_the_checkout_instance_is_a_default_instance_in_procobs_dagster(tmp_path, monkeypatch):
    """Read as `make ui` reads it (DAGSTER_HOME is the checkout, paths resolve from the working
    directory), and as `procobs demo` without DAGSTER_HOME opens .procobs/dagster: one set of
    files, whichever way in."""
    shutil.copy(ROOT / "dagster.yaml", tmp_path)
    monkeypatch.chdir(tmp_path)

    @dg.asset
    def marker() -> None: ...

    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        assert instance.telemetry_enabled is False
        assert instance.run_monitoring_enabled
        limits = instance.get_concurrency_config().run_queue_config.tag_concurrency_limits
        assert {"key": "procobs/refresh", "limit": 1} in limits
        # The settings as Dagster validated them on loading (an unknown key is refused
        # there): its sensor daemon reads each tick status's days under its lower-case name.
        sensor_days = instance.get_settings("retention")["sensor"]["purge_after_days"]
        assert (sensor_days["skipped"], sensor_days["success"]) == (1, 30)
        run_id = dg.materialize([marker], instance=instance).run_id
    assert (tmp_path / ".procobs" / "dagster" / "history" / "runs.db").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == [".procobs", "dagster.yaml"]
    with dg.DagsterInstance.from_config(str(tmp_path / ".procobs" / "dagster")) as default:
        assert default.get_run_by_id(run_id) is not None


def fresh_clone(destination):
    """The checkout's files as `git clone` would give them (tracked, and new files not
    ignored), without .procobs, .venv or anything else a run left behind."""
    require(shutil.which("git") is not None, "git is not installed")
    require(shutil.which("make") is not None, "make is not installed")
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=False,
    )
    require(listed.returncode == 0, f"{ROOT} is not a git checkout")
    for name in filter(None, listed.stdout.decode().split("\0")):
        source = ROOT / name
        if source.is_file():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name)
    return destination


def test_make_demo_then_make_ui_on_a_fresh_clone_use_the_root_instance(tmp_path):
    clone = fresh_clone(tmp_path / "clone")
    venv = sys.prefix
    # This test's environment stands in for the clone's .venv: make must not rebuild it.
    make = ["make", "-o", f"{venv}/.runtime", f"VENV={venv}"]
    env = clean_env()
    demo = subprocess.run(
        [*make, "demo"], cwd=clone, env=env, capture_output=True, text=True, timeout=600
    )
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert "next:      make ui" in demo.stdout

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "make-ui.log"
    with started([*make, "ui", f"UI_PORT={port}"], cwd=clone, env=env, log=log) as ui:
        wait_until_serving(url, ui, log, timeout=240)
        data = graphql(
            url,
            "{ instance { info } assetNodes { assetKey { path } "
            "assetMaterializations(limit: 1) { runId } } }",
        )
    info = yaml.safe_load(data["instance"]["info"])
    assert info["local_artifact_storage"]["config"] == {"base_dir": ".procobs/dagster"}
    assert info["concurrency"] == yaml.safe_load((ROOT / "dagster.yaml").read_text())["concurrency"]
    # Every asset shows what the demo materialised: one instance for both commands. The demo
    # location's assets are there too (make ui loads it), materialised by its job.
    shown = {
        "/".join(n["assetKey"]["path"]): n["assetMaterializations"] for n in data["assetNodes"]
    }
    expected = [*defs.resolve_all_asset_keys(), *demo_location.defs.resolve_all_asset_keys()]
    assert sorted(shown) == sorted(k.to_user_string() for k in expected)
    assert all(shown.values()), (shown, tail(log))
    assert (clone / ".procobs" / "dagster" / "history" / "runs.db").is_file()
    assert not list(clone.glob(".tmp_dagster_home_*"))
