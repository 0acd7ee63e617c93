"""Ledger changes together with the process.* events they cause (docs/design.md, "The
event payload contract").

Each function makes one ledger change in the caller's transaction and emits its event
through the gate in the same transaction (``events.emit``: a row reaches the outbox only
while the type is active and emission is enabled), so the change and its event commit or
roll back together. The DOT wrapper, ``procobs observe`` and domain-event ingestion
record through these functions.

| ledger change                          | event                                   |
|----------------------------------------|-----------------------------------------|
| run started                            | process.run.started                     |
| component → step_started               | process.step.started                    |
| component → step_completed             | process.step.completed                  |
| run completed / failed                 | process.run.completed / .failed         |
| component or real run completed, no evidence | process.evidence.missing (alert)  |

A component's ``event_code`` names the event that announces its outcome
(``process.step.completed`` unless the caller names another registered type); it is
recorded whether or not that type is active: a reference without an emit
(docs/design.md, "Event types and the activation gate").

The run header follows its components: ``started → step_started`` when a step begins,
``→ step_completed`` when the last open step ends, ``→ completed`` when the run closes.

Inside :func:`unannounced` the same changes are made and announce nothing: no outbox row,
so nothing downstream of the outbox (delivery, alerts, the discovery refresh) hears of
them. procobs records its own Dagster runs this way when asked to, so that recording them
can never cause another of its runs (docs/workflow-sources.md, "Why there is no loop").
"""

import contextlib
import contextvars
import dataclasses
import datetime as dt
import functools
import uuid
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection

from procobs_dagster import events
from procobs_dagster.errors import IllegalTransition, InvalidInput, LostRace
from procobs_dagster.events import ProcessEventType
from procobs_dagster.events.envelope import Envelope
from procobs_dagster.events.payloads import EvidenceType
from procobs_dagster.ids import parse_uuid
from procobs_dagster.ledger import _subjects
from procobs_dagster.ledger._subjects import COMPONENT, RUN
from procobs_dagster.ledger.components import (
    RECORD_REASON,
    RecordedComponent,
    component_values,
    record_component,
    transition_component,
)
from procobs_dagster.ledger.lifecycle import allowed_from
from procobs_dagster.ledger.records import ComponentRecord, RunRecord
from procobs_dagster.ledger.runs import StartedRun, start_run, transition_run
from procobs_dagster.store.dialect import is_postgres
from procobs_dagster.store.tables import process_component_observation as components
from procobs_dagster.store.types import UTCDateTime
from procobs_dagster.store.vocabulary import TERMINAL_STATUSES

STEP_EVENT_CODE = ProcessEventType.STEP_COMPLETED.value
# Components still at work: they keep their run's header in step_started.
_AT_WORK = ("observed", "started", "step_started", "step_completed")
_RUN_OUTCOME_EVENTS = {
    "completed": ProcessEventType.RUN_COMPLETED,
    "failed": ProcessEventType.RUN_FAILED,
}


_unannounced: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "procobs_unannounced", default=False
)


@contextlib.contextmanager
def unannounced() -> Iterator[None]:
    """Ledger changes made in the block emit no event (see the module doc)."""
    token = _unannounced.set(True)
    try:
        yield
    finally:
        _unannounced.reset(token)


def has_evidence(evidence_ref: dict | None) -> bool:
    """Evidence is anything beyond the dry-run flag: rows touched, hashes, counts…"""
    return any(key != "dry_run" for key in evidence_ref or {})


def announce(
    conn: Connection,
    event_type: str,
    record: RunRecord | ComponentRecord,
    *,
    status: str | None = None,
    evidence_type: EvidenceType | None = None,
    at: dt.datetime | None = None,
) -> Envelope | None:
    """Emit ``event_type`` about ``record`` with the payload contract (docs/design.md,
    "The event payload contract"); nothing inside :func:`unannounced`."""
    if _unannounced.get():
        return None
    is_component = isinstance(record, ComponentRecord)
    if evidence_type is None:
        evidence_type = EvidenceType.DRY_RUN if record.dry_run else EvidenceType.RUNTIME
    subject_id = record.component_run_id if is_component else record.process_run_id
    return events.emit(
        conn,
        event_type,
        {
            "process_run_id": record.process_run_id,
            "correlation_id": record.correlation_id,
            "component_run_id": record.component_run_id if is_component else None,
            "dot_code": record.dot_code if is_component else None,
            "status": status or record.status,
            "evidence_type": evidence_type,
            "input_ref": record.input_ref,
            "output_ref": record.output_ref,
        },
        correlation_id=record.correlation_id,
        subject=f"{'component' if is_component else 'run'}/{subject_id}",
        process_run_id=record.process_run_id,
        at=at,
    )


def _gate(event_type: str) -> str | None:
    """The event type whose gate a ledger write should read with it (none while
    unannounced: nothing will be emitted)."""
    return None if _unannounced.get() else str(event_type)


def check_event_code(event_code: str) -> str:
    events.payload_model(event_code)  # raises UnknownEventType
    return event_code


def open_run(conn: Connection, *, candidate_code: str, **start: Any) -> StartedRun:
    """``ledger.start_run`` (same arguments) and process.run.started for a new run."""
    started = start_run(
        conn, candidate_code=candidate_code, gate=_gate(ProcessEventType.RUN_STARTED), **start
    )
    if started.created:
        announce(conn, ProcessEventType.RUN_STARTED, started.run, at=start.get("at"))
    return started


def open_step(
    conn: Connection,
    process_run_id: uuid.UUID,
    *,
    dot_code: str | None,
    role: str | None = "step",
    event_code: str = STEP_EVENT_CODE,
    input_ref: str | None = None,
    idempotency_key: str | None = None,
    at: dt.datetime | None = None,
    actor: str | None = None,
    late_report: bool = False,
    known_run: RunRecord | None = None,
) -> RecordedComponent:
    """Record a component of the run and move it to step_started (process.step.started).

    A repeated idempotency key returns the earlier component unchanged. ``late_report``:
    see ``ledger.record_component`` (a run that has ended is then left as it is).
    ``known_run``: the run as the caller last saw it (the wrapper's scope); on Postgres
    the step is then recorded in one statement, if the run is still as it was."""
    options = {
        "process_run_id": process_run_id,
        "dot_code": dot_code,
        "role": role,
        "event_code": check_event_code(event_code),
        "input_ref": input_ref,
        "idempotency_key": idempotency_key,
        "at": at,
        "late_report": late_report,
    }
    if known_run is not None and not late_report and is_postgres(conn):
        opened = _open_step_at_once(conn, known_run, options, actor)
        if opened is not None:
            return opened
    # Lock the header before the component's foreign key takes its key-share lock on it:
    # two steps opening at once would otherwise each hold that lock and wait for the
    # other's to move the header — a deadlock on Postgres. Now the second simply waits.
    header = _subjects.fetch(conn, RUN, process_run_id, lock="update")
    options["run"] = header
    follow = header.status in ("started", "step_completed")
    move = {
        "actor": actor,
        "gate": _gate(ProcessEventType.STEP_STARTED),
        **(_following(header.status, "step_started", at, alone=False) if follow else {}),
    }
    if is_postgres(conn):
        # Recorded and moved to step_started in one statement (the row written once).
        component, created, answers = _subjects.insert_then(
            conn,
            COMPONENT,
            component_values(conn, **options),
            "step_started",
            reason=RECORD_REASON,
            at=at,
            **move,
        )
        if not created:
            return RecordedComponent(component, False)
    else:
        recorded = record_component(conn, actor=actor, **options)
        if not recorded.created:
            return recorded
        component, answers = _subjects.transition_answering(
            conn, COMPONENT, recorded.component.component_run_id, "step_started", at=at, **move
        )
    announce(conn, ProcessEventType.STEP_STARTED, component, at=at)
    if follow and "header_follows" not in answers:
        _follow(conn, process_run_id, header.status, "step_started", at)
    return RecordedComponent(component, True)


def _open_step_at_once(
    conn: Connection, known_run: RunRecord, options: dict, actor: str | None
) -> RecordedComponent | None:
    """Postgres: :func:`open_step` in one statement — the header locked, the component
    judged against ``known_run`` recorded in step_started, the header following — when
    the header still has the correlation and source it was judged against and has not
    ended. None when nothing was written: the caller then goes the usual way."""
    at = options["at"]
    opened = _subjects.insert_then(
        conn,
        COMPONENT,
        component_values(conn, **options, run=known_run),
        "step_started",
        reason=RECORD_REASON,
        actor=actor,
        at=at,
        gate=_gate(ProcessEventType.STEP_STARTED),
        under=known_run,
        # The header follows from whichever status a step may start from (it is locked:
        # the status the function reads is the one it moves from).
        **_following(None, "step_started", at, alone=False),
    )
    if opened is None:
        return None
    component, _, _ = opened
    announce(conn, ProcessEventType.STEP_STARTED, component, at=at)
    return RecordedComponent(component, True)


@dataclasses.dataclass(frozen=True)
class Outcome:
    """How a step or run ended, and what it leaves behind."""

    status: str = "completed"
    evidence: dict | None = None
    output_ref: str | None = None
    error_ref: str | None = None
    at: dt.datetime | None = None
    actor: str | None = None

    def __post_init__(self) -> None:
        if self.status not in TERMINAL_STATUSES:
            raise InvalidInput(f"an outcome is completed, failed or cancelled, not {self.status!r}")


def close_step(
    conn: Connection, component_run_id: uuid.UUID, outcome: Outcome | None = None
) -> ComponentRecord:
    """End a step opened by :func:`open_step`: ``completed`` goes through step_completed
    (process.step.completed, and process.evidence.missing when a real step recorded no
    evidence); ``failed`` or ``cancelled`` end it directly, with ``error_ref``."""
    outcome = outcome or Outcome()
    at, actor = outcome.at, outcome.actor
    changes = {"evidence": outcome.evidence, "output_ref": outcome.output_ref, "at": at}
    if outcome.status == "completed":
        through = _complete_at_once(conn, component_run_id, outcome)
        if through is not None:
            stepped, component, answers = through
            announce(conn, ProcessEventType.STEP_COMPLETED, stepped, at=at)
        else:
            try:
                component = transition_component(
                    conn,
                    component_run_id,
                    "step_completed",
                    actor=actor,
                    gate=_gate(ProcessEventType.STEP_COMPLETED),
                    **changes,
                )
            except IllegalTransition:
                # A sweep judged the step stuck or orphan while it worked; its real
                # outcome still counts (and a step that already ended refuses this too).
                component, answers = _end_step(
                    conn, component_run_id, "completed", actor=actor, **changes
                )
            else:
                announce(conn, ProcessEventType.STEP_COMPLETED, component, at=at)
                component, answers = _end_step(
                    conn, component_run_id, "completed", at=at, actor=actor
                )
        if not component.dry_run and not has_evidence(component.evidence_ref):
            announce(
                conn,
                ProcessEventType.EVIDENCE_MISSING,
                component,
                evidence_type=EvidenceType.MISSING,
                at=at,
            )
    else:
        component, answers = _end_step(
            conn,
            component_run_id,
            outcome.status,
            error_ref=outcome.error_ref,
            actor=actor,
            **changes,
        )
    if (
        component.process_run_id is not None
        and "header_follows" not in answers  # SQLite: the header did not follow yet
        and not _others_at_work(conn, component)
    ):
        _follow(conn, component.process_run_id, "step_started", "step_completed", at)
    return component


def _complete_at_once(conn: Connection, component_run_id: uuid.UUID, outcome: Outcome):
    """Postgres: step_completed and completed (and the header's follow-up) in one
    statement, when nothing about the step needs judging in Python first (no given time,
    no dry-run claim). None when not done: the caller moves one by one."""
    if not is_postgres(conn) or outcome.at is not None or "dry_run" in (outcome.evidence or {}):
        return None
    return _subjects.transition_through(
        conn,
        COMPONENT,
        parse_uuid(component_run_id, "component_run_id"),
        "step_completed",
        "completed",
        evidence=outcome.evidence,
        output_ref=outcome.output_ref,
        actor=outcome.actor,
        gate=_gate(ProcessEventType.STEP_COMPLETED),
        **_following("step_started", "step_completed", None, alone=True),
    )


def others_at_work(written: sa.Subquery) -> sa.ColumnElement:
    """Whether another component of the written component's run is still at work (asked
    with the move that ends a step, see ``_subjects.transition_answering``)."""
    c = components.c
    # Correlated by name: nested two selects deep (in ``header_follows``), it would
    # otherwise get ``written`` as a FROM of its own — a second call of the write.
    return (
        sa.exists()
        .where(
            c.process_run_id == written.c.process_run_id,
            c.component_run_id != written.c.component_run_id,
            c.status == sa.any_(sa.literal(list(_AT_WORK), postgresql.ARRAY(sa.Text))),
        )
        .correlate(written)
    )


def header_follows(written: sa.Subquery) -> sa.ColumnElement:
    """:func:`_follow` for the written step's run, in the statement that moved the step:
    the header moves to ``:follow_to`` if it is in ``:follow_expect`` (and, given
    ``:follow_alone``, no other step of the run is at work). The run's id if it moved."""
    at = sa.bindparam("follow_at", type_=UTCDateTime)
    text_array = postgresql.ARRAY(sa.Text)
    allowed = sa.case(
        (
            sa.and_(sa.bindparam("follow_alone", type_=sa.Boolean), others_at_work(written)),
            sa.cast(sa.literal("{}"), text_array),
        ),
        else_=sa.bindparam("follow_allowed", type_=text_array),
    )
    move = sa.func.procobs_move_run(
        written.c.process_run_id,
        sa.bindparam("follow_to", type_=sa.Text),
        allowed,
        sa.bindparam("follow_expect", type_=sa.Text),
        sa.null(),  # p_ended_at: a header follows its steps into working states only
        at,  # p_started_at
        sa.null(),
        sa.null(),
        sa.null(),
        at,  # p_at
        sa.null(),
        sa.null(),
    ).table_valued("process_run_id")
    return sa.select(move.c.process_run_id).scalar_subquery()


def _following(expect: str | None, to_status: str, at: dt.datetime | None, *, alone: bool) -> dict:
    """The options of ``transition_answering`` that make the run header follow the step
    it moves (Postgres; see :func:`header_follows`)."""
    return {
        "also": (header_follows,),
        "also_params": {
            "follow_to": to_status,
            "follow_expect": expect,
            "follow_allowed": list(allowed_from(to_status)),
            "follow_alone": alone,
            "follow_at": _subjects.resolve_time(at),
        },
    }


def component_evidence(written: sa.Subquery) -> sa.ColumnElement:
    """Whether a component of the written run has evidence (see :func:`has_evidence`:
    anything beyond the dry-run flag), asked with the move that ends the run."""
    c = components.c
    return (
        sa.exists()
        .where(
            c.process_run_id == written.c.process_run_id,
            c.evidence_ref.op("-")(sa.literal("dry_run", sa.Text)) != _EMPTY_OBJECT,
        )
        .correlate(written)
    )


# The empty JSON object itself: a '{}' bound as JSONB would be the JSON *string* "{}".
_EMPTY_OBJECT = sa.cast(sa.literal_column("'{}'"), postgresql.JSONB)


def _end_step(conn: Connection, component_run_id: uuid.UUID, to_status: str, **options):
    """Move a step to its end and (Postgres) its run's header to step_completed, unless
    another step of the run is still at work."""
    return _subjects.transition_answering(
        conn,
        COMPONENT,
        parse_uuid(component_run_id, "component_run_id"),
        to_status,
        **_following("step_started", "step_completed", options.get("at"), alone=True),
        **options,
    )


def close_run(
    conn: Connection, process_run_id: uuid.UUID, outcome: Outcome | None = None
) -> RunRecord:
    """Finish a run (process.run.completed / process.run.failed). A completed real run
    with no evidence on its header nor on any component also raises the
    process.evidence.missing alert."""
    outcome = outcome or Outcome()
    completed = outcome.status == "completed"
    finish = functools.partial(
        _subjects.transition_answering,
        conn,
        RUN,
        parse_uuid(process_run_id, "process_run_id"),
        outcome.status,
        also=(component_evidence,),
        evidence=outcome.evidence,
        output_ref=outcome.output_ref,
        error_ref=outcome.error_ref,
        at=outcome.at,
        actor=outcome.actor,
        gate=(
            _gate(_RUN_OUTCOME_EVENTS[outcome.status])
            if outcome.status in _RUN_OUTCOME_EVENTS
            else None
        ),
    )
    try:
        run, answers = finish()
    except IllegalTransition:
        if not completed:
            raise
        # A step still marked open (e.g. abandoned by a thread) cannot block the close.
        _follow(conn, process_run_id, "step_started", "step_completed", outcome.at)
        run, answers = finish()
    if outcome.status in _RUN_OUTCOME_EVENTS:
        announce(conn, _RUN_OUTCOME_EVENTS[outcome.status], run, at=outcome.at)
    if (
        completed
        and not run.dry_run
        and not has_evidence(run.evidence_ref)
        and not _any_component_evidence(conn, process_run_id, answers)
    ):
        announce(
            conn,
            ProcessEventType.EVIDENCE_MISSING,
            run,
            evidence_type=EvidenceType.MISSING,
            at=outcome.at,
        )
    return run


def _follow(
    conn: Connection,
    process_run_id: uuid.UUID,
    expect: str,
    to_status: str,
    at: dt.datetime | None,
) -> None:
    """Move the run header along with its steps, if it is (still) in ``expect``. A header
    elsewhere is left alone: a concurrent step moved it first, or it never was there."""
    with contextlib.suppress(LostRace):
        transition_run(conn, process_run_id, to_status, expect=expect, at=at)


def _others_at_work(conn: Connection, component: ComponentRecord) -> bool:
    c = components.c
    return (
        conn.execute(
            sa.select(c.component_run_id)
            .where(
                c.process_run_id == component.process_run_id,
                c.component_run_id != component.component_run_id,
                c.status.in_(_AT_WORK),
            )
            .limit(1)
        ).first()
        is not None
    )


def _any_component_evidence(
    conn: Connection, process_run_id: uuid.UUID, answers: dict[str, Any]
) -> bool:
    if "component_evidence" in answers:  # asked with the move that ended the run
        return answers["component_evidence"]
    rows = conn.execute(
        sa.select(components.c.evidence_ref).where(
            components.c.process_run_id == process_run_id,
            components.c.evidence_ref.is_not(None),
        )
    ).scalars()
    return any(has_evidence(doc) for doc in rows)
