"""Statements sent through the driver's cursor behave as SQLAlchemy would run them: the
column types' conversions both ways, the rows or the count, SQLAlchemy's exceptions."""

import datetime as dt

import pytest
import sqlalchemy as sa

from procobs_dagster.store.driver import DriverStatement
from procobs_dagster.store.tables import delivery_cursor

cursor = delivery_cursor.c
AT = dt.datetime(2026, 12, 6, 12, 0, tzinfo=dt.UTC)

insert = DriverStatement(
    delivery_cursor.insert().values(
        sink=sa.bindparam("p_sink", type_=sa.Text),
        last_seq=sa.bindparam("p_seq", type_=sa.BigInteger),
        updated_at=sa.bindparam("p_at", type_=delivery_cursor.c.updated_at.type),
    )
)
# A constant IN list (SQLAlchemy expands it at each execution; the driver, once).
moved = DriverStatement(
    delivery_cursor.update()
    .where(cursor.sink.in_(("a", "b")), cursor.last_seq < sa.bindparam("p_seq"))
    .values(last_seq=sa.bindparam("p_seq"), updated_at=sa.bindparam("p_at"))
    .returning(cursor.sink, cursor.last_seq, cursor.updated_at)
)


def _cursors(conn) -> dict[str, int]:
    return dict(conn.execute(sa.select(cursor.sink, cursor.last_seq)).all())


def test_rows_and_counts_as_sqlalchemy_reads_them(postgres_db):
    with postgres_db.begin() as conn:
        for sink, seq in (("a", 1), ("b", 5), ("c", 1)):
            assert insert.rowcount(conn, {"p_sink": sink, "p_seq": seq, "p_at": AT}) == 1
        later = AT + dt.timedelta(hours=1)
        rows = moved.all(conn, {"p_seq": 3, "p_at": later})
        # Only "a": "b" is past 3 already, "c" is not in the list.
        assert rows == [("a", 3, later)]
        assert rows[0][2].tzinfo is not None  # the column type's result conversion
        assert moved.all(conn, {"p_seq": 3, "p_at": later}) == []
        assert moved.first(conn, {"p_seq": 9, "p_at": later}) is not None
        assert _cursors(conn) == {"a": 9, "b": 9, "c": 1}


def test_the_column_types_refuse_what_they_refuse_through_sqlalchemy(postgres_db):
    with pytest.raises(ValueError, match="naive"), postgres_db.begin() as conn:
        insert.rowcount(conn, {"p_sink": "a", "p_seq": 1, "p_at": AT.replace(tzinfo=None)})


def test_database_errors_are_sqlalchemys_and_roll_back(postgres_db):
    with pytest.raises(sa.exc.IntegrityError), postgres_db.begin() as conn:
        insert.rowcount(conn, {"p_sink": "a", "p_seq": 1, "p_at": AT})
        insert.rowcount(conn, {"p_sink": "a", "p_seq": 2, "p_at": AT})
    with postgres_db.read() as conn:
        assert _cursors(conn) == {}


def test_a_list_given_at_execution_is_refused(postgres_db):
    statement = DriverStatement(
        sa.select(cursor.sink).where(cursor.sink.in_(sa.bindparam("p_sinks", expanding=True)))
    )
    with pytest.raises(ValueError, match="p_sinks"), postgres_db.read() as conn:
        statement.all(conn, {"p_sinks": ["a"]})
