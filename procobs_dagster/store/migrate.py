"""Schema migrations: upgrade, downgrade, status, the rendered SQL packet, rehearsal."""

import contextlib
import dataclasses
import io
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.script.revision import RevisionError
from alembic.util.exc import CommandError
from sqlalchemy.engine import Connection

from procobs_dagster.errors import (
    EXIT_DATABASE,
    InvalidInput,
    NotConfirmed,
    ProcobsError,
    SchemaNotReady,
)
from procobs_dagster.limits import shown
from procobs_dagster.store.engine import Database
from procobs_dagster.store.tables import metadata

MIGRATIONS_DIR = Path(__file__).with_name("migrations")

# Tables an observation must never write: a ledger write is not a birth (docs/design.md,
# "Observation is never a birth"), and nothing is emitted or audited behind the owner's
# back.
GUARDED_TABLES = ("birth_registry", "process_definition", "event_outbox", "audit_log")


# How long a migration's statement waits for a lock (PostgreSQL) before the migration
# gives up. DDL queued behind a long transaction holds every later reader and writer of
# its table behind it, so waiting without end stalls the platform for as long as that
# transaction runs. A session that has a lock_timeout of its own (PGOPTIONS) keeps it.
MIGRATION_LOCK_TIMEOUT_SECONDS = 10.0
_LOCK_NOT_AVAILABLE = "55P03"  # SQLSTATE of a wait cut short by lock_timeout


class MigrationLockTimeout(ProcobsError):
    """A migration gave up waiting for a lock; its transaction was rolled back."""

    exit_code = EXIT_DATABASE


@contextlib.contextmanager
def _bounded_lock_waits(conn: Connection) -> Iterator[None]:
    """Run the block with the migration lock timeout, local to the caller's transaction
    (so the pooled session keeps its own setting); a wait cut short is one line."""
    if conn.dialect.name != "postgresql":
        yield
        return
    milliseconds = max(1, round(MIGRATION_LOCK_TIMEOUT_SECONDS * 1000))
    waits = conn.execute(
        sa.text(
            "SELECT CASE WHEN current_setting('lock_timeout') = '0' "
            "THEN set_config('lock_timeout', :ms, true) "
            "ELSE current_setting('lock_timeout') END"
        ),
        {"ms": f"{milliseconds}ms"},
    ).scalar_one()
    try:
        yield
    except sa.exc.OperationalError as exc:
        if getattr(exc.orig, "pgcode", None) != _LOCK_NOT_AVAILABLE:
            raise
        raise MigrationLockTimeout(
            f"a migration waited more than {_seconds(waits)} for a lock another session "
            "holds, and nothing was changed: stop the daemon and the relays "
            "(docs/operations/upgrading.md) or end the long transaction, then run it again"
        ) from None


def _seconds(setting: str) -> str:
    """A lock_timeout as PostgreSQL shows it (``500ms``, ``10s``, ``1min``) in seconds."""
    for unit, factor in (("ms", 0.001), ("s", 1), ("min", 60), ("h", 3600)):
        number = setting.removesuffix(unit)
        if number != setting and number.isdigit():
            return f"{int(number) * factor:g} s"
    return setting


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
    check_known(current)
    steps = script().iterate_revisions("head", current or "base")
    return [step.revision for step in reversed(list(steps))]


def is_known(revision: str | None) -> bool:
    if revision is None:
        return True
    try:
        return script().get_revision(revision) is not None
    except (CommandError, RevisionError):
        return False


def check_known(current: str | None, where: str = "the database") -> None:
    """Refuse a database stamped with a revision this code has no migration for (a
    newer procobs migrated it): nothing here can read it, upgrade or downgrade it."""
    if not is_known(current):
        raise SchemaNotReady(
            f"{where} is at schema {shown(current)}, which this procobs does not know (a newer "
            f"procobs migrated it; this one knows up to {head_revision()}): use that procobs"
        )


def check_versioned(conn: Connection, current: str | None, where: str = "the database") -> None:
    """Refuse tables without a recorded revision (``current``, as read): someone removed
    alembic_version, or created the tables by hand. Nothing can tell which schema they
    are at, and migrating would fail half-way on the first existing table."""
    if current is None:
        found = sorted(set(sa.inspect(conn).get_table_names()) & set(metadata.tables))
        if found:
            raise SchemaNotReady(
                f"{where} holds procobs tables ({', '.join(found[:3])}"
                f"{', …' if len(found) > 3 else ''}) but records no schema revision "
                "(alembic_version is missing): restore it from a backup"
            )


@contextlib.contextmanager
def _alembic_errors(revision: str) -> Iterator[None]:
    """Alembic's refusals (no such revision, not a downgrade target…) as one line."""
    try:
        yield
    except (CommandError, RevisionError) as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InvalidInput(f"cannot migrate to {shown(revision)}: {message}") from None


def current_revision(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


_RELATIVE = re.compile(r"[+-][0-9]{1,3}")


def _check_revision(revision: str) -> None:
    if revision in ("head", "base") or _RELATIVE.fullmatch(revision):
        return
    if not isinstance(revision, str) or not revision or not is_known(revision):
        raise InvalidInput(f"unknown migration revision: {shown(revision)}")


def _symbolic(revision: str) -> bool:
    """``revision`` is a symbol (head, heads, base) or a relative step, not a revision id."""
    return revision in ("head", "heads", "base") or bool(_RELATIVE.fullmatch(revision))


def _named(revision: str) -> str | None:
    """The revision id ``revision`` names (an id or a unique prefix of one); None for
    the symbols and relative steps."""
    return None if _symbolic(revision) else script().get_revision(revision).revision


def _below(revision: str, current: str | None) -> bool:
    """``revision`` (as given) lies before ``current`` in the history."""
    if current is None:
        return False
    if revision == "base":
        return True
    target = _named(revision)
    return target is not None and target != current and target not in pending_revisions(current)


def upgrade_on(conn: Connection, revision: str = "head") -> None:
    _check_revision(revision)
    current = current_revision(conn)
    check_known(current)
    check_versioned(conn, current)
    if _below(revision, current):
        raise InvalidInput(
            f"the database is at {current}, above {shown(revision)}: an upgrade goes up"
            " (`procobs db downgrade` goes down)"
        )
    with _alembic_errors(revision), _bounded_lock_waits(conn):
        command.upgrade(_config(connection=conn), revision)


def upgrade(db: Database, revision: str = "head") -> None:
    with db.begin() as conn:
        upgrade_on(conn, revision)


@dataclasses.dataclass(frozen=True)
class Downgrade:
    """What a downgrade does: from and to which revision, and the tables it drops with
    the rows they hold."""

    current: str
    target: str | None
    dropped: dict[str, int]

    @property
    def births(self) -> int:
        return self.dropped.get("birth_registry", 0)


def _row_counts(conn: Connection) -> dict[str, int]:
    present = set(sa.inspect(conn).get_table_names()) & set(metadata.tables)
    return {t: _count(conn, t) or 0 for t in sorted(present)}


def _downgrade_on(conn: Connection, revision: str) -> Downgrade:
    current = current_revision(conn)
    check_versioned(conn, current)
    if current is None:
        raise InvalidInput("the database has no procobs schema: nothing to downgrade")
    check_known(current)
    not_down = InvalidInput(
        f"the database is at {current}, not above {shown(revision)}: a downgrade goes down"
    )
    upward = revision in ("head", "heads") or revision.startswith("+")
    if upward or (not _symbolic(revision) and not _below(revision, current)):
        raise not_down
    before = _row_counts(conn)
    with _alembic_errors(revision), _bounded_lock_waits(conn):
        command.downgrade(_config(connection=conn), revision)
    target = current_revision(conn)
    if target == current:  # a step of -0
        raise not_down
    after = set(sa.inspect(conn).get_table_names())
    dropped = {t: n for t, n in before.items() if t not in after}
    return Downgrade(current, target, dropped)


def plan_downgrade(db: Database, revision: str = "-1") -> Downgrade:
    """What ``downgrade`` would do, found by doing it in a transaction rolled back."""
    _check_revision(revision)
    with db.connect() as conn:
        conn = conn.execution_options(sqlite_begin="IMMEDIATE")
        transaction = conn.begin()
        try:
            return _downgrade_on(conn, revision)
        finally:
            transaction.rollback()


def downgrade(db: Database, revision: str = "-1", *, drop_births: bool = False) -> Downgrade:
    """Migrate down to ``revision``, in one transaction. Dropping a ``birth_registry``
    that holds births — owner decisions no run can re-derive — needs ``drop_births``."""
    _check_revision(revision)
    with db.begin() as conn:
        done = _downgrade_on(conn, revision)
        if done.births and not drop_births:
            raise NotConfirmed(
                f"downgrading to {done.target or 'base'} drops birth_registry with "
                f"{done.births} birth(s): pass --drop-births as well (nothing changed)"
            )
    return done


def ensure_current(db: Database) -> None:
    """Refuse to work on a database that is not at the schema this code expects."""
    with db.read() as conn:
        current = current_revision(conn)
        check_versioned(conn, current, f"database {db.display_url}")
    check_known(current, f"database {db.display_url}")
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
