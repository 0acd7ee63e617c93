"""The event system: registry of types, validated envelope, payload contracts, the
transactional outbox and its activation gate, the audit log, the reactive bus.

Submodules: ``activation`` (owner-gated packets), ``runtime`` (emission and dry-run
switches), ``schemas`` (JSON Schemas), ``domain`` (DomainEvent, docs/design.md, "Domain
events"), ``bus`` (the in-process EventBus). Feeding domain events to the ledger is
sources/domain_events.py."""

from procobs_dagster.events.bus import EventBus, ReactiveEventBus, default_bus
from procobs_dagster.events.domain import DomainEvent, emit_domain_event
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
    "DomainEvent",
    "DomainEventType",
    "DossierEventType",
    "Envelope",
    "EventBus",
    "EventFamily",
    "InvalidPayload",
    "ProcessEventType",
    "ReactiveEventBus",
    "UnknownEventType",
    "default_bus",
    "emit",
    "emit_domain_event",
    "gate",
    "payload_model",
    "validate_payload",
]
