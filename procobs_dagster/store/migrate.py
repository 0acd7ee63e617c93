"""Schema migrations: upgrade, downgrade, status, the rendered SQL packet, rehearsal."""

import contextlib
import io
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from procobs_dagster.errors import InvalidInput, SchemaNotReady
from procobs_dagster.store.engine import Database
from procobs_dagster.store.tables import metadata

MIGRATIONS_DIR = Path(__file__).with_name("migrations")

# Tables an observation must never write: a ledger write is not a birth (docs/design.md,
# "Observation is never a birth"), and nothing is emitted or audited behind the owner's
# back.
GUARDED_TABLES = ("birth_registry", "process_definition", "event_outbox", "audit_log")


def _config(**attributes) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes.update(attributes)
    return config


def script() -> ScriptDirectory:
    return ScriptDirectory.from_config(_config())


def head_revision() -> str:
    return script().get_current_head()


def pending_revisions(current: str | None) -> list[str]:
    """Revisions between ``current`` and head, in the order they would be applied."""
    steps = script().iterate_revisions("head", current or "base")
    return [step.revision for step in reversed(list(steps))]


def current_revision(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


def _check_revision(revision: str) -> None:
    if revision in ("head", "base") or revision.startswith(("+", "-")):
        return
    try:
        script().get_revision(revision)
    except Exception:
        raise InvalidInput(f"unknown migration revision: {revision!r}") from None


def upgrade_on(conn: Connection, revision: str = "head") -> None:
    _check_revision(revision)
    command.upgrade(_config(connection=conn), revision)


def upgrade(db: Database, revision: str = "head") -> None:
    with db.begin() as conn:
        upgrade_on(conn, revision)


def downgrade(db: Database, revision: str = "-1") -> None:
    _check_revision(revision)
    with db.begin() as conn:
        command.downgrade(_config(connection=conn), revision)


def ensure_current(db: Database) -> None:
    """Refuse to work on a database that is not at the schema this code expects."""
    with db.read() as conn:
        current = current_revision(conn)
    head = head_revision()
    if current != head:
        raise SchemaNotReady(
            f"database {db.display_url} is at schema {current or 'none'}, this procobs needs "
            f"{head}: run `procobs db upgrade`"
        )


def render_sql(direction: str) -> str:
    """The Postgres apply packet (``upgrade``) or its rollback (``downgrade``), offline."""
    buffer = io.StringIO()
    config = _config(dialect_name="postgresql")
    config.output_buffer = buffer
    with contextlib.redirect_stdout(buffer):
        if direction == "upgrade":
            command.upgrade(config, "head", sql=True)
        elif direction == "downgrade":
            command.downgrade(config, f"{head_revision()}:base", sql=True)
        else:
            raise InvalidInput(f"unknown direction {direction!r}: use upgrade or downgrade")
    return buffer.getvalue()


def _count(conn: Connection, table: str) -> int | None:
    if not sa.inspect(conn).has_table(table):
        return None
    return conn.execute(sa.select(sa.func.count()).select_from(metadata.tables[table])).scalar_one()


def rehearse(db: Database, probe: Callable[[Connection], None]) -> dict:
    """Apply pending migrations and run ``probe`` (a test observation) inside one
    transaction, count the guarded tables before and after, then roll everything back.

    Returns ``{"tables": {name: {"before", "after", "after_rollback"}}, "changed": [...]}``.
    """
    with db.connect() as conn:
        conn = conn.execution_options(sqlite_begin="IMMEDIATE")
        transaction = conn.begin()
        try:
            before = {t: _count(conn, t) for t in GUARDED_TABLES}
            revision_before = current_revision(conn)
            upgrade_on(conn)
            probe(conn)
            after = {t: _count(conn, t) for t in GUARDED_TABLES}
        finally:
            transaction.rollback()
        with conn.begin():
            after_rollback = {t: _count(conn, t) for t in GUARDED_TABLES}
            revision_after = current_revision(conn)
    # A table that did not exist before counts as empty: creating it is not a write.
    changed = [
        t
        for t in GUARDED_TABLES
        if (before[t] or 0) != (after[t] or 0) or after_rollback[t] != before[t]
    ]
    return {
        "revision_before": revision_before,
        "revision_after_rollback": revision_after,
        "head": head_revision(),
        "tables": {
            t: {"before": before[t], "after": after[t], "after_rollback": after_rollback[t]}
            for t in GUARDED_TABLES
        },
        "changed": changed,
    }
