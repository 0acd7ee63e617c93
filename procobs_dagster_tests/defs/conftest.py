"""Fixtures of the Dagster definitions' tests: the resource, the code location and an
instance, bound to the test's database."""

import dagster as dg
import pytest

from procobs_dagster.definitions import build_definitions
from procobs_dagster.defs.resources import ProcobsDatabase

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
