"""SQLite: the integer keys retention deletes rows of become AUTOINCREMENT, so a key is
never given twice (docs/operations/sizing.md, "What each job guarantees").

Without AUTOINCREMENT SQLite gives a new row the highest key present plus one: once
retention deleted the rows holding the highest keys, the next insert took one of them
again — an outbox seq at or below a sink's fan-out cursor (an event never fanned out), a
history or audit id already in its archive (the next retention failed on the archive's
key). Postgres sequences never go back: nothing changes there.

SQLite cannot add AUTOINCREMENT to a table, so each table is rebuilt from its own CREATE
statement (the key column made ``INTEGER PRIMARY KEY AUTOINCREMENT``), its rows copied
with their keys, its indexes and triggers (store/triggers.py) recreated from their stored
SQL. Rows of tables whose foreign keys refer to it (delivery_state → event_outbox) wait in
a temporary table meanwhile: foreign keys stay enforced and cannot be switched off inside
the migration's transaction. The table's counter starts at the highest key it, its
archive or a fan-out cursor has seen, so even a key already lost before this migration
is not handed out again.

Revision ID: 0013_sqlite_autoincrement
Revises: 0012_ledger_functions
"""

import re

import sqlalchemy as sa
from alembic import context, op
from sqlalchemy.engine import Connection

revision = "0013_sqlite_autoincrement"
down_revision = "0012_ledger_functions"
branch_labels = None
depends_on = None

# table → (key, the other places its keys are recorded: (table, column))
KEYS = {
    "event_outbox": ("seq", [("delivery_cursor", "last_seq")]),
    "audit_log": ("audit_id", [("audit_log_archive", "audit_id")]),
    "process_status_history": ("history_id", [("process_status_history_archive", "history_id")]),
    "workflow_event": ("event_seq", []),
    "discovery_score": ("score_id", []),
}


def _plain_key(table: str, key: str) -> tuple[str, str]:
    return f"{key} INTEGER NOT NULL,", f"CONSTRAINT pk_{table} PRIMARY KEY ({key})"


def _autoincrement_key(key: str) -> str:
    return f"{key} INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,"


def _replace_once(sql: str, old: str, new: str, table: str) -> str:
    """``sql`` with ``old`` (starting a word: not ``event_seq`` for ``seq``) made ``new``;
    a schema it is not found in exactly once is not one this migration knows."""
    replaced, count = re.subn(rf"(?<![\w\"]){re.escape(old)}", lambda _: new, sql)
    if count != 1:
        raise RuntimeError(f"{table}: unexpected schema, cannot find {old!r} in {sql!r}")
    return replaced


def _with_autoincrement(sql: str, table: str, key: str) -> str:
    column, constraint = _plain_key(table, key)
    sql = _replace_once(sql, column, _autoincrement_key(key), table)
    found = re.subn(rf",\s*{re.escape(constraint)}", "", sql)
    if found[1] != 1:
        raise RuntimeError(f"{table}: unexpected schema, cannot find {constraint!r}")
    return found[0]


def _without_autoincrement(sql: str, table: str, key: str) -> str:
    column, constraint = _plain_key(table, key)
    sql = _replace_once(sql, _autoincrement_key(key), column, table)
    body, end = sql.rsplit(")", 1)
    return f"{body.rstrip()}, \n\t{constraint}\n){end}"


def _rebuild(conn: Connection, table: str, rewrite) -> None:
    """Recreate ``table`` from its stored CREATE statement as ``rewrite`` changes it, with
    its rows, indexes and triggers."""
    stored = conn.exec_driver_sql(
        "SELECT type, sql FROM sqlite_master WHERE tbl_name = ? AND sql IS NOT NULL", (table,)
    ).all()
    [create] = [sql for kind, sql in stored if kind == "table"]
    others = [sql for kind, sql in stored if kind in ("index", "trigger")]
    children = [
        row[0]
        for row in conn.exec_driver_sql(
            "SELECT m.name FROM sqlite_master m, pragma_foreign_key_list(m.name) f "
            "WHERE m.type = 'table' AND f.\"table\" = ?",
            (table,),
        )
    ]
    rebuilt = f"{table}__rebuilt"
    new_create, count = re.subn(
        rf'^CREATE TABLE "?{table}"?\s*\(', f"CREATE TABLE {rebuilt} (", rewrite(create)
    )
    if count != 1:
        raise RuntimeError(f"{table}: unexpected schema {create!r}")
    conn.exec_driver_sql(new_create)
    conn.exec_driver_sql(f"INSERT INTO {rebuilt} SELECT * FROM {table}")
    for child in children:
        conn.exec_driver_sql(f"CREATE TEMP TABLE {child}__waiting AS SELECT * FROM {child}")
        conn.exec_driver_sql(f"DELETE FROM {child}")
    conn.exec_driver_sql(f"DROP TABLE {table}")
    conn.exec_driver_sql(f"ALTER TABLE {rebuilt} RENAME TO {table}")
    for sql in others:
        conn.exec_driver_sql(sql)
    for child in children:
        conn.exec_driver_sql(f"INSERT INTO {child} SELECT * FROM temp.{child}__waiting")
        conn.exec_driver_sql(f"DROP TABLE temp.{child}__waiting")


def _on_sqlite() -> bool:
    return not context.is_offline_mode() and op.get_bind().dialect.name == "sqlite"


def upgrade() -> None:
    if not _on_sqlite():
        return
    conn = op.get_bind()
    for table, (key, seen_in) in KEYS.items():
        _rebuild(conn, table, lambda sql, t=table, k=key: _with_autoincrement(sql, t, k))
        highest = max(
            conn.execute(
                sa.select(sa.func.coalesce(sa.func.max(sa.column(c)), 0)).select_from(sa.table(t))
            ).scalar_one()
            for t, c in [(table, key), *seen_in]
        )
        conn.exec_driver_sql("DELETE FROM sqlite_sequence WHERE name = ?", (table,))
        conn.exec_driver_sql(
            "INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)", (table, highest)
        )


def downgrade() -> None:
    if not _on_sqlite():
        return
    conn = op.get_bind()
    for table, (key, _) in KEYS.items():
        # Dropping the AUTOINCREMENT table drops its sqlite_sequence row with it.
        _rebuild(conn, table, lambda sql, t=table, k=key: _without_autoincrement(sql, t, k))
