"""Throwaway databases for tests: a migrated template per backend, copied per test.

PostgreSQL comes from ``PROCOBS_TEST_POSTGRES_URL`` (``make test`` starts a cluster and
sets it). Without it the Postgres half of the suite is skipped, except under ``CI=true``
where a Postgres suite that cannot run is a failure.
"""

import os
import shutil
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from procobs_dagster.store import migrate
from procobs_dagster.store.engine import Database

POSTGRES_URL_ENV = "PROCOBS_TEST_POSTGRES_URL"


def postgres_admin_url() -> sa.URL:
    raw = os.environ.get(POSTGRES_URL_ENV)
    if not raw:
        message = (
            f"PostgreSQL tests need {POSTGRES_URL_ENV} (`make test` starts a server and sets it)"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(f"under CI=true the Postgres suite must run: {message}", pytrace=False)
        pytest.skip(message)
    return sa.make_url(raw)


class PostgresDatabases:
    """CREATE DATABASE … TEMPLATE: a migrated copy in tens of milliseconds."""

    def __init__(self, admin_url: sa.URL, tag: str):
        self.admin_url = admin_url
        self.admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
        self.template = f"procobs_tpl_{tag}"
        self.tag = tag
        self._execute(f'DROP DATABASE IF EXISTS "{self.template}" WITH (FORCE)')
        self._execute(f'CREATE DATABASE "{self.template}"')
        template_db = Database(admin_url.set(database=self.template))
        migrate.upgrade(template_db)
        template_db.dispose()

    def _execute(self, statement: str) -> None:
        with self.admin.connect() as conn:
            conn.exec_driver_sql(statement)

    def create(self, migrated: bool = True) -> Database:
        name = f"t_{self.tag}_{uuid.uuid4().hex[:12]}"
        template = self.template if migrated else "template0"
        self._execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        return Database(self.admin_url.set(database=name))

    def drop(self, db: Database) -> None:
        db.dispose()
        self._execute(f'DROP DATABASE IF EXISTS "{db.url.database}" WITH (FORCE)')

    def close(self) -> None:
        self._execute(f'DROP DATABASE IF EXISTS "{self.template}" WITH (FORCE)')
        self.admin.dispose()


class SqliteDatabases:
    def __init__(self, directory: Path):
        self.directory = directory
        self.template = directory / "template.db"
        template_db = Database(f"sqlite:///{self.template}")
        migrate.upgrade(template_db)
        template_db.dispose()

    def create(self, migrated: bool = True) -> Database:
        path = self.directory / f"{uuid.uuid4().hex[:12]}.db"
        if migrated:
            shutil.copyfile(self.template, path)
        return Database(f"sqlite:///{path}")

    def drop(self, db: Database) -> None:
        db.dispose()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db.url.database}{suffix}").unlink(missing_ok=True)

    def close(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)


def every_value(db: Database) -> str:
    """Every value of every table of ``db`` as text, to look for what must not be stored."""
    with db.read() as conn:
        dumped = []
        for table in sa.inspect(conn).get_table_names():
            for row in conn.execute(sa.text(f'SELECT * FROM "{table}"')):
                dumped.extend(str(v) for v in row)
    return " ".join(dumped)
