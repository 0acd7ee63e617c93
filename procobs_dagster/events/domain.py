"""DomainEvent: what an agent system reports (plans, actors, tools, …); see
(docs/design.md, "Domain events").

    {"event_type": "tool.invoked", "timestamp": "2026-03-05T10:00:01Z",
     "plan_id": "p-1", "root_plan_id": "p-0", "session_id": "s-1",
     "actor_name": "coder", "project_name": "shop",
     "details": {"tool_name": "pytest", "invocation_id": "call-7"}}

``details`` is typed per category (``payloads.DETAILS_BY_CATEGORY``) and keeps other keys
as given. A domain event is emitted like any other — through the gate, its ``details``
kept in the audit log only — and can be fed to the ledger (``sources.domain_events``).
"""

import json
import uuid
from typing import Annotated, Any

import pydantic
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.engine import Connection

from procobs_dagster import limits
from procobs_dagster.errors import first_problem
from procobs_dagster.events import outbox, publishing
from procobs_dagster.events.envelope import Envelope
from procobs_dagster.events.json_forms import TimestampText, enum_text
from procobs_dagster.events.outbox import InvalidPayload, UnknownEventType
from procobs_dagster.events.payloads import DomainPayload
from procobs_dagster.events.types import DomainEventType
from procobs_dagster.ids import uuid7
from procobs_dagster.limits import Identifier, JSONObject, Timestamp

SOURCE = "urn:procobs:domain"
_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, SOURCE)


class DomainEvent(BaseModel):
    """Strict; the type and the timestamp are values or the text JSON writes them as
    (events.json_forms)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    event_type: enum_text(DomainEventType)  # type: ignore[valid-type]
    timestamp: Annotated[Timestamp, TimestampText]
    plan_id: Identifier | None = None
    root_plan_id: Identifier | None = None
    session_id: Identifier | None = None
    actor_name: Identifier | None = None
    project_name: Identifier | None = None
    details: JSONObject = Field(default_factory=dict)

    @classmethod
    def parse(cls, document: Any) -> "DomainEvent":
        """Validate a decoded JSON document; one-line errors name the problem.

        Nothing in it is converted: "5" is no number, 5 no name, 1700000000 no
        timestamp (the timestamp is ISO 8601 text, see events.json_forms)."""
        if not isinstance(document, dict):
            raise InvalidPayload(f"a domain event is a JSON object, not {type(document).__name__}")
        event_type = document.get("event_type")
        if not isinstance(event_type, str) or event_type not in DomainEventType._value2member_map_:
            raise UnknownEventType(f"unknown domain event type {limits.shown(event_type)}")
        try:
            return cls.model_validate(document)
        except pydantic.ValidationError as exc:
            raise InvalidPayload(f"{event_type}: {first_problem(exc)}") from None

    def payload(self) -> DomainPayload:
        """The typed payload of this event's type (``details`` checked per category)."""
        fields = self.model_dump(exclude={"event_type", "timestamp"})
        return outbox.validate_payload(self.event_type.value, fields)

    @property
    def event_id(self) -> uuid.UUID:
        """Derived from the whole event, so the same event reported twice has one id."""
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return uuid.uuid5(_NAMESPACE, canonical)

    @property
    def correlation_id(self) -> str:
        """The plan it belongs to, else its session; a fresh id for an event of neither."""
        return self.plan_id or self.root_plan_id or self.session_id or f"domain:{uuid7()}"


def emit_domain_event(
    conn: Connection,
    event: DomainEvent,
    *,
    process_run_id: uuid.UUID | None = None,
    bus: "publishing.Publisher | None" = None,
) -> Envelope | None:
    """Emit ``event`` through the gate (outbox row only while its type is active and
    emission is on), at the time it happened — once: an event already in the outbox is
    not written again (None)."""
    # ``emit`` with the event's derived id writes it only if the outbox has not got it.
    return outbox.emit(
        conn,
        event.event_type.value,
        event.payload(),
        correlation_id=event.correlation_id,
        source=SOURCE,
        subject=f"plan/{event.plan_id}" if event.plan_id else None,
        process_run_id=process_run_id,
        actor=event.actor_name or "domain",
        at=event.timestamp,
        bus=bus,
        event_id=event.event_id,
    )
