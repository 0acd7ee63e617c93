"""SQL constructs discovery needs whose spelling differs between PostgreSQL and SQLite."""

import contextlib
from collections.abc import Iterator

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import FunctionElement


class has_content(FunctionElement):
    """True when a JSON column holds an object with at least one key (else false)."""

    type = sa.Boolean()
    inherit_cache = True


@compiles(has_content, "postgresql")
def _has_content_pg(element, compiler, **kw):
    doc = compiler.process(next(iter(element.clauses)), **kw)
    return f"coalesce(jsonb_typeof({doc}) = 'object' AND {doc} <> '{{}}'::jsonb, false)"


@compiles(has_content, "sqlite")
def _has_content_sqlite(element, compiler, **kw):
    doc = compiler.process(next(iter(element.clauses)), **kw)
    return f"coalesce(json_type({doc}) = 'object' AND json({doc}) <> '{{}}', 0)"


class json_list(FunctionElement):
    """Aggregate (or, with ``.over()``, window function): the values as a JSON array."""

    type = sa.JSON()
    inherit_cache = True


@compiles(json_list, "postgresql")
def _json_list_pg(element, compiler, **kw):
    return f"json_agg({compiler.process(element.clauses, **kw)})"


@compiles(json_list, "sqlite")
def _json_list_sqlite(element, compiler, **kw):
    return f"json_group_array({compiler.process(element.clauses, **kw)})"


class bytewise(FunctionElement):
    """A text value compared byte by byte (``COLLATE "C"`` on Postgres; SQLite's default).

    Grouping needs equality, not a linguistic order: bytes sort fastest, and a sort on them
    is not mistaken for the order the column's own index provides (whose walk visits the
    heap at random, far slower than one sort over a sequential scan)."""

    type = sa.Text()
    inherit_cache = True


@compiles(bytewise, "postgresql")
def _bytewise_pg(element, compiler, **kw):
    return f'({compiler.process(element.clauses, **kw)} COLLATE "C")'


@compiles(bytewise, "sqlite")
def _bytewise_sqlite(element, compiler, **kw):
    return compiler.process(element.clauses, **kw)


@contextlib.contextmanager
def without_jit(conn: Connection) -> Iterator[None]:
    """Run the block with Postgres JIT compilation off, then restore the caller's setting.

    Postgres JIT-compiles any statement whose estimated cost passes ``jit_*_above_cost``;
    for the one-pass analytical statements of discovery, compiling (seconds of CPU) costs
    more than it saves. The setting is local to the caller's transaction and restored on
    success; on failure the transaction is lost anyway, and the setting with it.
    """
    if conn.dialect.name != "postgresql":
        yield
        return
    previous = conn.execute(sa.text("SELECT current_setting('jit')")).scalar_one()
    conn.execute(sa.text("SELECT set_config('jit', 'off', true)"))
    yield
    conn.execute(sa.text("SELECT set_config('jit', :value, true)"), {"value": previous})
