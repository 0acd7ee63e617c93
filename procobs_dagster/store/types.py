"""Column types that behave the same on SQLite and PostgreSQL."""

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from procobs_dagster.errors import InvalidInput
from procobs_dagster.limits import shown


class UTCDateTime(sa.types.TypeDecorator):
    """``timestamptz`` on Postgres; on SQLite, UTC text that reads back timezone-aware.

    SQLite has no timezone type, so naive values are refused on the way in (they are
    ambiguous) and UTC is attached on the way out.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value.isoformat()} cannot be stored")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)

    def result_processor(self, dialect, coltype):
        return _checked_on_sqlite(super().result_processor(dialect, coltype), dialect, "timestamp")


class StoredUuid(sa.types.TypeDecorator):
    """``uuid`` on Postgres; on SQLite, 32 hex digits whose reading is checked."""

    impl = sa.Uuid
    cache_ok = True

    def result_processor(self, dialect, coltype):
        return _checked_on_sqlite(super().result_processor(dialect, coltype), dialect, "UUID")


class StoredBoolean(sa.types.TypeDecorator):
    """``boolean`` on Postgres; on SQLite, 0 or 1, whose reading is checked. SQLite keeps
    any text in a BOOLEAN column, and SQLAlchemy reads it by its truth: ``'false'`` or
    ``'no'`` written by hand read as true (a sink's ``allow_link_local``, the dry-run
    switch), where PostgreSQL reads them as false.

    ``as_stored=True`` hands such a value over unread, for a reader that checks each row
    itself and leaves a bad one aside (stored sinks)."""

    impl = sa.Boolean
    cache_ok = True

    def __init__(self, as_stored: bool = False):
        super().__init__()
        self.as_stored = as_stored

    def result_processor(self, dialect, coltype):
        if dialect.name != "sqlite":
            return super().result_processor(dialect, coltype)
        as_stored = self.as_stored

        def read(value):
            if value is None or isinstance(value, bool):
                return value
            if isinstance(value, int | float) and value in (0, 1):
                return bool(value)
            if as_stored:
                return value
            raise InvalidInput(
                f"the database holds {shown(value)} in a boolean column (0 or 1): "
                "correct or delete that row"
            )

        return read


def _checked_on_sqlite(process, dialect, kind: str):
    """``process`` (a column's reader), refusing in one line on SQLite a stored value it
    cannot read: SQLite keeps any text in any column (a hand edit, another program), where
    PostgreSQL's types refuse it on the way in."""
    if process is None or dialect.name != "sqlite":
        return process

    def checked(value):
        try:
            return process(value)
        except (ValueError, TypeError, AttributeError):
            raise InvalidInput(
                f"the database holds {shown(value)} in a {kind} column: correct or delete that row"
            ) from None

    return checked


# jsonb on Postgres (indexable, compact), JSON text on SQLite. Python None is SQL NULL.
JSONDoc = sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")
