"""Dagster resources. Loading the code location needs no secret and no live database:
URLs are read when a run, sensor tick or schedule tick uses them."""

import os

import dagster as dg
from pydantic import Field, PrivateAttr

from procobs_dagster.store import migrate
from procobs_dagster.store.engine import Database

DATABASE_URL_ENV = "PROCOBS_DATABASE_URL"


class ProcobsDatabase(dg.ConfigurableResource):
    """The procobs database: the ledger, the event outbox, dossiers and discovery scores.

    One engine per run or tick, disposed when it ends, so a long-lived code server holds
    no idle connections between sensor ticks."""

    database_url: str = Field(
        default="",
        description=(
            "postgresql+psycopg2://… or sqlite:///…; empty means the embedded SQLite file "
            "under PROCOBS_HOME (default ./.procobs)."
        ),
    )
    _database: Database | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        self._database = Database(self.database_url or None)

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._database is not None:
            self._database.dispose()

    @property
    def database(self) -> Database:
        if self._database is None:
            raise dg.DagsterInvariantViolationError(
                "ProcobsDatabase is used before Dagster set it up"
            )
        return self._database

    def current(self) -> Database:
        """The database, refusing clearly (SchemaNotReady) unless its schema is at head."""
        migrate.ensure_current(self.database)
        return self.database

    def migrated(self) -> Database:
        """The database with its schema brought to head (a no-op when it already is)."""
        migrate.upgrade(self.database)
        return self.database


def procobs_database_from_env() -> ProcobsDatabase:
    """Bind the URL to PROCOBS_DATABASE_URL when it is set. dg.EnvVar is resolved at run
    time, so a password in the URL never lands in the code location's config or UI."""
    if os.environ.get(DATABASE_URL_ENV):
        return ProcobsDatabase(database_url=dg.EnvVar(DATABASE_URL_ENV))
    return ProcobsDatabase()
