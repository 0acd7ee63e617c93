"""State shared by every command: the database, opened only when a command needs it."""

import dataclasses
import functools

import click

from procobs_dagster.store.engine import Database
from procobs_dagster.store.migrate import ensure_current


@dataclasses.dataclass
class CliContext:
    database_url: str | None

    @functools.cached_property
    def database(self) -> Database:
        return Database(self.database_url)

    def ready_database(self) -> Database:
        """The database, refusing clearly if it is not migrated to this code's schema."""
        ensure_current(self.database)
        return self.database


pass_cli = click.make_pass_decorator(CliContext)
