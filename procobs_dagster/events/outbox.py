"""The transactional outbox and its gate.

``emit`` writes an event_outbox row — an insert-only fact — in the caller's transaction,
so the row exists exactly when the change that caused it commits. It writes one only
when the type is active in event_type_registry AND piece_event_runtime.emit_enabled is
on (docs/design.md, "Event types and the activation gate"); otherwise nothing is
written and ``emit`` returns None, and the caller records the event code it would have
emitted.
"""

import datetime as dt
import uuid
from collections.abc import Mapping
from typing import Any

import pydantic
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from procobs_dagster import limits
from procobs_dagster.clock import utcnow
from procobs_dagster.errors import InvalidInput, first_problem
from procobs_dagster.events import audit, publishing
from procobs_dagster.events.envelope import DEFAULT_SOURCE, Envelope
from procobs_dagster.events.payloads import PAYLOAD_MODELS, Payload
from procobs_dagster.ids import uuid7
from procobs_dagster.store.dialect import insert_ignoring_conflicts
from procobs_dagster.store.tables import event_outbox, event_type_registry, piece_event_runtime


class UnknownEventType(InvalidInput):
    pass


class InvalidPayload(InvalidInput):
    pass


def payload_model(event_type: str) -> type[Payload]:
    try:
        return PAYLOAD_MODELS[event_type]
    except KeyError:
        raise UnknownEventType(f"unknown event type {limits.shown(event_type)}") from None


def validate_payload(event_type: str, payload: "Payload | dict[str, Any]") -> Payload:
    model = payload_model(event_type)
    if isinstance(payload, model):
        return payload
    if isinstance(payload, Payload):
        raise InvalidPayload(f"{event_type}: got a {type(payload).__name__} payload")
    try:
        return model.model_validate(payload)
    except pydantic.ValidationError as exc:
        raise InvalidPayload(
            f"{event_type}: invalid payload: {first_problem(exc, 'payload')} "
            f"({exc.error_count()} error(s))"
        ) from None


GATE = (
    sa.select(
        event_type_registry.c.active,
        event_type_registry.c.schema_version,
        piece_event_runtime.c.emit_enabled,
    )
    .select_from(event_type_registry.join(piece_event_runtime, sa.true()))
    .where(event_type_registry.c.event_type == sa.bindparam("event_type"))
)
"""The gate of ``:event_type``: a writer about to emit may read it with its own write, in
the same statement, and hand it over with :func:`remember_gate`."""

_GATES_READ = "procobs_gates_read"


def remember_gate(conn: Connection, event_type: str, row: Mapping[str, Any]) -> None:
    """Keep the gate of ``event_type`` (``row`` has ``GATE``'s columns) read by a statement
    of this transaction, for the next :func:`gate` of that type in it: the ledger reads
    the gate of the event a write causes together with the write, saving a round trip. A
    type missing from the registry (NULL columns) is not kept: ``gate`` then says so."""
    if row["active"] is None:
        return
    transaction = conn.get_transaction()
    kept = conn.info.get(_GATES_READ)
    if kept is None or kept[0] is not transaction:
        kept = conn.info[_GATES_READ] = (transaction, {})
    kept[1][event_type] = (bool(row["active"] and row["emit_enabled"]), row["schema_version"])


def forget_gates(conn: Connection) -> None:
    """Drop gates kept by :func:`remember_gate` (the registry or the switch changed)."""
    conn.info.pop(_GATES_READ, None)


def _remembered(conn: Connection, event_type: str) -> tuple[bool, int] | None:
    kept = conn.info.get(_GATES_READ)
    if kept is None or kept[0] is not conn.get_transaction():
        return None
    # Used once: the gate answers for the event of the write that read it, nothing later.
    return kept[1].pop(event_type, None)


def gate(conn: Connection, event_type: str) -> tuple[bool, int]:
    """(may this type be emitted now, its schema version)."""
    remembered = _remembered(conn, event_type)
    if remembered is not None:
        return remembered
    row = conn.execute(GATE, {"event_type": event_type}).first()
    if row is None:
        raise UnknownEventType(
            f"event type {limits.shown(event_type)} is not in event_type_registry"
        )
    return bool(row.active and row.emit_enabled), row.schema_version


def emit(
    conn: Connection,
    event_type: str,
    payload: "Payload | dict[str, Any]",
    *,
    correlation_id: str,
    source: str = DEFAULT_SOURCE,
    subject: str | None = None,
    causation_id: str | None = None,
    process_run_id: uuid.UUID | None = None,
    actor: str = "procobs",
    at: dt.datetime | None = None,
    bus: "publishing.Publisher | None" = None,
    event_id: uuid.UUID | None = None,
) -> Envelope | None:
    """Validate, gate, and (if allowed) write the outbox row and its audit_log row; once
    the transaction commits, publish the envelope to ``bus`` (default: the process-wide
    bus, see ``events.bus``).

    Invalid payloads and unknown types raise whether or not the type is active: a bad
    event is a bug even while it would not be sent. ``event_id`` (default: a fresh
    UUIDv7) lets a caller derive a stable id, so the event is written only once: an id
    the outbox holds already (committed, or by a transaction it waits for) writes
    nothing and returns None.
    """
    data = validate_payload(event_type, payload)
    allowed, schema_version = gate(conn, event_type)
    if not allowed:
        return None
    envelope = Envelope(
        id=event_id or uuid7(),
        source=source,
        type=event_type,
        time=at or utcnow(),
        subject=subject,
        correlationid=correlation_id,
        causationid=causation_id,
        schemaversion=schema_version,
        data=data.safe_payload(),
    )
    # The outbox's unique event_id decides whether the event is new: a check before the
    # insert cannot see the same event written by a session that has not committed.
    written = conn.execute(
        insert_ignoring_conflicts(conn.dialect.name, event_outbox),
        {
            "event_id": envelope.id,
            "event_type": event_type,
            "source": envelope.source,
            "subject": subject,
            "correlation_id": correlation_id,
            "causation_id": causation_id,
            "process_run_id": process_run_id,
            "schema_version": schema_version,
            "occurred_at": envelope.time,
            "recorded_at": utcnow(),
            "safe_payload": envelope.data,
        },
    ).rowcount
    if not written:  # the outbox holds this event id already
        return None
    audit.record(
        conn,
        actor=actor,
        action="event.emitted",
        event_id=envelope.id,
        event_type=event_type,
        correlation_id=correlation_id,
        subject=subject,
        details=data.model_dump(mode="json"),
        at=envelope.time,
    )
    publishing.publish_after_commit(conn, envelope, bus)
    return envelope
