"""State shared by every command: the database, opened only when a command needs it."""

import dataclasses
import functools
import os
from pathlib import Path

import click
from sqlalchemy.engine import URL

from procobs_dagster.errors import ConfigurationError, InvalidInput, SchemaNotReady
from procobs_dagster.input_files import describe
from procobs_dagster.store.engine import Database, resolve_url
from procobs_dagster.store.migrate import ensure_current


@dataclasses.dataclass
class CliContext:
    database_url: str | None

    @functools.cached_property
    def url(self) -> URL:
        return resolve_url(self.database_url)

    @property
    def sqlite_file(self) -> Path | None:
        """The file of an SQLite database; None for PostgreSQL."""
        if self.url.get_backend_name() != "sqlite":
            return None
        if self.url.database in (None, "", ":memory:"):
            # Every command is its own process: such a database is gone when it ends.
            raise ConfigurationError(
                "an in-memory SQLite database lasts only as long as one command: name a file"
                " (sqlite:///PATH)"
            )
        return Path(self.url.database)

    @functools.cached_property
    def database(self) -> Database:
        _ = self.sqlite_file  # refuses an in-memory database before it is made
        return Database(self.url)

    def sqlite_file_missing(self) -> bool:
        """Whether the SQLite file is not there yet (never, for PostgreSQL)."""
        path = self.sqlite_file
        try:
            return path is not None and not path.exists()
        except OSError as exc:  # a name longer than the file system takes
            raise ConfigurationError(
                f"cannot use {describe(path)} as the SQLite database: {exc.strerror}"
            ) from None

    def existing_database(self) -> Database:
        """The database, refusing an SQLite file that is not there: only `db upgrade`
        (and the demo) create one, so a mistyped PROCOBS_HOME is named, not filled."""
        if self.sqlite_file_missing():
            raise SchemaNotReady(
                f"no procobs database at {describe(self.sqlite_file)}: run `procobs db upgrade`"
                " to create it"
            )
        return self.database

    def ready_database(self) -> Database:
        """The database, refusing clearly if it is not migrated to this code's schema."""
        database = self.existing_database()
        ensure_current(database)
        return database

    def refuse_overwriting_database(self, path: Path) -> None:
        """Refuse to write an output file over the SQLite database itself."""
        database = self.sqlite_file
        same = database is not None and path.exists() and database.exists()
        if same and os.path.samefile(path, database):
            raise InvalidInput(f"{describe(path)} is the procobs database itself")


pass_cli = click.make_pass_decorator(CliContext)
