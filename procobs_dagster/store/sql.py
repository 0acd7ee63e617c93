"""SQL constructs whose spelling differs between PostgreSQL and SQLite.

Each compiles per dialect so the same Core expression runs on both databases.
"""

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import FunctionElement


class json_merge(FunctionElement):
    """``doc || patch``: shallow-merge a JSON object into a JSON column, atomically in SQL.

    A NULL patch leaves the column unchanged."""

    type = sa.JSON()
    inherit_cache = True


@compiles(json_merge, "postgresql")
def _json_merge_pg(element, compiler, **kw):
    doc, patch = list(element.clauses)
    doc_sql, patch_sql = compiler.process(doc, **kw), compiler.process(patch, **kw)
    # A NULL patch leaves the document as it is (NULL stays NULL).
    return f"coalesce(coalesce({doc_sql}, '{{}}'::jsonb) || CAST({patch_sql} AS jsonb), {doc_sql})"


@compiles(json_merge, "sqlite")
def _json_merge_sqlite(element, compiler, **kw):
    doc, patch = list(element.clauses)
    doc_sql, patch_sql = compiler.process(doc, **kw), compiler.process(patch, **kw)
    return f"coalesce(json_patch(coalesce({doc_sql}, '{{}}'), {patch_sql}), {doc_sql})"


class json_flag(FunctionElement):
    """True when the JSON object in ``doc`` has ``key`` set to boolean true (else false)."""

    type = sa.Boolean()
    inherit_cache = True


@compiles(json_flag, "postgresql")
def _json_flag_pg(element, compiler, **kw):
    doc, key = list(element.clauses)
    return (
        f"coalesce(({compiler.process(doc, **kw)} -> {compiler.process(key, **kw)}) "
        "= 'true'::jsonb, false)"
    )


@compiles(json_flag, "sqlite")
def _json_flag_sqlite(element, compiler, **kw):
    doc, key = list(element.clauses)
    # json_type distinguishes JSON true from the number 1, which json_extract conflates.
    return (
        f"coalesce(json_type({compiler.process(doc, **kw)}, '$.' || {compiler.process(key, **kw)}) "
        "= 'true', 0)"
    )


class current_txid(FunctionElement):
    """The writing transaction's id on Postgres (a 64-bit xid8 as bigint); NULL on SQLite.

    Outbox readers use it as a watermark: rows of transactions older than the oldest
    running one can no longer appear, so a cursor below that line never skips a late commit.
    SQLite serialises writers, so its rowid order already is commit order.
    """

    type = sa.BigInteger()
    inherit_cache = True


@compiles(current_txid, "postgresql")
def _current_txid_pg(element, compiler, **kw):
    return "(pg_current_xact_id()::text::bigint)"


@compiles(current_txid, "sqlite")
def _current_txid_sqlite(element, compiler, **kw):
    return "NULL"


class visible_txid_horizon(FunctionElement):
    """Transactions with an id below this value have all committed or aborted (Postgres)."""

    type = sa.BigInteger()
    inherit_cache = True


@compiles(visible_txid_horizon, "postgresql")
def _horizon_pg(element, compiler, **kw):
    return "(pg_snapshot_xmin(pg_current_snapshot())::text::bigint)"


@compiles(visible_txid_horizon, "sqlite")
def _horizon_sqlite(element, compiler, **kw):
    return "NULL"


def _named_per_dialect(element: type[FunctionElement], **names: str) -> None:
    """Compile ``element`` as the function each dialect names, over the same arguments."""
    for dialect, name in names.items():

        def render(element, compiler, _name=name, **kw):
            return f"{_name}({compiler.process(element.clauses, **kw)})"

        compiles(element, dialect)(render)


class json_object(FunctionElement):
    """A JSON object built in SQL from alternating keys and values (SQL expressions)."""

    type = sa.JSON()
    inherit_cache = True


_named_per_dialect(json_object, postgresql="jsonb_build_object", sqlite="json_object")


class json_list(FunctionElement):
    """Aggregate (or, with ``.over()``, window function): the values as a JSON array."""

    type = sa.JSON()
    inherit_cache = True


_named_per_dialect(json_list, postgresql="json_agg", sqlite="json_group_array")


class json_append_bounded(FunctionElement):
    """``doc`` (a JSON array, NULL read as empty) with ``item`` (a JSON SQL expression, e.g.
    a ``json_object``) appended, atomically in SQL, keeping at most the last ``keep``.

    The array stays bounded however often an element is appended (one per failed attempt)."""

    type = sa.JSON()
    inherit_cache = True

    def __init__(self, doc, item, keep: int):
        # A literal, not a parameter: it is part of the statement (and its cache key).
        super().__init__(doc, item, sa.literal_column(str(int(keep))))


@compiles(json_append_bounded, "postgresql")
def _json_append_pg(element, compiler, **kw):
    doc, item, keep = (compiler.process(c, **kw) for c in element.clauses)
    appended = f"(coalesce({doc}, '[]'::jsonb) || jsonb_build_array({item}))"
    # Removing index 0 once suffices: every append passes through here, one at a time.
    return (
        f"(CASE WHEN jsonb_array_length({appended}) > {keep} "
        f"THEN {appended} - 0 ELSE {appended} END)"
    )


@compiles(json_append_bounded, "sqlite")
def _json_append_sqlite(element, compiler, **kw):
    doc, item, keep = (compiler.process(c, **kw) for c in element.clauses)
    appended = f"json_insert(coalesce({doc}, '[]'), '$[#]', json({item}))"
    return (
        f"(CASE WHEN json_array_length({appended}) > {keep} "
        f"THEN json_remove({appended}, '$[0]') ELSE {appended} END)"
    )
