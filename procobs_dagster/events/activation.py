"""Owner-gated activation of event types (docs/design.md, "Event types and the activation gate").

Activation happens in two steps that may be days and people apart:

1. ``stage`` reads the registry and returns a :class:`Packet`: for each type, its current
   and proposed ``active`` flag. Nothing is changed; the packet is written to a file for
   review.
2. ``apply`` changes exactly what the packet says, with a named approver, in one
   transaction that also writes an audit_log row (who, when, which packet).

Each change is a guarded update ``WHERE active = <state the packet was staged against>``,
so a packet that no longer describes the registry — applied already, or overtaken by
another change — matches nothing and is refused whole. A packet carries an id; applying
the same id twice is refused by name (the audit log remembers it).
"""

import json
import uuid
from pathlib import Path
from typing import Annotated, Literal

import pydantic
import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.engine import Connection

from procobs_dagster.clock import utcnow
from procobs_dagster.errors import InvalidInput, ProcobsError, first_problem
from procobs_dagster.events import audit, runtime
from procobs_dagster.events.outbox import UnknownEventType, forget_gates
from procobs_dagster.ids import uuid7
from procobs_dagster.input_files import describe, parse_json, read_text_file
from procobs_dagster.limits import Identifier, Timestamp
from procobs_dagster.store.tables import audit_log, event_type_registry

PACKET_FORMAT = "procobs.activation-packet/1"
APPLIED_ACTION = "activation.applied"


class InvalidPacket(InvalidInput):
    pass


class StalePacket(ProcobsError):
    """The registry no longer is in the state the packet was staged against."""


class PacketAlreadyApplied(StalePacket):
    pass


class TypeChange(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    event_type: Identifier
    family: Identifier
    stream: Identifier
    lane: Identifier
    severity: Identifier
    current_active: bool
    proposed_active: bool


class Packet(BaseModel):
    """What an activation would change. Written by ``stage``, applied by ``apply``."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    format: Literal["procobs.activation-packet/1"]
    packet_id: uuid.UUID
    staged_at: Timestamp
    # The kill switch at staging time: activation alone emits nothing while it is off.
    emit_enabled: bool
    changes: Annotated[list[TypeChange], Field(min_length=1)]

    @pydantic.model_validator(mode="after")
    def _one_change_per_type(self) -> "Packet":
        types = [c.event_type for c in self.changes]
        duplicates = sorted({t for t in types if types.count(t) > 1})
        if duplicates:
            raise ValueError(f"a type appears more than once: {', '.join(duplicates)}")
        return self

    @property
    def subject(self) -> str:
        return f"activation-packet/{self.packet_id}"

    def to_json(self) -> str:
        return json.dumps(self.model_dump(mode="json"), indent=2, sort_keys=False) + "\n"

    @classmethod
    def from_json(cls, text: str, where: str = "packet") -> "Packet":
        # pydantic's parser keeps the last of a key given twice: the owner approving the
        # file may read the first. Such a packet is refused before it is read.
        try:
            parse_json(text, where)
        except InvalidInput as exc:
            problem = str(exc).removeprefix(f"{where}: ")
            raise InvalidPacket(f"{where}: not an activation packet: {problem}") from None
        try:
            return cls.model_validate_json(text)
        except pydantic.ValidationError as exc:
            raise InvalidPacket(
                f"{where}: not an activation packet: {first_problem(exc)}"
            ) from None

    @classmethod
    def load(cls, path: Path) -> "Packet":
        try:
            text = read_text_file(path, "packet")
        except InvalidInput as exc:
            raise InvalidPacket(str(exc)) from None
        return cls.from_json(text, describe(path))


def _registry_rows(conn: Connection, event_types: list[str]) -> dict[str, sa.RowMapping]:
    rows = conn.execute(
        sa.select(event_type_registry).where(event_type_registry.c.event_type.in_(event_types))
    ).mappings()
    found = {row["event_type"]: row for row in rows}
    unknown = [t for t in event_types if t not in found]
    if unknown:
        raise UnknownEventType(
            f"not in event_type_registry: {', '.join(unknown)} (see `procobs events types`)"
        )
    return found


def stage(conn: Connection, event_types: list[str], *, active: bool = True) -> Packet:
    """The packet that would set ``active`` on ``event_types``. Reads only."""
    if not event_types:
        raise InvalidInput("name at least one event type to stage")
    wanted = list(dict.fromkeys(event_types))
    found = _registry_rows(conn, wanted)
    unchanged = [t for t in wanted if bool(found[t]["active"]) == active]
    if unchanged:
        state = "active" if active else "inactive"
        raise InvalidInput(f"already {state}, nothing to stage: {', '.join(unchanged)}")
    return Packet(
        format=PACKET_FORMAT,
        packet_id=uuid7(),
        staged_at=utcnow(),
        emit_enabled=runtime.emission_enabled(conn),
        changes=[
            TypeChange(
                event_type=t,
                family=found[t]["family"],
                stream=found[t]["stream"],
                lane=found[t]["lane"],
                severity=found[t]["severity"],
                current_active=bool(found[t]["active"]),
                proposed_active=active,
            )
            for t in wanted
        ],
    )


def _is_active(conn: Connection, event_type: str) -> bool:
    return bool(
        conn.execute(
            sa.select(event_type_registry.c.active).where(
                event_type_registry.c.event_type == event_type
            )
        ).scalar_one()
    )


def applied_record(conn: Connection, packet: Packet) -> sa.RowMapping | None:
    """The audit_log row of an earlier application of this packet, if any."""
    return (
        conn.execute(
            sa.select(audit_log.c.actor, audit_log.c.recorded_at)
            .where(audit_log.c.action == APPLIED_ACTION, audit_log.c.subject == packet.subject)
            .limit(1)
        )
        .mappings()
        .first()
    )


def apply(conn: Connection, packet: Packet, *, approved_by: str | None) -> list[TypeChange]:
    """Apply ``packet`` as ``approved_by``, all or nothing. Raise (writing nothing) when
    the approver is missing, a type is unknown, or the packet is stale or applied."""
    approver = audit.require_approver(approved_by, "applying an activation packet")
    earlier = applied_record(conn, packet)
    if earlier is not None:
        raise PacketAlreadyApplied(
            f"packet {packet.packet_id} was already applied by {earlier['actor']} "
            f"at {earlier['recorded_at'].isoformat()}; stage a new one"
        )
    _registry_rows(conn, [c.event_type for c in packet.changes])
    forget_gates(conn)
    at = utcnow()
    for change in packet.changes:
        written = conn.execute(
            event_type_registry.update()
            .where(
                event_type_registry.c.event_type == change.event_type,
                event_type_registry.c.active == sa.literal(change.current_active),
            )
            .values(active=change.proposed_active, updated_at=at, updated_by=approver)
        ).rowcount
        if not written:
            now = "active" if _is_active(conn, change.event_type) else "inactive"
            raise StalePacket(
                f"packet {packet.packet_id} is stale: {change.event_type} is {now}, "
                f"the packet was staged when it was "
                f"{'active' if change.current_active else 'inactive'}; stage a new one"
            )
    audit.record(
        conn,
        actor=approver,
        action=APPLIED_ACTION,
        subject=packet.subject,
        details={
            "packet_id": str(packet.packet_id),
            "staged_at": packet.staged_at.isoformat(),
            "changes": {c.event_type: c.proposed_active for c in packet.changes},
        },
        at=at,
    )
    return list(packet.changes)
