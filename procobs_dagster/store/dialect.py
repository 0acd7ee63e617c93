"""Statements whose construction differs by dialect (not just their spelling), and the
one test of which dialect a connection speaks."""

import functools
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection


def is_postgres(conn: Connection) -> bool:
    return conn.dialect.name == "postgresql"


def among(column: sa.ColumnElement, values: Sequence, dialect: str) -> sa.ColumnElement[bool]:
    """``column IN values``: on Postgres one array parameter (``= ANY(:values)``), so a
    batch of a thousand keys is one parameter, not a thousand."""
    if dialect == "postgresql":
        return column == sa.any_(sa.literal(list(values), postgresql.ARRAY(column.type)))
    return column.in_(values)


def among_pairs(
    first: sa.ColumnElement, second: sa.ColumnElement, pairs: list[tuple], dialect: str
) -> sa.ColumnElement:
    """``(first, second) IN pairs``. On Postgres one ``first = v AND second = ANY(:array)``
    per distinct first value (a sink, a source: a handful), which the planner turns into a
    few index scans where a list of row values becomes one bitmap scan per pair."""
    if dialect != "postgresql":
        return sa.tuple_(first, second).in_(pairs)
    grouped: dict[Any, list] = {}
    for a, b in pairs:
        grouped.setdefault(a, []).append(b)
    return sa.or_(
        *(sa.and_(first == a, among(second, values, dialect)) for a, values in grouped.items())
    )


def _dialect_module(dialect: str):
    return postgresql if dialect == "postgresql" else sqlite


@functools.cache
def insert_ignoring_conflicts(dialect: str, table: sa.Table) -> sa.Insert:
    """``INSERT … ON CONFLICT DO NOTHING`` on any unique constraint or index."""
    return _dialect_module(dialect).insert(table).on_conflict_do_nothing()


def _on_conflict_update(statement, key: Sequence[str], update: Iterable[str]) -> sa.Insert:
    return statement.on_conflict_do_update(
        index_elements=list(key), set_={name: statement.excluded[name] for name in update}
    )


def upsert(
    dialect: str,
    table: sa.Table,
    values: Mapping[str, Any] | Sequence[Mapping[str, Any]],
    *,
    key: Sequence[str],
    update: Iterable[str] | None = None,
) -> sa.Insert:
    """``INSERT … ON CONFLICT (key) DO UPDATE``: a row whose ``key`` exists takes the
    inserted values of ``update`` (default: every inserted column but the key). A list of
    rows goes as one multi-row VALUES, one round trip (for thousands of rows,
    ``upsert_many``)."""
    statement = _dialect_module(dialect).insert(table).values(values)
    if update is None:
        first = values if isinstance(values, Mapping) else values[0]
        update = [name for name in first if name not in key]
    return _on_conflict_update(statement, key, update)


def upsert_many(
    conn: Connection, table: sa.Table, rows: Sequence[Mapping[str, Any]], *, key: Sequence[str]
) -> None:
    """``upsert`` of many rows (each with the same columns, each key once), every column
    but the key updated. The rows go as parameter sets, which SQLAlchemy sends as pages of
    multi-row VALUES (its "insertmanyvalues") from a statement compiled once: ``upsert``
    of a list compiles a bind parameter per value — seconds for 10 000 rows — and can pass
    SQLite's limit of 32 766 of them. SQLAlchemy pages an upsert only if it returns rows
    (without RETURNING it sends one statement per row), hence the keys returned."""
    if not rows:
        return
    statement = _dialect_module(conn.dialect.name).insert(table)
    update = [name for name in rows[0] if name not in key]
    returning = _on_conflict_update(statement, key, update).returning(*[table.c[k] for k in key])
    conn.execute(returning, list(rows)).close()
