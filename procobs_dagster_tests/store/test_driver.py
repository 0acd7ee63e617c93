"""Statements sent through the driver (store/driver.py): prepared once per session, and
the ledger's keep one generic plan, so the server does not plan them on every call."""

import pytest
import sqlalchemy as sa

from procobs_dagster import ledger
from procobs_dagster.ledger import _subjects
from procobs_dagster.ledger._subjects import COMPONENT
from procobs_dagster.ledger.components import component_values
from procobs_dagster.ledger.lifecycle import allowed_from
from procobs_dagster.store.driver import DriverStatement

PREPARED = "SELECT name, generic_plans, custom_plans, statement FROM pg_prepared_statements"


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
