"""Shared by the benchmarks: a throwaway Postgres database and how results are printed.

Benchmarks need PostgreSQL: ``--database-url`` names a server (admin rights to create a
database), else PROCOBS_TEST_POSTGRES_URL, which `make bench` sets via .ci/with-postgres.
"""

import argparse
import contextlib
import os
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from procobs_dagster.store import migrate
from procobs_dagster.store.engine import Database, resolve_url


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--database-url", default=os.environ.get("PROCOBS_TEST_POSTGRES_URL"))
    return p


@contextlib.contextmanager
def fresh_postgres(admin_url: str | None, name: str) -> Iterator[Database]:
    if not admin_url:
        sys.exit("benchmark needs PostgreSQL: pass --database-url or run `make bench`")
    url = resolve_url(admin_url)
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    database = f"bench_{name}_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{database}"')
    db = Database(url.set(database=database))
    try:
        migrate.upgrade(db)
        yield db
    finally:
        db.dispose()
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        admin.dispose()


def vacuum_analyze(db: Database, *tables: str) -> None:
    """Clear dead rows and refresh statistics (outside a transaction: VACUUM refuses one),
    so a timed path does not pay for the bloat an earlier path left."""
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql(f"VACUUM ANALYZE {', '.join(tables)}")


@contextlib.contextmanager
def timed(results: dict, key: str) -> Iterator[None]:
    start = time.perf_counter()
    yield
    results[key] = time.perf_counter() - start


def alternating(
    db: Database,
    paths: dict[str, Callable[[Database, int], None]],
    runs: int,
    *,
    rounds: int,
    warm_up: int,
) -> dict[str, float]:
    """Seconds each path took for ``runs`` runs, measured in alternating rounds so every
    path sees the same table sizes and machine load; each path is warmed up first (caches,
    the connection pool)."""
    for path in paths.values():
        path(db, warm_up)
    results: dict[str, float] = dict.fromkeys(paths, 0.0)
    for _ in range(rounds):
        for name, path in paths.items():
            start = time.perf_counter()
            path(db, runs // rounds)
            results[name] += time.perf_counter() - start
    return results


def report(title: str, lines: list[tuple[str, str]]) -> None:
    print(f"\n== {title}")
    width = max(len(label) for label, _ in lines)
    for label, value in lines:
        print(f"  {label.ljust(width)}  {value}")
