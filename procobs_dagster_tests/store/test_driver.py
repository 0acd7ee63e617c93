"""Statements sent through the driver's cursor behave as SQLAlchemy would run them: the
column types' conversions both ways, the rows or the count, SQLAlchemy's exceptions. They
are prepared once per session, the ledger's keep one generic plan (so the server does not
plan them on every call), and PROCOBS_PREPARED_STATEMENTS=off sends them unprepared."""

import datetime as dt

import pytest
import sqlalchemy as sa

from procobs_dagster import ledger
from procobs_dagster.errors import ConfigurationError
from procobs_dagster.ledger import _subjects
from procobs_dagster.ledger._subjects import COMPONENT
from procobs_dagster.ledger.components import component_values
from procobs_dagster.ledger.lifecycle import allowed_from
from procobs_dagster.store.driver import DriverStatement
from procobs_dagster.store.engine import Database
from procobs_dagster.store.tables import delivery_cursor

cursor = delivery_cursor.c
PREPARED = "SELECT name, generic_plans, custom_plans, statement FROM pg_prepared_statements"
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


def test_a_statement_is_prepared_once_per_session_and_outlives_a_rollback(postgres_db):
    statement = DriverStatement(sa.select(sa.literal(41, sa.Integer).op("+")(1).label("n")))
    with postgres_db.engine.connect() as conn:
        with conn.begin() as transaction:
            assert statement.first(conn, {}) == {"n": 42}
            transaction.rollback()
        with conn.begin():
            assert statement.first(conn, {}) == {"n": 42}
            names = [row.name for row in conn.exec_driver_sql(PREPARED)]
    assert names.count(statement.name) == 1


def test_the_wrapper_statements_keep_a_generic_plan(postgres_db):
    """PostgreSQL plans a prepared statement for its values five times, then keeps a
    generic plan if that one looks no dearer: a statement whose generic plan is misjudged
    (a bound LIMIT, say) is planned anew on every call, which costs more than it runs."""
    for _ in range(8):
        with ledger.observe_run(postgres_db, "PROC-CAND:test:plans") as run:
            for dot_code in ("DOT_PLAN_A", "DOT_PLAN_B"):
                with run.step(dot_code) as step:
                    step.touched(1)
    with postgres_db.engine.connect() as conn:
        rows = conn.exec_driver_sql(PREPARED).all()
    ledger_rows = [row for row in rows if "procobs_" in row.statement.split(" AS ", 1)[1]]
    assert len(ledger_rows) >= 4  # the run's insert, a step's opening and closing, the run's close
    replanned = [row.statement[:120] for row in ledger_rows if row.custom_plans > 5]
    assert replanned == []


def test_the_compound_functions_refuse_a_second_move_the_lifecycle_forbids(postgres_db):
    """Python checks before calling them; the functions hold the rule themselves too."""
    with postgres_db.begin() as conn:
        run_id = ledger.start_run(conn, candidate_code="PROC-CAND:test:rules").run.process_run_id
        recorded = ledger.record_component(conn, process_run_id=run_id, dot_code="DOT_R")
        observed = component_values(
            conn, process_run_id=run_id, dot_code="DOT_O", status="observed"
        )
    at = observed["created_at"]
    insert = {f"p_{c.name}": observed.get(c.name) for c in COMPONENT.table.c}
    insert.update(p_reason=None, p_actor=None, **_subjects._then_params("step_started", at))
    with postgres_db.begin() as conn, pytest.raises(sa.exc.DBAPIError, match="lifecycle step"):
        _subjects._written(
            conn, COMPONENT.insert_then_call, insert, None
        )  # observed → step_started
    assert allowed_from("observed") == ()
    through = {
        **_subjects._move_params(recorded.component.component_run_id, "step_started", None, at),
        **_subjects._then_params("observed", at),  # step_started → observed
    }
    with postgres_db.begin() as conn, pytest.raises(sa.exc.DBAPIError, match="lifecycle step"):
        _subjects._written(conn, COMPONENT.through_call, through, None)
    with postgres_db.read() as conn:
        assert ledger.get_component(conn, recorded.component.component_run_id).status == "started"
        assert [c.dot_code for c in ledger.components_of(conn, run_id)] == ["DOT_R"]


def test_statements_go_unprepared_when_the_environment_says_off(postgres_db, monkeypatch):
    monkeypatch.setenv("PROCOBS_PREPARED_STATEMENTS", "off")
    unprepared = Database(postgres_db.url)
    try:
        with unprepared.begin() as conn:
            assert insert.rowcount(conn, {"p_sink": "a", "p_seq": 1, "p_at": AT}) == 1
            assert moved.all(conn, {"p_seq": 3, "p_at": AT}) == [("a", 3, AT)]
            assert conn.exec_driver_sql(PREPARED).all() == []
    finally:
        unprepared.engine.dispose()


@pytest.mark.parametrize("value", ["no", "OFF ", "of\x1bf", "x" * 5000])
def test_a_setting_other_than_on_or_off_is_refused(monkeypatch, value):
    monkeypatch.setenv("PROCOBS_PREPARED_STATEMENTS", value)
    with pytest.raises(ConfigurationError, match="PROCOBS_PREPARED_STATEMENTS must be on or off"):
        Database("sqlite://")
