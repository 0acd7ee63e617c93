"""Statements sent straight through the driver's cursor, for the ledger's hot path.

SQLAlchemy spends about 100 µs of Python on each execution (cache key, parameter
processing, result metadata, the row and mapping objects): as much as a round trip to a
local server, and more than the ledger's short function calls cost the server
(docs/ledger.md, "The write path"). A :class:`DriverStatement` keeps what matters of
that — the column types' own bind and result processing, and SQLAlchemy's exception
classes — and skips the rest. It runs on the connection's DBAPI connection, inside the
transaction the caller opened, so it commits or rolls back with everything else.

Each statement is also prepared on the server, once per connection (``PREPARE``, then
``EXECUTE`` with the values): a statement that joins a ledger function's row to the event
gate and the caller's follow-up questions costs the server more to plan than to run, and
a prepared one is planned once for all (PostgreSQL then keeps a generic plan). A prepared
statement lives as long as its session, whatever becomes of the transaction that made
it, so the connection's ``info`` (which lives exactly as long) remembers it.

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


def _bind_processor(type_: TypeEngine, dialect: Dialect):
    return type_.dialect_impl(dialect).bind_processor(dialect)


def _result_processor(type_: TypeEngine, dialect: Dialect):
    return type_.dialect_impl(dialect).result_processor(dialect, None)


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


class DriverStatement:
    """A SELECT (or a function called as one) compiled once per dialect, run through
    the driver and read back as rows of its selected columns."""

    def __init__(self, statement: sa.Select | sa.TextualSelect):
        self.statement = statement
        self.names = tuple(column.key for column in statement.selected_columns)
        self.name = next(_NAMES)

    @functools.cache  # noqa: B019 — statements live as long as the program, like dialects
    def _compiled(self, dialect: Dialect) -> tuple[str, str, Callable, dict, tuple, tuple]:
        compiled = self.statement.compile(dialect=dialect)
        if dialect.paramstyle != "pyformat":
            raise ValueError(f"a driver statement needs pyformat, not {dialect.paramstyle}")
        binds = tuple(
            (name, processor)
            for name, bind in compiled.binds.items()
            if (processor := _bind_processor(bind.type, dialect)) is not None
        )
        results = tuple(
            _result_processor(column.type, dialect) for column in self.statement.selected_columns
        )
        # Values bound in the statement itself (a constant list, say); the caller's win.
        defaults = {
            name: bind.effective_value for name, bind in compiled.binds.items() if not bind.required
        }
        prepare, execute, order = _prepared(
            self.name, compiled.string, lambda name: _server_type(compiled.binds[name], dialect)
        )
        return prepare, execute, _values_in(order), defaults, binds, results

    def first(self, conn: Connection, params: dict[str, Any]) -> dict[str, Any] | None:
        """The first row the statement returns, by column name, or None."""
        prepare, execute, values_in, defaults, binds, results = self._compiled(conn.dialect)
        params = {**defaults, **params}
        for name, process in binds:
            params[name] = process(params[name])
        pooled = conn.connection
        prepared = pooled.info.setdefault(_PREPARED, set())
        dbapi_connection = pooled.dbapi_connection
        cursor = dbapi_connection.cursor()
        sql = prepare
        try:
            if self.name not in prepared:
                cursor.execute(prepare)
                prepared.add(self.name)
            sql = execute
            cursor.execute(execute, values_in(params))
            row = cursor.fetchone()
        except conn.dialect.loaded_dbapi.Error as exc:
            _raise_wrapped(conn, exc, sql, params, dbapi_connection, cursor)
        finally:
            cursor.close()
        if row is None:
            return None
        return {
            name: value if process is None else process(value)
            for name, process, value in zip(self.names, results, row, strict=True)
        }


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
