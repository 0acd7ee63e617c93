"""Feeding domain events to the observation ledger, so agent runs are observed like any
other process (source_system ``domain_event``).

- ``plan.created`` → a run: candidate ``details.candidate_code``, else
  ``PROC-CAND:plan:<project_name>``, else ``PROC-CAND:plan``; ``correlation_id = plan_id``;
  ``root_plan_id`` (when not the plan itself) → ``parent_run_id``.
- ``plan.applied`` / ``plan.errored`` / ``plan.cancelled`` → the plan's run completed /
  failed (``error_ref = details.error``) / cancelled.
- ``actor.invoked``, ``tool.invoked``, ``validation.started`` → a component of the plan's
  run: ``actor:<actor_name>`` (producer), ``tool:<details.tool_name>`` (step),
  ``validation:<details.validator>`` (verifier).
- ``actor.completed``/``errored``, ``tool.completed``/``errored``,
  ``validation.passed``/``failed`` → that component completed / failed.
- any other type → no ledger change.

An invocation is paired with its outcome by ``details.invocation_id``; without one, an
outcome closes the oldest open invocation of the same component in the plan. An
actor/tool/validation event of a plan that has no run is kept as an ``orphan`` component
(process.correlation.missing), never dropped. Ledger changes emit their process.* events,
and every ingested event is emitted as its domain type — all through the gate.

Ingesting is idempotent per event: an event already in the ledger (same plan, component,
invocation and time) is skipped and an event already in the outbox is not emitted again,
so a growing JSON-lines file can be ingested again. A
file is one transaction: a malformed line (reported with its line number) or an event the
ledger refuses writes nothing at all.
"""

import dataclasses
import uuid
from collections.abc import Iterable
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from procobs_dagster import limits
from procobs_dagster.errors import InvalidInput, ProcobsError
from procobs_dagster.events.domain import DomainEvent, emit_domain_event
from procobs_dagster.events.payloads import DomainPayload
from procobs_dagster.input_files import describe, json_lines, parse_json, read_text_file
from procobs_dagster.ledger import tracking, unknown_correlation
from procobs_dagster.ledger.records import ComponentRecord, RunRecord
from procobs_dagster.store.engine import Database
from procobs_dagster.store.tables import process_component_observation as components
from procobs_dagster.store.tables import process_run_observation as runs

SOURCE_SYSTEM = "domain_event"
START = "started"
_PLAN_OUTCOMES = {
    "plan.created": START,
    "plan.applied": "completed",
    "plan.errored": "failed",
    "plan.cancelled": "cancelled",
}
# category → (component role, {event type → what it does to the component})
_INVOCATIONS = {
    "actor": (
        "producer",
        {"actor.invoked": START, "actor.completed": "completed", "actor.errored": "failed"},
    ),
    "tool": (
        "step",
        {"tool.invoked": START, "tool.completed": "completed", "tool.errored": "failed"},
    ),
    "validation": (
        "verifier",
        {
            "validation.started": START,
            "validation.passed": "completed",
            "validation.failed": "failed",
        },
    ),
}
MAX_REPORTED_PROBLEMS = 20


class IngestError(InvalidInput):
    """A batch refused whole; ``problems`` lists every bad line found."""

    def __init__(self, source: str, problems: list[str]):
        self.problems = problems
        super().__init__(
            f"{source}: {len(problems)} bad line(s), nothing ingested; first: {problems[0]}"
        )


@dataclasses.dataclass
class IngestReport:
    events: int = 0
    already_ingested: int = 0
    runs_started: int = 0
    runs_ended: int = 0
    steps_started: int = 0
    steps_ended: int = 0
    orphans: int = 0
    emitted: int = 0

    def as_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)


def parse_lines(lines: Iterable[str], source: str = "input") -> list[tuple[int, DomainEvent]]:
    """Every line a DomainEvent document (blank lines skipped); raises IngestError naming
    every bad line."""
    parsed, problems = [], []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        if limits.utf8_longer_than(line, limits.MAX_JSON_LINE_BYTES):
            problems.append(
                f"line {number}: longer than the limit of {limits.MAX_JSON_LINE_BYTES} bytes a line"
            )
            continue
        try:
            document = parse_json(line, f"line {number}")
            event = DomainEvent.parse(document)
            event.payload()
        except InvalidInput as exc:
            problems.append(str(exc) if str(exc).startswith("line ") else f"line {number}: {exc}")
            continue
        parsed.append((number, event))
    if problems:
        raise IngestError(source, problems)
    return parsed


def ingest_file(db: Database, path: Path) -> IngestReport:
    """Ingest a JSON-lines file of domain events in one transaction."""
    text = read_text_file(path, "domain events file", limits.MAX_INGEST_FILE_BYTES)
    parsed = parse_lines(json_lines(text), describe(path))
    with db.begin() as conn:
        return ingest(conn, parsed, describe(path))


def ingest(
    conn: Connection, events: list[tuple[int, DomainEvent]], source: str = "input"
) -> IngestReport:
    """Apply parsed events in order, in the caller's transaction. The first event the
    ledger refuses raises IngestError (naming its line); the caller's transaction then
    rolls everything back."""
    report = IngestReport()
    for number, event in events:
        try:
            applied, run_id = _apply(conn, event, report)
        except ProcobsError as exc:
            raise IngestError(source, [f"line {number}: {event.event_type.value}: {exc}"]) from None
        report.events += 1
        if not applied:
            report.already_ingested += 1
            continue
        if emit_domain_event(conn, event, process_run_id=run_id) is not None:
            report.emitted += 1
    return report


def _apply(
    conn: Connection, event: DomainEvent, report: IngestReport
) -> tuple[bool, uuid.UUID | None]:
    """Make the event's ledger change. (False, …) when it is already in the ledger;
    the run id is the one the event belongs to, if any."""
    event_type = event.event_type.value
    category = event_type.split(".")[0]
    if event_type in _PLAN_OUTCOMES:
        return _apply_plan(conn, event, _PLAN_OUTCOMES[event_type], report)
    if category in _INVOCATIONS and event_type in _INVOCATIONS[category][1]:
        return _apply_invocation(conn, event, category, report)
    run = _plan_run(conn, event.plan_id) if event.plan_id else None
    return True, run.process_run_id if run else None


def _plan_key(plan_id: str) -> str:
    return f"domain:plan:{plan_id}"


def _plan_run(conn: Connection, plan_id: str) -> RunRecord | None:
    row = (
        conn.execute(sa.select(runs).where(runs.c.idempotency_key == _plan_key(plan_id)))
        .mappings()
        .first()
    )
    return None if row is None else RunRecord.from_row(row)


def _require(value: str | None, what: str) -> str:
    if not value:
        raise InvalidInput(f"{what} is required")
    return value


def _apply_plan(
    conn: Connection, event: DomainEvent, action: str, report: IngestReport
) -> tuple[bool, uuid.UUID | None]:
    plan_id = _require(event.plan_id, "plan_id")
    run = _plan_run(conn, plan_id)
    if action == START:
        if run is not None:
            if run.created_at == event.timestamp:
                return False, run.process_run_id
            raise InvalidInput(f"plan {plan_id} already has run {run.process_run_id}")
        started = tracking.open_run(
            conn,
            candidate_code=_candidate(event.payload()),
            source_system=SOURCE_SYSTEM,
            correlation_id=plan_id,
            parent_run_id=_parent_run_id(conn, event),
            idempotency_key=_plan_key(plan_id),
            at=event.timestamp,
        )
        report.runs_started += 1
        return True, started.run.process_run_id
    if run is None:
        raise InvalidInput(f"plan {plan_id} has no run: its plan.created was never ingested")
    if run.status == action and run.ended_at == event.timestamp:
        return False, run.process_run_id
    details = event.payload().details
    tracking.close_run(
        conn,
        run.process_run_id,
        tracking.Outcome(
            status=action,
            error_ref=limits.clipped(details.error)
            if action == "failed" and details.error
            else None,
            at=event.timestamp,
        ),
    )
    report.runs_ended += 1
    return True, run.process_run_id


def _error_ref(error: str | None) -> str | None:
    """Another system's error text, kept as it can be stored (see limits.clipped)."""
    return None if error is None else limits.clipped(error)


def _candidate(payload: DomainPayload) -> str:
    if payload.details.candidate_code:
        return payload.details.candidate_code
    return f"PROC-CAND:plan:{payload.project_name}" if payload.project_name else "PROC-CAND:plan"


def _parent_run_id(conn: Connection, event: DomainEvent) -> uuid.UUID | None:
    root = event.root_plan_id
    if not root or root == event.plan_id:
        return None
    run = _plan_run(conn, root)
    if run is None:
        raise InvalidInput(f"root plan {root} has no run: ingest its plan.created first")
    return run.process_run_id


def _component_of(event: DomainEvent, category: str) -> str:
    details = event.payload().details
    if category == "actor":
        return f"actor:{_require(event.actor_name, 'actor_name')}"
    if category == "tool":
        return f"tool:{_require(details.tool_name, 'details.tool_name')}"
    return f"validation:{details.validator or 'default'}"


def _apply_invocation(
    conn: Connection, event: DomainEvent, category: str, report: IngestReport
) -> tuple[bool, uuid.UUID | None]:
    plan_id = _require(event.plan_id, "plan_id")
    role, actions = _INVOCATIONS[category]
    action = actions[event.event_type.value]
    dot_code = _component_of(event, category)
    invocation = event.payload().details.invocation_id
    run = _plan_run(conn, plan_id)
    if run is None:
        return _record_orphan(conn, event, dot_code, role, invocation, report), None
    if action == START:
        key = _invocation_key(plan_id, dot_code, invocation or event.timestamp.isoformat())
        if _has_component(conn, key):
            return False, run.process_run_id
        recorded = tracking.open_step(
            conn,
            run.process_run_id,
            dot_code=dot_code,
            role=role,
            idempotency_key=key,
            at=event.timestamp,
        )
        if recorded.created:
            report.steps_started += 1
        return recorded.created, run.process_run_id
    open_step = _open_invocation(conn, run.process_run_id, plan_id, dot_code, invocation)
    if open_step is None:
        if _already_ended(conn, run, dot_code, action, event):
            return False, run.process_run_id
        raise InvalidInput(
            f"no open {dot_code} invocation in plan {plan_id}"
            + (f" with invocation_id {invocation!r}" if invocation else "")
        )
    error = event.payload().details.error
    tracking.close_step(
        conn,
        open_step.component_run_id,
        tracking.Outcome(
            status=action,
            evidence={"domain_event": event.event_type.value},
            error_ref=limits.clipped(error or event.event_type.value)
            if action == "failed"
            else None,
            at=event.timestamp,
        ),
    )
    report.steps_ended += 1
    return True, run.process_run_id


def _invocation_key(plan_id: str, dot_code: str, token: str) -> str:
    """Invocation ``token`` (its invocation_id, else its time) of ``dot_code`` in a plan."""
    return f"domain:{plan_id}:{dot_code}:{token}"


def _has_component(conn: Connection, idempotency_key: str) -> bool:
    c = components.c
    found = conn.execute(sa.select(c.component_run_id).where(c.idempotency_key == idempotency_key))
    return found.first() is not None


def _open_invocation(
    conn: Connection,
    process_run_id: uuid.UUID,
    plan_id: str,
    dot_code: str,
    invocation: str | None,
) -> ComponentRecord | None:
    c = components.c
    query = sa.select(components).where(
        c.process_run_id == process_run_id,
        c.dot_code == dot_code,
        c.status == "step_started",
    )
    if invocation is not None:
        query = query.where(c.idempotency_key == _invocation_key(plan_id, dot_code, invocation))
    row = conn.execute(query.order_by(c.started_at, c.component_run_id).limit(1)).mappings().first()
    return None if row is None else ComponentRecord.from_row(row)


def _already_ended(
    conn: Connection, run: RunRecord, dot_code: str, action: str, event: DomainEvent
) -> bool:
    c = components.c
    return (
        conn.execute(
            sa.select(c.component_run_id)
            .where(
                c.process_run_id == run.process_run_id,
                c.dot_code == dot_code,
                c.status == action,
                c.ended_at == event.timestamp,
            )
            .limit(1)
        ).first()
        is not None
    )


def _record_orphan(
    conn: Connection,
    event: DomainEvent,
    dot_code: str,
    role: str,
    invocation: str | None,
    report: IngestReport,
) -> bool:
    """An invocation event of a plan without a run: kept as an orphan (with the alert)."""
    recorded = unknown_correlation.record_orphan(
        conn,
        correlation_id=event.plan_id,
        dot_code=dot_code,
        role=role,
        source_system=SOURCE_SYSTEM,
        evidence={"domain_event": event.event_type.value},
        idempotency_key=_invocation_key(
            event.plan_id,
            dot_code,
            f"{event.event_type.value}:{invocation or event.timestamp.isoformat()}",
        ),
        at=event.timestamp,
    )
    if recorded.created:
        report.orphans += 1
    return recorded.created
