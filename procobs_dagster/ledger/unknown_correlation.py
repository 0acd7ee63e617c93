"""Components reported under a correlation_id that matches no run (docs/design.md,
"Identity and correlation").

Such a component is never dropped: it is recorded with ``status='orphan'`` and no
``process_run_id`` (the CHECK ``not_anonymous`` allows exactly that), and the
``process.correlation.missing`` alert goes through the gate in the same transaction.
An orphan stays an orphan — it has no run to complete — but what the work produced
(evidence, output, error) is added to its row with :func:`annotate_orphan`.
"""

import datetime as dt
import uuid

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from procobs_dagster.errors import CorrelationMismatch, InvalidInput, LostRace
from procobs_dagster.events import ProcessEventType
from procobs_dagster.ids import optional_uuid, parse_uuid, uuid7
from procobs_dagster.ledger import _subjects
from procobs_dagster.ledger._subjects import COMPONENT
from procobs_dagster.ledger.components import RecordedComponent, check_role, get_component
from procobs_dagster.ledger.provenance import check_source, evidence_for
from procobs_dagster.ledger.records import ComponentRecord
from procobs_dagster.ledger.runs import find_run_by_correlation
from procobs_dagster.ledger.tracking import STEP_EVENT_CODE, announce, check_event_code
from procobs_dagster.store.sql import json_merge
from procobs_dagster.store.tables import process_component_observation as components


def record_orphan(
    conn: Connection,
    *,
    correlation_id: str,
    dot_code: str | None = None,
    role: str | None = "step",
    event_code: str = STEP_EVENT_CODE,
    source_system: str = "dot_runtime",
    input_ref: str | None = None,
    evidence: dict | None = None,
    idempotency_key: str | None = None,
    component_run_id: "uuid.UUID | str | None" = None,
    at: dt.datetime | None = None,
    actor: str | None = None,
) -> RecordedComponent:
    """Record the orphan and emit process.correlation.missing (through the gate).

    Refuses a correlation_id that does belong to a run: that component is no orphan and
    is recorded with ``record_component`` under its run."""
    if not correlation_id:
        raise InvalidInput("an orphan is recorded under the correlation_id it reported")
    owner = find_run_by_correlation(conn, correlation_id)
    if owner is not None:
        raise CorrelationMismatch(
            f"correlation_id {correlation_id!r} belongs to run {owner.process_run_id}: "
            "record the component under it, not as an orphan"
        )
    check_role(role)
    check_source(source_system)
    component_id = optional_uuid(component_run_id, "component_run_id") or uuid7()
    at = _subjects.resolve_time(at, "started_at")
    record, created = _subjects.insert_once(
        conn,
        COMPONENT,
        {
            "component_run_id": component_id,
            "process_run_id": None,
            "parent_run_id": None,
            "correlation_id": correlation_id,
            "dot_code": dot_code,
            "component_role": role,
            "event_code": check_event_code(event_code),
            "queue_job_id": None,
            "standalone": False,
            "status": "orphan",
            "source_system": source_system,
            "idempotency_key": idempotency_key,
            "input_ref": input_ref,
            "evidence_ref": evidence_for(source_system, evidence, f"component {component_id}"),
            "started_at": at,
            "created_at": at,
        },
        reason="orphan: correlation_id matches no run",
        actor=actor,
    )
    if created:
        announce(conn, ProcessEventType.CORRELATION_MISSING, record, at=at)
    return RecordedComponent(record, created)


_ANNOTATE = (
    components.update()
    .where(
        components.c.component_run_id == sa.bindparam("b_id"),
        components.c.status == "orphan",
    )
    .values(
        evidence_ref=json_merge(
            components.c.evidence_ref, sa.bindparam("b_evidence", type_=sa.JSON(none_as_null=True))
        ),
        output_ref=sa.func.coalesce(
            sa.bindparam("b_output_ref", type_=sa.Text), components.c.output_ref
        ),
        error_ref=sa.func.coalesce(
            sa.bindparam("b_error_ref", type_=sa.Text), components.c.error_ref
        ),
    )
    .returning(*components.c)
)


def annotate_orphan(
    conn: Connection,
    component_run_id: "uuid.UUID | str",
    *,
    evidence: dict | None = None,
    output_ref: str | None = None,
    error_ref: str | None = None,
) -> ComponentRecord:
    """Add what an orphan's work produced to its row; its status stays ``orphan``."""
    component_id = parse_uuid(component_run_id, "component_run_id")
    current = get_component(conn, component_id)
    label = f"component {component_id}"
    if current.status != "orphan":
        raise LostRace(f"{label}: is {current.status}, no longer an orphan")
    if evidence and "dry_run" in evidence and bool(evidence["dry_run"]) != current.dry_run:
        raise InvalidInput(f"{label}: evidence may not change whether it is a dry run")
    row = (
        conn.execute(
            _ANNOTATE,
            {
                "b_id": component_id,
                "b_evidence": evidence or None,
                "b_output_ref": output_ref,
                "b_error_ref": error_ref,
            },
        )
        .mappings()
        .first()
    )
    if row is None:
        raise LostRace(f"{label}: a concurrent writer moved it out of orphan")
    return ComponentRecord.from_row(row)
