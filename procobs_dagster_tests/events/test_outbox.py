import uuid

import pytest
import sqlalchemy as sa

from procobs_dagster import events, ledger
from procobs_dagster.events import Envelope, InvalidPayload, UnknownEventType, outbox, runtime
from procobs_dagster.store.tables import audit_log, event_type_registry
from procobs_dagster_tests.events.helpers import outbox_rows, set_active, set_emission

STARTED = {
    "process_run_id": str(uuid.uuid4()),
    "correlation_id": "corr-1",
    "status": "started",
    "evidence_type": "RUNTIME",
}


def _emit(db, event_type="process.run.started", payload=STARTED, **kwargs):
    with db.begin() as conn:
        return events.emit(conn, event_type, payload, correlation_id="corr-1", **kwargs)


def _audit_count(db) -> int:
    with db.read() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(audit_log)).scalar_one()


def test_registry_enum_and_payload_models_list_the_same_types(db):
    with db.read() as conn:
        rows = conn.execute(
            sa.select(event_type_registry.c.event_type, event_type_registry.c.family)
        )
        registry = {t: f for t, f in rows}
    from procobs_dagster.events.payloads import PAYLOAD_MODELS
    from procobs_dagster.events.types import FAMILIES

    enum_types = {t.value: family.value for family, members in FAMILIES.items() for t in members}
    assert registry == enum_types
    assert set(PAYLOAD_MODELS) == set(registry)
    assert len(events.DomainEventType) == 38


def test_inactive_type_writes_nothing(db):
    assert _emit(db) is None
    assert outbox_rows(db) == [] and _audit_count(db) == 0


def test_active_type_writes_outbox_and_audit(db):
    set_active(db, "process.run.started")
    envelope = _emit(db, subject="run/1", causation_id="cause-1")
    rows = outbox_rows(db)
    assert [r["event_id"] for r in rows] == [envelope.id]
    row = rows[0]
    assert row["correlation_id"] == "corr-1" and row["safe_payload"] == envelope.data
    assert Envelope.from_outbox_row(row) == envelope
    assert envelope.to_cloudevent()["specversion"] == "1.0"
    assert envelope.to_cloudevent()["correlationid"] == "corr-1"
    assert _audit_count(db) == 1


def test_kill_switch_keeps_outbox_empty_even_for_active_types(db):
    set_active(db, "process.run.started")
    set_emission(db, False)
    assert _emit(db) is None
    assert outbox_rows(db) == []


def test_outbox_row_commits_or_rolls_back_with_the_ledger_change(db):
    set_active(db, "process.run.started")

    class Boom(Exception):
        pass

    with pytest.raises(Boom), db.begin() as conn:
        run, _ = ledger.start_run(conn, candidate_code="PROC-CAND:x")
        events.emit(
            conn,
            "process.run.started",
            {**STARTED, "process_run_id": str(run.process_run_id)},
            correlation_id=run.correlation_id,
        )
        raise Boom
    assert outbox_rows(db) == []
    with db.read() as conn:
        assert ledger.list_runs(conn) == []


def test_unknown_type_and_invalid_payload_raise_even_when_inactive(db):
    with pytest.raises(UnknownEventType):
        _emit(db, event_type="process.run.exploded")
    with pytest.raises(InvalidPayload, match="status"):
        _emit(db, payload={**STARTED, "status": "completed"})
    with pytest.raises(InvalidPayload, match="password: Extra inputs"):
        _emit(db, payload={**STARTED, "password": "x"})


def test_domain_details_stay_out_of_the_safe_payload(db):
    set_active(db, "plan.created")
    envelope = _emit(
        db,
        event_type="plan.created",
        payload={"plan_id": "p1", "details": {"prompt": "internal text"}},
    )
    assert envelope.data == {
        "plan_id": "p1",
        "root_plan_id": None,
        "session_id": None,
        "actor_name": None,
        "project_name": None,
    }
    with db.read() as conn:
        details = conn.execute(sa.select(audit_log.c.details)).scalar_one()
    assert details["details"] == {"prompt": "internal text"}


def _gate_row(conn, event_type):
    return conn.execute(outbox.GATE, {"event_type": event_type}).mappings().one()


def test_a_gate_read_with_a_write_answers_once_and_only_in_its_transaction(db):
    with db.begin() as conn:
        outbox.remember_gate(conn, "process.run.started", _gate_row(conn, "process.run.started"))
        conn.execute(
            event_type_registry.update()
            .where(event_type_registry.c.event_type == "process.run.started")
            .values(active=True)
        )
        # The gate as the write read it (inactive), for the event that write causes…
        assert events.gate(conn, "process.run.started")[0] is False
        # …and for nothing after it: the next question reads the registry.
        assert events.gate(conn, "process.run.started")[0] is True
        outbox.remember_gate(
            conn, "process.run.started", {**_gate_row(conn, "process.run.started"), "active": False}
        )
    with db.begin() as conn:  # another transaction never sees it
        assert events.gate(conn, "process.run.started")[0] is True


def test_changing_the_gate_drops_what_the_transaction_read_before(db):
    set_active(db, "process.run.started")
    with db.begin() as conn:
        outbox.remember_gate(conn, "process.run.started", _gate_row(conn, "process.run.started"))
        runtime.set_emission(conn, False, approved_by="owner@example.org")
        assert events.gate(conn, "process.run.started")[0] is False


def test_a_type_missing_from_the_registry_is_not_kept(db):
    with db.begin() as conn:
        missing = {"active": None, "schema_version": None, "emit_enabled": None}
        outbox.remember_gate(conn, "process.run.started", missing)
        assert events.gate(conn, "process.run.started") == (False, 1)


def test_an_outbox_row_reads_back_as_the_values_the_strict_envelope_takes(db):
    """Both databases give the id as a UUID and the time as an aware datetime, so the
    envelope delivery rebuilds is the one emitted, with no string read as either."""
    set_active(db, "process.run.started")
    envelope = _emit(db)
    (row,) = outbox_rows(db)
    assert isinstance(row["event_id"], uuid.UUID) and row["occurred_at"].tzinfo is not None
    assert isinstance(row["safe_payload"], dict) and isinstance(row["schema_version"], int)
    assert Envelope.from_outbox_row(row) == envelope
    assert envelope.data["process_run_id"] == STARTED["process_run_id"]


def _domain_event():
    from procobs_dagster.events import DomainEvent

    return DomainEvent.parse(
        {
            "event_type": "plan.phase_changed",
            "timestamp": "2026-03-05T10:00:00+00:00",
            "plan_id": "p1",
            "details": {"phase": "review", "state": "ok"},
        }
    )


def test_a_domain_event_reported_twice_at_once_is_emitted_once(postgres_db):
    # The check for an event already in the outbox cannot see a report of the same event
    # still uncommitted in another session; the outbox's unique event_id must decide.
    from procobs_dagster.events import emit_domain_event
    from procobs_dagster_tests.concurrency import error_of_blocked_writer

    db = postgres_db
    set_active(db, "plan.phase_changed")
    event = _domain_event()
    second = []

    def blocked():
        with db.begin() as conn:
            second.append(emit_domain_event(conn, event))

    error = error_of_blocked_writer(db, lambda conn: emit_domain_event(conn, event), blocked)
    assert error is None and second == [None]
    assert [r["event_id"] for r in outbox_rows(db)] == [event.event_id]
    assert _audit_count(db) == 1


def test_emitting_a_given_event_id_again_writes_nothing(db):
    set_active(db, "process.run.started")
    event_id = uuid.uuid4()
    assert _emit(db, event_id=event_id) is not None
    assert _emit(db, event_id=event_id) is None
    assert len(outbox_rows(db)) == 1 and _audit_count(db) == 1
