"""Dagster resources. Loading the code location needs no secret and no live database:
URLs are read when a run, sensor tick or schedule tick uses them."""

import os

import dagster as dg
from pydantic import Field, PrivateAttr

from procobs_dagster import delivery
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

    def enabled(self, db: Database) -> list[delivery.SinkConfig]:
        """The enabled sinks; a bad file or row raises ConfigurationError naming it."""
        if self.sinks_file:
            configs = delivery.load_sinks_file(self.sinks_file)
        else:
            with db.read() as conn:
                configs = delivery.load_sinks_table(conn)
        return delivery.select_sinks(configs, ())


def _from_env(resource: type[dg.ConfigurableResource], field: str, env: str):
    """``resource`` with ``field`` bound to the variable ``env`` when it is set. dg.EnvVar is
    resolved at run time, so the value (a password in a URL) never lands in the code
    location's config or UI; unset, the field keeps its default."""
    if os.environ.get(env):
        return resource(**{field: dg.EnvVar(env)})
    return resource()


def procobs_database_from_env() -> ProcobsDatabase:
    return _from_env(ProcobsDatabase, "database_url", DATABASE_URL_ENV)


def delivery_sinks_from_env() -> DeliverySinks:
    return _from_env(DeliverySinks, "sinks_file", delivery.SINKS_FILE_ENV)
