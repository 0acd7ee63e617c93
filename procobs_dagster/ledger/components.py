"""Component executions: the ledger detail (one row per DOT/job-step/workflow-step run)."""

import datetime as dt
import uuid
from typing import NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from procobs_dagster.errors import CorrelationMismatch, IllegalTransition, InvalidInput
from procobs_dagster.ids import optional_uuid, parse_uuid, uuid7
from procobs_dagster.ledger import _subjects
from procobs_dagster.ledger._subjects import COMPONENT, RUN
from procobs_dagster.ledger.lifecycle import INITIAL_STATUSES, check_status, is_terminal
from procobs_dagster.ledger.provenance import check_source, evidence_for
from procobs_dagster.ledger.records import ComponentRecord, RunRecord
from procobs_dagster.store.tables import process_component_observation as components
from procobs_dagster.store.vocabulary import COMPONENT_ROLES


class RecordedComponent(NamedTuple):
    component: ComponentRecord
    created: bool


def check_role(role: str | None) -> None:
    if role is not None and role not in COMPONENT_ROLES:
        raise InvalidInput(
            f"unknown component role {role!r}: expected one of {', '.join(COMPONENT_ROLES)}"
        )


RECORD_REASON = "record"  # the reason of a recorded component's first history row


def record_component(
    conn: Connection,
    *,
    process_run_id: "uuid.UUID | str | None" = None,
    standalone: bool = False,
    correlation_id: str | None = None,
    dot_code: str | None = None,
    role: str | None = None,
    event_code: str | None = None,
    queue_job_id: "uuid.UUID | str | None" = None,
    component_run_id: "uuid.UUID | str | None" = None,
    parent_run_id: "uuid.UUID | str | None" = None,
    source_system: str | None = None,
    idempotency_key: str | None = None,
    input_ref: str | None = None,
    evidence: dict | None = None,
    status: str = "started",
    at: dt.datetime | None = None,
    actor: str | None = None,
    late_report: bool = False,
    run: RunRecord | None = None,
) -> RecordedComponent:
    """Record a component execution of a run (or an explicitly standalone one).

    The component shares its run's correlation_id and dry-run-ness; a differing
    correlation_id is refused, never silently rewritten. A run that has ended takes no new
    components, unless ``late_report`` says this one is a report of work already done (a
    workflow engine's report of a step may arrive after the one that ended its run).
    ``run``: the record of the run ``process_run_id`` names, read by the caller in this
    transaction with its row locked (``tracking.open_step``), so it is not read again.
    """
    values = component_values(
        conn,
        process_run_id=process_run_id,
        standalone=standalone,
        correlation_id=correlation_id,
        dot_code=dot_code,
        role=role,
        event_code=event_code,
        queue_job_id=queue_job_id,
        component_run_id=component_run_id,
        parent_run_id=parent_run_id,
        source_system=source_system,
        idempotency_key=idempotency_key,
        input_ref=input_ref,
        evidence=evidence,
        status=status,
        at=at,
        late_report=late_report,
        run=run,
    )
    record, created = _subjects.insert_once(
        conn, COMPONENT, values, reason=RECORD_REASON, actor=actor
    )
    return RecordedComponent(record, created)


def component_values(
    conn: Connection,
    *,
    process_run_id: "uuid.UUID | str | None" = None,
    standalone: bool = False,
    correlation_id: str | None = None,
    dot_code: str | None = None,
    role: str | None = None,
    event_code: str | None = None,
    queue_job_id: "uuid.UUID | str | None" = None,
    component_run_id: "uuid.UUID | str | None" = None,
    parent_run_id: "uuid.UUID | str | None" = None,
    source_system: str | None = None,
    idempotency_key: str | None = None,
    input_ref: str | None = None,
    evidence: dict | None = None,
    status: str = "started",
    at: dt.datetime | None = None,
    late_report: bool = False,
    run: RunRecord | None = None,
) -> dict:
    """The row :func:`record_component` inserts (same arguments), judged against its run;
    raises what it raises."""
    component_id = optional_uuid(component_run_id, "component_run_id") or uuid7()
    label = f"component {component_id}"
    check_role(role)
    if check_status(status) not in INITIAL_STATUSES:
        raise InvalidInput(f"a component starts as observed or started, not {status!r}")
    at = _subjects.resolve_time(at, "started_at")
    run_id = optional_uuid(process_run_id, "process_run_id")
    if run_id is None:
        if not standalone:
            raise InvalidInput(f"{label}: a component needs a process_run_id or standalone=True")
        correlation_id = correlation_id or str(component_id)
        source_system = source_system or "dot_runtime"
    else:
        if standalone:
            raise InvalidInput(f"{label}: a standalone component has no process_run_id")
        if run is None or run.process_run_id != run_id:
            run = _subjects.fetch(conn, RUN, run_id)
        if correlation_id is not None and correlation_id != run.correlation_id:
            raise CorrelationMismatch(
                f"{label}: correlation_id {correlation_id!r} differs from run {run_id}'s "
                f"{run.correlation_id!r}"
            )
        if is_terminal(run.status) and not late_report:
            raise IllegalTransition(
                f"{label}: run {run_id} is {run.status}, it takes no new components"
            )
        correlation_id = run.correlation_id
        if source_system is not None and (source_system == "dry_run") != run.dry_run:
            raise InvalidInput(f"{label}: source_system {source_system!r} contradicts run {run_id}")
        source_system = source_system or run.source_system
    check_source(source_system)
    return {
        "component_run_id": component_id,
        "process_run_id": run_id,
        "parent_run_id": optional_uuid(parent_run_id, "parent_run_id"),
        "correlation_id": correlation_id,
        "dot_code": dot_code,
        "component_role": role,
        "event_code": event_code,
        "queue_job_id": optional_uuid(queue_job_id, "queue_job_id"),
        "standalone": standalone,
        "status": status,
        "source_system": source_system,
        "idempotency_key": idempotency_key,
        "input_ref": input_ref,
        "evidence_ref": evidence_for(source_system, evidence, label),
        "started_at": at if status == "started" else None,
        "created_at": at,
    }


def transition_component(
    conn: Connection,
    component_run_id: "uuid.UUID | str",
    to_status: str,
    **kwargs,
) -> ComponentRecord:
    return _subjects.transition(
        conn, COMPONENT, parse_uuid(component_run_id, "component_run_id"), to_status, **kwargs
    )


def get_component(conn: Connection, component_run_id: "uuid.UUID | str") -> ComponentRecord:
    return _subjects.fetch(conn, COMPONENT, parse_uuid(component_run_id, "component_run_id"))


def components_of(conn: Connection, process_run_id: "uuid.UUID | str") -> list[ComponentRecord]:
    run_id = parse_uuid(process_run_id, "process_run_id")
    rows = conn.execute(
        sa.select(components)
        .where(components.c.process_run_id == run_id)
        .order_by(components.c.started_at, components.c.created_at, components.c.component_run_id)
    ).mappings()
    return [ComponentRecord.from_row(row) for row in rows]
