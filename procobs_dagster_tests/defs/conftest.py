import dagster as dg
import pytest

from procobs_dagster.definitions import build_definitions
from procobs_dagster.defs.resources import ProcobsDatabase


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
