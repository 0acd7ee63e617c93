"""Statements sent straight through the driver's cursor, for the ledger's and the relay's
hot paths.

SQLAlchemy spends about 100 µs of Python on each execution (cache key, parameter
processing, result metadata, the row and mapping objects): as much as a round trip to a
local server, and more than the ledger's short function calls cost the server
(docs/ledger.md, "The write path"); the relay's claim and acknowledgement, run every
cycle, are sent this way too (docs/delivery.md, "How the relay stays fast"). A
:class:`DriverStatement` keeps what matters of that — the column types' own bind and
result processing, and SQLAlchemy's exception classes — and skips the rest. It runs on
the connection's DBAPI connection, inside the transaction the caller opened, so it
commits or rolls back with everything else.

Only for fixed statements executed very often; everything else goes through SQLAlchemy.
"""

import functools
import re
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.types import TypeEngine


def _bind_processor(type_: TypeEngine, dialect: Dialect):
    return type_.dialect_impl(dialect).bind_processor(dialect)


def _result_processor(type_: TypeEngine, dialect: Dialect):
    return type_.dialect_impl(dialect).result_processor(dialect, None)


# Where SQLAlchemy leaves an IN list to be expanded at execution.
_POSTCOMPILE = re.compile(r"__\[POSTCOMPILE_(\w+)\]")


def _render_constant_lists(compiled, dialect: Dialect) -> str:
    """The statement with its constant IN lists (``state.in_(("pending", "retry"))``)
    written out as literals, as SQLAlchemy renders them at each execution; a list whose
    values come at execution is refused (pass an array instead)."""

    def literal(match: re.Match) -> str:
        bind = compiled.binds[match.group(1)]
        if bind.required or not bind.expanding:
            raise ValueError(f"a driver statement cannot expand {bind.key!r} at execution")
        render = bind.type.literal_processor(dialect)
        return ", ".join(render(value) for value in bind.effective_value)

    return _POSTCOMPILE.sub(literal, compiled.string)


class DriverStatement:
    """A statement — a SELECT, a function called as one, an INSERT, UPDATE or DELETE,
    with or without RETURNING — compiled once per dialect, run through the driver and
    read back as rows of its returned columns (or as the count of rows it changed)."""

    def __init__(self, statement: sa.Select | sa.TextualSelect | sa.UpdateBase):
        self.statement = statement
        self.columns = tuple(statement.exported_columns)
        self.names = tuple(column.key for column in self.columns)

    @functools.cache  # noqa: B019 — statements live as long as the program, like dialects
    def _compiled(self, dialect: Dialect) -> tuple[str, dict, tuple, tuple | None]:
        compiled = self.statement.compile(dialect=dialect)
        if dialect.paramstyle != "pyformat":
            raise ValueError(f"a driver statement needs pyformat, not {dialect.paramstyle}")
        binds = tuple(
            (name, processor)
            for name, bind in compiled.binds.items()
            if not bind.expanding and (processor := _bind_processor(bind.type, dialect)) is not None
        )
        results = tuple(_result_processor(column.type, dialect) for column in self.columns)
        # Values bound in the statement itself (a constant, say); the caller's win.
        defaults = {
            name: bind.effective_value
            for name, bind in compiled.binds.items()
            if not bind.required and not bind.expanding
        }
        # None: no column needs converting, so rows are handed on as the driver read them.
        processed = results if any(p is not None for p in results) else None
        return _render_constant_lists(compiled, dialect), defaults, binds, processed

    def _execute(self, conn: Connection, params: dict[str, Any], fetch):
        """``fetch(cursor)`` after running the statement on the connection's DBAPI
        connection (in the caller's transaction), with SQLAlchemy's exceptions."""
        sql, defaults, binds, results = self._compiled(conn.dialect)
        params = {**defaults, **params}
        for name, process in binds:
            params[name] = process(params[name])
        dbapi_connection = conn.connection.dbapi_connection
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(sql, params)
            return fetch(cursor), results
        except conn.dialect.loaded_dbapi.Error as exc:
            _raise_wrapped(conn, exc, sql, params, dbapi_connection, cursor)
        finally:
            cursor.close()

    def first(self, conn: Connection, params: dict[str, Any]) -> dict[str, Any] | None:
        """The first row the statement returns, by column name, or None."""
        row, results = self._execute(conn, params, lambda cursor: cursor.fetchone())
        if row is None:
            return None
        if results is None:
            return dict(zip(self.names, row, strict=True))
        return {
            name: value if process is None else process(value)
            for name, process, value in zip(self.names, results, row, strict=True)
        }

    def all(self, conn: Connection, params: dict[str, Any]) -> list[tuple]:
        """Every row the statement returns, as tuples of its columns in order."""
        rows, results = self._execute(conn, params, lambda cursor: cursor.fetchall())
        if results is None:
            return rows
        return [
            tuple(
                value if process is None else process(value)
                for process, value in zip(results, row, strict=True)
            )
            for row in rows
        ]

    def rowcount(self, conn: Connection, params: dict[str, Any]) -> int:
        """How many rows the statement changed (an INSERT, UPDATE or DELETE)."""
        count, _ = self._execute(conn, params, lambda cursor: cursor.rowcount)
        return count


def _raise_wrapped(conn, exc, sql, params, dbapi_connection, cursor):
    """Raise ``exc`` as SQLAlchemy would have (IntegrityError, OperationalError…); a lost
    connection is invalidated first, so the pool does not hand it out again."""
    dialect = conn.dialect
    invalidated = dialect.is_disconnect(exc, dbapi_connection, cursor)
    if invalidated:
        conn.invalidate(exc)
    raise sa.exc.DBAPIError.instance(
        sql,
        params,
        exc,
        dialect.loaded_dbapi.Error,
        connection_invalidated=invalidated,
        dialect=dialect,
    ) from exc
