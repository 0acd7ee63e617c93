"""The event system: registry of types, validated envelope, payload contracts, the
transactional outbox and its activation gate, and the audit log."""

from procobs_dagster.events.envelope import Envelope
from procobs_dagster.events.outbox import (
    InvalidPayload,
    UnknownEventType,
    emit,
    gate,
    payload_model,
    validate_payload,
)
from procobs_dagster.events.types import (
    ALL_EVENT_TYPES,
    DomainEventType,
    DossierEventType,
    EventFamily,
    ProcessEventType,
)

__all__ = [
    "ALL_EVENT_TYPES",
    "DomainEventType",
    "DossierEventType",
    "Envelope",
    "EventFamily",
    "InvalidPayload",
    "ProcessEventType",
    "UnknownEventType",
    "emit",
    "gate",
    "payload_model",
    "validate_payload",
]
