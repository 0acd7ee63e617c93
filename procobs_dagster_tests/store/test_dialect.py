"""The statements store/dialect.py builds behave the same on both databases."""

import sqlalchemy as sa

from procobs_dagster.store.dialect import (
    among,
    insert_ignoring_conflicts,
    is_postgres,
    upsert,
    upsert_many,
)

probe = sa.Table(
    "dialect_probe",
    sa.MetaData(),
    sa.Column("name", sa.Text, primary_key=True),
    sa.Column("value", sa.Integer, nullable=False),
    sa.Column("note", sa.Text),
)


def _rows(conn) -> dict[str, tuple]:
    return {r.name: (r.value, r.note) for r in conn.execute(sa.select(probe))}


def test_is_postgres_names_the_backend(db, backend):
    with db.read() as conn:
        assert is_postgres(conn) is (backend == "postgres")


def test_upsert_inserts_then_updates_every_column_but_the_key(db):
    with db.begin() as conn:
        probe.create(conn)
        conn.execute(upsert(conn.dialect.name, probe, {"name": "a", "value": 1}, key=["name"]))
        conn.execute(
            upsert(
                conn.dialect.name,
                probe,
                [{"name": "a", "value": 2, "note": "x"}, {"name": "b", "value": 3, "note": None}],
                key=["name"],
            )
        )
        assert _rows(conn) == {"a": (2, "x"), "b": (3, None)}


def test_upsert_updates_only_the_columns_named(db):
    with db.begin() as conn:
        probe.create(conn)
        conn.execute(probe.insert().values(name="a", value=1, note="kept"))
        conn.execute(
            upsert(
                conn.dialect.name,
                probe,
                {"name": "a", "value": 5, "note": "ignored"},
                key=["name"],
                update=["value"],
            )
        )
        assert _rows(conn) == {"a": (5, "kept")}


def test_upsert_many_inserts_and_updates_more_rows_than_a_page(db):
    # Past SQLAlchemy's page of 1 000 rows, and past the 32 766 bind parameters SQLite
    # allows in one statement when sent as one multi-row VALUES.
    rows = [{"name": f"n{i}", "value": i, "note": None} for i in range(12_000)]
    with db.begin() as conn:
        probe.create(conn)
        conn.execute(probe.insert().values(name="n5", value=-1, note="old"))
        upsert_many(conn, probe, rows[:10], key=["name"])
        assert _rows(conn)["n5"] == (5, None)
        changed = [{**row, "note": "x"} for row in rows]
        upsert_many(conn, probe, changed, key=["name"])
        upsert_many(conn, probe, [], key=["name"])
        assert _rows(conn) == {row["name"]: (row["value"], "x") for row in rows}


def test_insert_ignoring_conflicts_keeps_the_first_row(db):
    with db.begin() as conn:
        probe.create(conn)
        statement = insert_ignoring_conflicts(conn.dialect.name, probe)
        conn.execute(statement.values(name="a", value=1))
        conn.execute(statement.values(name="a", value=2))
        assert _rows(conn) == {"a": (1, None)}


def test_among_matches_the_values_given_and_nothing_when_empty(db, backend):
    with db.begin() as conn:
        probe.create(conn)
        conn.execute(probe.insert(), [{"name": n, "value": i} for i, n in enumerate("abcd")])
        dialect = conn.dialect.name
        for values, expected in ((["b", "d", "z"], {"b", "d"}), ([], set())):
            query = sa.select(probe.c.name).where(among(probe.c.name, values, dialect))
            assert set(conn.scalars(query)) == expected
            # Postgres sends the values as one array parameter, however many there are.
            sql = str(query.compile(dialect=conn.dialect))
            assert ("= ANY (" in sql) is (backend == "postgres")
