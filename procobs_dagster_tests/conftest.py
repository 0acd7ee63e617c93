"""Fixtures shared by the whole suite.

``db`` is a migrated, empty database; every test that takes it runs twice, on SQLite
and on PostgreSQL. ``postgres_db`` is for mechanisms only Postgres has.
"""

import os

import pytest

from procobs_dagster import maintenance
from procobs_dagster.events import runtime
from procobs_dagster_tests.databases import PostgresDatabases, SqliteDatabases, postgres_admin_url
from procobs_dagster_tests.discovery.helpers import observe
from procobs_dagster_tests.hostile import Hostile

BACKENDS = ("sqlite", "postgres")


@pytest.fixture(scope="session")
def _worker_tag(request) -> str:
    worker = getattr(request.config, "workerinput", {}).get("workerid", "main")
    return f"{worker}_{os.getpid()}"


@pytest.fixture(scope="session")
def sqlite_databases(tmp_path_factory, _worker_tag):
    factory = SqliteDatabases(tmp_path_factory.mktemp(f"sqlite_{_worker_tag}"))
    yield factory
    factory.close()


@pytest.fixture(scope="session")
def postgres_databases(_worker_tag):
    factory = PostgresDatabases(postgres_admin_url(), _worker_tag)
    yield factory
    factory.close()


def _factory(request, backend: str):
    return request.getfixturevalue(f"{backend}_databases")


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    return request.param


@pytest.fixture
def db(request, backend):
    factory = _factory(request, backend)
    database = factory.create()
    yield database
    factory.drop(database)


@pytest.fixture
def empty_db(request, backend):
    """A database with no schema at all, for migration tests."""
    factory = _factory(request, backend)
    database = factory.create(migrated=False)
    yield database
    factory.drop(database)


@pytest.fixture
def postgres_db(postgres_databases):
    database = postgres_databases.create()
    yield database
    postgres_databases.drop(database)


@pytest.fixture
def hostile(db):
    """A database with something to lose — a verified run of PROC-CAND:dot:kg with its
    two steps, a candidate's own SLA, an audited switch — and a way to run commands at
    it that checks every refusal wrote nothing."""
    observe(db)
    with db.begin() as conn:
        maintenance.set_sla(conn, "PROC-CAND:dot:kg", 3600, reason="slow", actor="alice")
        runtime.set_emission(conn, True, approved_by="alice")
    return Hostile(db)
