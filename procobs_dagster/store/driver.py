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

Each statement is also prepared on the server, once per connection (``PREPARE``, then
``EXECUTE`` with the values): a statement that joins a ledger function's row to the event
gate and the caller's follow-up questions costs the server more to plan than to run, and
a prepared one is planned once for all (PostgreSQL then keeps a generic plan). A prepared
statement lives as long as its session, whatever becomes of the transaction that made
it, so the connection's ``info`` (which lives exactly as long) remembers it. Behind a
pooler that lends a server session per transaction (PgBouncer's ``pool_mode =
transaction``) a session's prepared statements are not there the next time:
``PROCOBS_PREPARED_STATEMENTS=off`` sends the same statements unprepared.

Only for fixed statements executed very often; everything else goes through SQLAlchemy.
"""

import functools
import itertools
import operator
import re
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.types import TypeEngine

# The engine's execution option saying whether driver statements are prepared (default
# yes); store/engine.py sets it from PROCOBS_PREPARED_STATEMENTS.
PREPARE_OPTION = "procobs_prepared_statements"


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


# Unique per process, so per session: each statement prepared under its own name.
_NAMES = (f"procobs_statement_{n}" for n in itertools.count(1))
_PREPARED = "procobs_prepared"  # connection info: the names prepared in its session
_PYFORMAT = re.compile(r"%\(([^)]+)\)s")


def _values_in(order: tuple[str, ...]) -> Callable[[dict], tuple]:
    """The values of ``order``'s parameters, as a tuple in that order."""
    if not order:
        return lambda _params: ()
    if len(order) == 1:
        return lambda params: (params[order[0]],)
    return operator.itemgetter(*order)


def _server_type(bind: sa.BindParameter, dialect: Dialect) -> str:
    """The type a parameter is declared with in ``PREPARE``: its column type's, as an
    interpolated value would have been read in context; ``unknown`` (the server infers
    it) for a value of no particular type."""
    try:
        return bind.type.compile(dialect=dialect)
    except sa.exc.CompileError:
        return "unknown"


def _prepared(
    name: str, sql: str, server_type: Callable[[str], str]
) -> tuple[str, str, tuple[str, ...]]:
    """``sql`` (pyformat) as ``PREPARE name (types) AS …`` with ``$n`` parameters, the
    ``EXECUTE`` that runs it, and the parameter names in ``$n`` order."""
    order: list[str] = []

    def number(match: re.Match) -> str:
        if match.group(1) not in order:
            order.append(match.group(1))
        return f"${order.index(match.group(1)) + 1}"

    # Sent without values, so the driver leaves it alone: %% is a plain % again.
    body = _PYFORMAT.sub(number, sql).replace("%%", "%")
    if not order:
        return f"PREPARE {name} AS {body}", f"EXECUTE {name}", ()
    types = ", ".join(server_type(parameter) for parameter in order)
    arguments = ", ".join(["%s"] * len(order))
    return f"PREPARE {name} ({types}) AS {body}", f"EXECUTE {name}({arguments})", tuple(order)


class _Compiled:
    """A statement as the driver sends it, for one dialect: plain (pyformat, with
    the values by name) and prepared (``PREPARE``/``EXECUTE``, the values in order)."""

    __slots__ = ("binds", "defaults", "execute", "plain", "prepare", "results", "values_in")

    def __init__(self, name: str, compiled, dialect: Dialect, columns: tuple):
        self.binds = tuple(
            (key, processor)
            for key, bind in compiled.binds.items()
            if not bind.expanding and (processor := _bind_processor(bind.type, dialect)) is not None
        )
        results = tuple(_result_processor(column.type, dialect) for column in columns)
        # None: no column needs converting, so rows are handed on as the driver read them.
        self.results = results if any(p is not None for p in results) else None
        # Values bound in the statement itself (a constant, say); the caller's win.
        self.defaults = {
            key: bind.effective_value
            for key, bind in compiled.binds.items()
            if not bind.required and not bind.expanding
        }
        self.plain = _render_constant_lists(compiled, dialect)
        self.prepare, self.execute, order = _prepared(
            name, self.plain, lambda key: _server_type(compiled.binds[key], dialect)
        )
        self.values_in = _values_in(order)


class DriverStatement:
    """A statement — a SELECT, a function called as one, an INSERT, UPDATE or DELETE,
    with or without RETURNING — compiled once per dialect, run through the driver and
    read back as rows of its returned columns (or as the count of rows it changed)."""

    def __init__(self, statement: sa.Select | sa.TextualSelect | sa.UpdateBase):
        self.statement = statement
        self.columns = tuple(statement.exported_columns)
        self.names = tuple(column.key for column in self.columns)
        self.name = next(_NAMES)

    @functools.cache  # noqa: B019 — statements live as long as the program, like dialects
    def _compiled(self, dialect: Dialect) -> _Compiled:
        if dialect.paramstyle != "pyformat":
            raise ValueError(f"a driver statement needs pyformat, not {dialect.paramstyle}")
        return _Compiled(self.name, self.statement.compile(dialect=dialect), dialect, self.columns)

    def _execute(self, conn: Connection, params: dict[str, Any], fetch):
        """``fetch(cursor)`` after running the statement on the connection's DBAPI
        connection (in the caller's transaction), with SQLAlchemy's exceptions."""
        compiled = self._compiled(conn.dialect)
        params = {**compiled.defaults, **params}
        for key, process in compiled.binds:
            params[key] = process(params[key])
        pooled = conn.connection
        dbapi_connection = pooled.dbapi_connection
        cursor = dbapi_connection.cursor()
        sql = compiled.plain
        try:
            if not conn.get_execution_options().get(PREPARE_OPTION, True):
                cursor.execute(sql, params)
            else:
                prepared = pooled.info.setdefault(_PREPARED, set())
                if self.name not in prepared:
                    sql = compiled.prepare
                    cursor.execute(sql)
                    prepared.add(self.name)
                sql = compiled.execute
                cursor.execute(sql, compiled.values_in(params))
            return fetch(cursor), compiled.results
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
