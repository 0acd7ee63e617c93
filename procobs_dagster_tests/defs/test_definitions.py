"""The code location loads — with Dagster's validators, from the CLI, without a database or
secret — and every definition carries what the UI shows users."""

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import dagster as dg
import pytest
import yaml

from procobs_dagster import demo_location
from procobs_dagster.definitions import defs
from procobs_dagster.defs.conventions import LOCATION_NAME

ROOT = Path(__file__).resolve().parents[2]
DAGSTER_CLI = Path(sys.executable).with_name("dagster")
# Loading must never touch this: the host does not exist and the password must not leak.
UNREACHABLE_URL = "postgresql+psycopg2://procobs:do-not-print@127.0.0.1:9/nowhere"


def test_definitions_are_loadable():
    dg.Definitions.validate_loadable(defs)


@pytest.mark.parametrize("target", [[], ["-w", "workspace.yaml"]], ids=["pyproject", "workspace"])
def test_dagster_cli_validates_the_project(target, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DAGSTER_", "PROCOBS_"))} | {
        "PROCOBS_DATABASE_URL": UNREACHABLE_URL,
        "PROCOBS_HOME": str(tmp_path / "home"),
    }
    result = subprocess.run(
        [DAGSTER_CLI, "definitions", "validate", *target],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Validation successful for code location procobs_dagster" in output
    assert "do-not-print" not in output
    assert not (tmp_path / "home").exists()


def test_procobs_uses_no_deprecated_or_beta_dagster_api():
    """Importing and resolving the code location with every warning an error, in a fresh
    interpreter (decorators warn at import) and without pytest's filters: only the filter
    definitions.py installs for Dagster's own owners warning applies."""
    load = "import procobs_dagster.definitions as d; d.defs.get_repository_def()"
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", load],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr


def test_location_name_is_the_same_everywhere():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    workspace = yaml.safe_load((ROOT / "workspace.yaml").read_text())
    (entry,) = workspace["load_from"]
    names = {
        pyproject["tool"]["dagster"]["code_location_name"],
        pyproject["tool"]["dg"]["project"]["code_location_name"],
        entry["python_module"]["location_name"],
    }
    assert names == {LOCATION_NAME}
    assert entry["python_module"]["module_name"] == pyproject["tool"]["dagster"]["module_name"]


def test_the_demo_location_is_loadable_and_kept_out_of_production():
    dg.Definitions.validate_loadable(demo_location.defs)
    demo = yaml.safe_load((ROOT / "demo-workspace.yaml").read_text())
    (entry,) = demo["load_from"]
    assert entry["python_module"] == {
        "module_name": demo_location.__name__,
        "location_name": demo_location.LOCATION_NAME,
    }
    production = yaml.safe_load((ROOT / "workspace.yaml").read_text())
    assert demo_location.__name__ not in json.dumps(production)
    # Nothing of the demo's location is in procobs's.
    assert not {j.name for j in demo_location.defs.get_repository_def().get_all_jobs()} & {
        j.name for j in defs.get_repository_def().get_all_jobs() if j.name != "__ASSET_JOB"
    }
    assert not set(demo_location.defs.resolve_all_asset_keys()) & set(defs.resolve_all_asset_keys())


def test_every_asset_says_what_it_is_and_who_owns_it():
    specs = list(defs.resolve_all_asset_specs())
    assert specs
    for spec in specs:
        name = spec.key.to_user_string()
        assert spec.group_name and spec.group_name != "default", name
        assert spec.owners == ["team:procobs"], name
        assert spec.description and len(spec.description) > 40, name
        assert spec.kinds, name


def test_every_check_is_described():
    checks = defs.resolve_asset_graph().asset_check_keys
    assert checks
    for key in checks:
        spec = defs.resolve_asset_graph().get_check_spec(key)
        assert spec.description, key.name


def test_sensors_and_schedules_start_running():
    sensors = [defs.resolve_sensor_def(s.name) for s in defs.sensors]
    schedules = [defs.resolve_schedule_def(s.name) for s in defs.schedules or []]
    assert sensors
    for sensor in sensors:
        assert sensor.default_status == dg.DefaultSensorStatus.RUNNING, sensor.name
        assert sensor.description, sensor.name
    for schedule in schedules:
        assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING, schedule.name
        assert schedule.description, schedule.name
