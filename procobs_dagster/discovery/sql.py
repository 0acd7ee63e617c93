"""SQL constructs discovery needs whose spelling differs between PostgreSQL and SQLite."""

import contextlib
from collections.abc import Iterator

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import FunctionElement

from procobs_dagster.store.dialect import is_postgres


class has_content(FunctionElement):
    """True when a JSON column holds an object with at least one key (else false)."""

    type = sa.Boolean()
    inherit_cache = True


@compiles(has_content, "postgresql")
def _has_content_pg(element, compiler, **kw):
    # jsonb's documented B-tree order puts objects above every other kind and an object
    # with n pairs above one with n - 1, so exactly the non-empty objects sort above {}:
    # one comparison, where jsonb_typeof(...) = 'object' builds and compares a text per row
    # (a third of a full scoring's scan).
    doc = compiler.process(next(iter(element.clauses)), **kw)
    return f"coalesce({doc} > '{{}}'::jsonb, false)"


@compiles(has_content, "sqlite")
def _has_content_sqlite(element, compiler, **kw):
    doc = compiler.process(next(iter(element.clauses)), **kw)
    return f"coalesce(json_type({doc}) = 'object' AND json({doc}) <> '{{}}', 0)"


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


# Postgres settings for discovery's one-pass analytical statements, local to the statement:
# * jit off — Postgres JIT-compiles any statement whose estimated cost passes
#   ``jit_*_above_cost``; compiling (seconds of CPU) costs more than it saves here;
# * work_mem 64MB — the default 4MB sends the sort of the components, the hash of the
#   sequences and the grouping to temporary files from about 100k component rows on (the
#   sort alone spilled 84MB at 1M rows). 64MB keeps the hashes in memory up to a few
#   million rows; the sort of 1M components still spills when one process sorts them all,
#   not when two parallel workers share it (each sorts its share in about 48MB). It
#   bounds each sort or hash of the one statement (a parallel worker has its own), not
#   the session.
ANALYTICAL_SETTINGS = {"jit": "off", "work_mem": "64MB"}
# Settings for the statements that read only some keys (an incremental refresh): the keys
# come as one array parameter, whose selectivity the planner cannot see, and up to about
# 100k rows it takes a sequential scan of the ledger for cheaper than a thousand index
# probes — a pass that grows with the ledger. Index reads keep the refresh O(changed).
KEYED_SETTINGS = {"enable_seqscan": "off"}


@contextlib.contextmanager
def analytical_settings(
    conn: Connection, settings: dict[str, str] = ANALYTICAL_SETTINGS
) -> Iterator[None]:
    """Run the block with ``settings`` (``ANALYTICAL_SETTINGS`` unless told), then restore
    the caller's values.

    The settings are local to the caller's transaction and restored on success, so the
    rest of that transaction runs as it would have; on failure the transaction is lost
    anyway, and the settings with it. One round trip before the block, one after."""
    if not is_postgres(conn):
        yield
        return
    names = {f"name{i}": name for i, name in enumerate(settings)}
    assign = ", ".join(f"set_config(:{key}, :value{i}, true)" for i, key in enumerate(names))

    def parameters(values) -> dict:
        return {**names, **{f"value{i}": value for i, value in enumerate(values)}}

    # The fenced subquery reads the caller's values before the outer select changes them.
    read = ", ".join(f"current_setting(:{key}) AS {key}" for key in names)
    previous = conn.execute(
        sa.text(f"SELECT previous.*, {assign} FROM (SELECT {read} OFFSET 0) AS previous"),
        parameters(settings.values()),
    ).one()[: len(names)]
    yield
    conn.execute(sa.text(f"SELECT {assign}"), parameters(previous))
