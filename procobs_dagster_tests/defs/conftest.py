"""Fixtures of the Dagster definitions' tests: the resource, the code location and an
instance, bound to the test's database; a database for Dagster's own storage."""

import shutil
import uuid
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa

from procobs_dagster.definitions import build_definitions
from procobs_dagster.defs.resources import ProcobsDatabase
from procobs_dagster_tests.dagster_processes import ROOT
from procobs_dagster_tests.databases import postgres_admin_url

# These folders test the Dagster wiring around a domain package whose own tests run on
# both databases (as test_materialize_all runs these definitions on both); one database
# is enough here and keeps the suite fast.
SQLITE_ONLY_FOLDERS = ("delivery", "discovery", "dossier", "maintenance")


@pytest.hookimpl(tryfirst=True)
def pytest_generate_tests(metafunc):
    if "backend" in metafunc.fixturenames and metafunc.definition.path.parent.name in (
        SQLITE_ONLY_FOLDERS
    ):
        # A parametrize mark on ``backend`` takes precedence over the fixture's own params.
        metafunc.definition.add_marker(
            pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
        )


def resource_for(db) -> ProcobsDatabase:
    return ProcobsDatabase(database_url=db.url.render_as_string(hide_password=False))


@pytest.fixture
def procobs_db(db) -> ProcobsDatabase:
    """The Dagster resource pointed at the test's database (SQLite, then Postgres)."""
    return resource_for(db)


@pytest.fixture
def defs(procobs_db) -> dg.Definitions:
    """The whole code location, bound to the test's database."""
    return build_definitions(procobs_db)


@pytest.fixture
def instance():
    with dg.instance_for_test() as instance:
        yield instance


@pytest.fixture
def dagster_storage_db(monkeypatch):
    """A fresh database for Dagster's storage, and DAGSTER_PG_* naming it, as an operator
    would set them for deploy/dagster.yaml."""
    admin_url = postgres_admin_url()
    name = f"dagster_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    monkeypatch.setenv("DAGSTER_PG_HOST", admin_url.host)
    monkeypatch.setenv("DAGSTER_PG_PORT", str(admin_url.port or 5432))
    monkeypatch.setenv("DAGSTER_PG_USER", admin_url.username)
    monkeypatch.setenv("DAGSTER_PG_PASSWORD", admin_url.password or "")
    monkeypatch.setenv("DAGSTER_PG_DB", name)
    yield admin_url.set(database=name)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


def production_home(directory: Path, monkeypatch) -> Path:
    """deploy/dagster.yaml copied into ``directory``, which DAGSTER_HOME then names, as an
    operator sets up the production instance (docs/operations/deploying.md)."""
    directory.mkdir()
    shutil.copy(ROOT / "deploy" / "dagster.yaml", directory)
    monkeypatch.setenv("DAGSTER_HOME", str(directory))
    return directory


@pytest.fixture
def production_instance(dagster_storage_db, tmp_path, monkeypatch):
    """The production instance on a fresh storage database, opened through DAGSTER_HOME as
    the webserver and the daemon open it (Dagster's public way in: no InstanceRef)."""
    production_home(tmp_path / "dagster_home", monkeypatch)
    with dg.DagsterInstance.get() as instance:
        yield instance
