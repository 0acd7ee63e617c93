"""Dagster resources. Loading the code location needs no secret and no live database:
URLs are read when a run, sensor tick or schedule tick uses them."""

import contextlib
import os
from collections.abc import Iterator

import dagster as dg
from pydantic import Field, PrivateAttr

from procobs_dagster import delivery
from procobs_dagster.environment import setting
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


class DeliverySinks(dg.ConfigurableResource):
    """Where delivery runs send outbox events: a sinks YAML file, else the delivery_sink
    table. Webhook secrets are never configured here: a sink names the environment
    variable holding its secret, read by the relay when it starts."""

    sinks_file: str = Field(
        default="",
        description="YAML sinks file (see docs/delivery.md); empty: the delivery_sink table.",
    )

    def load(self, db: Database) -> delivery.StoredSinks:
        """The configured sinks. A bad file raises ConfigurationError naming it; a row of
        the table that is no valid sink is left aside in ``unusable``, the others used."""
        if self.sinks_file:
            return delivery.StoredSinks(delivery.load_sinks_file(self.sinks_file))
        with db.read() as conn:
            return delivery.load_sinks_table(conn)


@contextlib.contextmanager
def procobs_database_at(url: str) -> Iterator[ProcobsDatabase]:
    """The resource for the database at ``url``, with the URL kept out of Dagster.

    A literal URL in a resource's config becomes a default value in the job's config
    schema, which Dagster keeps in every run's snapshot — password included. Bound as an
    EnvVar instead (what a deployment does), set in this process's environment while the
    block runs, it is read when a run starts and stored nowhere."""
    previous = os.environ.get(DATABASE_URL_ENV)
    os.environ[DATABASE_URL_ENV] = url
    try:
        yield ProcobsDatabase(database_url=dg.EnvVar(DATABASE_URL_ENV))
    finally:
        if previous is None:
            del os.environ[DATABASE_URL_ENV]
        else:
            os.environ[DATABASE_URL_ENV] = previous


def _from_env(resource: type[dg.ConfigurableResource], field: str, env: str, default: str):
    """``resource`` with ``field`` bound to the variable ``env`` when it is set. dg.EnvVar is
    resolved at run time, so the value (a password in a URL) never lands in the code
    location's config or UI; unset, the field keeps its default; set but empty, the code
    location does not load."""
    if setting(env, default):
        return resource(**{field: dg.EnvVar(env)})
    return resource()


def procobs_database_from_env() -> ProcobsDatabase:
    return _from_env(ProcobsDatabase, "database_url", DATABASE_URL_ENV, "the SQLite default")


def delivery_sinks_from_env() -> DeliverySinks:
    return _from_env(
        DeliverySinks, "sinks_file", delivery.SINKS_FILE_ENV, "the delivery_sink table"
    )
