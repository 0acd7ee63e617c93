"""Dagster resources. Loading the code location needs no secret and no live database."""

import os

import dagster as dg

from procobs_dagster.store.engine import Database


class ProcobsDatabase(dg.ConfigurableResource):
    """The procobs database. An empty URL means the embedded SQLite under PROCOBS_HOME."""

    database_url: str = ""

    def database(self) -> Database:
        return Database(self.database_url or None)


def procobs_database_from_env() -> ProcobsDatabase:
    """Bind the URL to PROCOBS_DATABASE_URL when set; the value is read at run time only,
    so a password in it never lands in the code location's config."""
    if os.environ.get("PROCOBS_DATABASE_URL"):
        return ProcobsDatabase(database_url=dg.EnvVar("PROCOBS_DATABASE_URL"))
    return ProcobsDatabase()
