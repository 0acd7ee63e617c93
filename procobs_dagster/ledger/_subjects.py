"""What runs and components share: idempotent insert, guarded transition, history.

Both tables have the same lifecycle columns, so one implementation serves both; the
``Subject`` names which table, key and record type a call is about.
"""

import dataclasses
import datetime as dt
import functools
import uuid
from collections.abc import Callable
from typing import Any, NoReturn

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection

from procobs_dagster import limits
from procobs_dagster.clock import utcnow
from procobs_dagster.errors import InvalidInput, LostRace, NotFound, UnknownRun
from procobs_dagster.events import outbox
from procobs_dagster.ledger.lifecycle import (
    allowed_from,
    check_status,
    check_transition,
    is_terminal,
)
from procobs_dagster.ledger.records import ComponentRecord, RunRecord
from procobs_dagster.store.dialect import insert_ignoring_conflicts, is_postgres
from procobs_dagster.store.driver import DriverStatement
from procobs_dagster.store.sql import json_merge
from procobs_dagster.store.tables import (
    process_component_observation,
    process_run_observation,
    process_status_history,
)
from procobs_dagster.store.types import UTCDateTime
from procobs_dagster.store.vocabulary import TERMINAL_STATUSES

_HISTORY_COLUMNS = (
    "subject_kind",
    "subject_id",
    "process_run_id",
    "from_status",
    "to_status",
    "changed_at",
    "reason",
    "actor",
)


@dataclasses.dataclass(frozen=True)
class Subject:
    kind: str  # "run" | "component", as in process_status_history.subject_kind
    table: sa.Table
    key: str
    record: type
    not_found: type[NotFound]

    @property
    def key_column(self) -> sa.Column:
        return self.table.c[self.key]

    # Statements are built once and executed with parameters: the ledger's hot path
    # then pays neither statement construction nor cache-key generation per call.
    @functools.cached_property
    def select_one(self) -> sa.Select:
        return sa.select(self.table).where(self.key_column == sa.bindparam("subject_id"))

    @functools.cached_property
    def select_one_locked(self) -> dict[str, sa.Select]:
        """``select_one`` holding the row until commit (Postgres; SQLite's writer holds
        the whole database): ``key share`` — the lock a foreign key check takes — keeps it
        from being deleted, ``update`` also from being changed by anyone else. ``update`` is
        ``FOR NO KEY UPDATE``: a status move never changes the key, so it need not conflict
        with the key-share lock a new component's foreign key holds on its run."""
        return {
            "key share": self.select_one.with_for_update(read=True, key_share=True),
            "update": self.select_one.with_for_update(key_share=True),
        }

    @functools.cached_property
    def select_by_idempotency_key(self) -> sa.Select:
        return sa.select(self.table).where(self.table.c.idempotency_key == sa.bindparam("key"))

    def _new_values(self) -> dict[str, Any]:
        """SET clause of a transition. None of it depends on the row's current state."""
        c = self.table.c
        return {
            "status": sa.bindparam("b_status"),
            # NULL for every non-terminal state, which is exactly the rule.
            "ended_at": sa.bindparam("b_ended_at", type_=UTCDateTime),
            "started_at": sa.func.coalesce(
                c.started_at, sa.bindparam("b_started_at", type_=UTCDateTime)
            ),
            "error_ref": sa.func.coalesce(sa.bindparam("b_error_ref", type_=sa.Text), c.error_ref),
            "output_ref": sa.func.coalesce(
                sa.bindparam("b_output_ref", type_=sa.Text), c.output_ref
            ),
            "evidence_ref": json_merge(
                c.evidence_ref, sa.bindparam("b_evidence", type_=sa.JSON(none_as_null=True))
            ),
        }

    @functools.cached_property
    def guarded_update(self) -> sa.Update:
        """Compare-and-set on the status the caller read: ``WHERE status = :b_from``."""
        return (
            self.table.update()
            .where(
                self.key_column == sa.bindparam("b_id"),
                self.table.c.status == sa.bindparam("b_from"),
            )
            .values(self._new_values())
            .returning(*self.table.c)
        )

    @functools.cached_property
    def driver_select_one(self) -> dict[str | None, DriverStatement]:
        """Postgres: ``select_one`` and its locked forms, run through the driver."""
        return {
            None: DriverStatement(self.select_one),
            **{lock: DriverStatement(s) for lock, s in self.select_one_locked.items()},
        }

    @functools.cached_property
    def move_call(self) -> sa.TextualSelect:
        """Postgres, one round trip: ``procobs_move_<kind>`` (migration 0012) moves the
        row if its status is one of ``p_allowed`` (and ``p_expect``, when given) and logs
        the change with the status it had; it returns the moved row, or nothing."""
        return _call(self, f"procobs_move_{self.kind}", _move_parameters(self.table))

    @functools.cached_property
    def insert_call(self) -> sa.TextualSelect:
        """Postgres, one round trip: ``procobs_insert_<kind>`` (migration 0012) inserts the
        row unless its key or idempotency key is taken, with its first history entry; it
        returns the inserted row, or nothing."""
        return _call(self, f"procobs_insert_{self.kind}", self.insert_call_parameters)

    @functools.cached_property
    def insert_then_call(self) -> sa.TextualSelect:
        """Postgres, one round trip: ``procobs_insert_<kind>_then`` (migration 0014) is
        ``insert_call`` and a move of the new row (the ``t_*`` arguments), the row written
        once in the status it moves to, with both history rows."""
        return _call(
            self,
            f"procobs_insert_{self.kind}_then",
            self.insert_call_parameters + _then_parameters(),
        )

    @functools.cached_property
    def insert_call_parameters(self) -> list[tuple[str, Any]]:
        columns = [(f"p_{c.name}", c.type) for c in self.table.c]
        return [*columns, ("p_reason", sa.Text()), ("p_actor", sa.Text())]

    @functools.cached_property
    def through_call(self) -> sa.TextualSelect:
        """Postgres, one round trip: ``procobs_move_<kind>_through`` (migration 0014)
        makes ``move_call``'s move and then the ``t_*`` one, as one compare-and-set
        writing the row once, with both history rows."""
        return _call(
            self,
            f"procobs_move_{self.kind}_through",
            _move_parameters(self.table) + _then_parameters(),
        )

    def insert_once(self, dialect: str, columns: tuple[str, ...]) -> sa.Insert:
        return _insert_once(self, dialect, columns)


@functools.cache
def _insert_once(subject: Subject, dialect: str, columns: tuple[str, ...]) -> sa.Insert:
    values = {name: sa.bindparam(name, type_=subject.table.c[name].type) for name in columns}
    return (
        insert_ignoring_conflicts(dialect, subject.table).values(values).returning(*subject.table.c)
    )


def _move_parameters(table: sa.Table) -> list[tuple[str, Any]]:
    c = table.c
    return [
        ("p_id", c[table.primary_key.columns.keys()[0]].type),
        ("p_to", sa.Text()),
        ("p_allowed", postgresql.ARRAY(sa.Text)),
        ("p_expect", sa.Text()),
        ("p_ended_at", c.ended_at.type),
        ("p_started_at", c.started_at.type),
        ("p_error_ref", sa.Text()),
        ("p_output_ref", sa.Text()),
        ("p_evidence", c.evidence_ref.type),
        ("p_at", c.created_at.type),
        ("p_reason", sa.Text()),
        ("p_actor", sa.Text()),
    ]


def _then_parameters() -> list[tuple[str, Any]]:
    """The second move of a ``procobs_*_then``/``procobs_move_*_through`` call."""
    return [
        ("t_to", sa.Text()),
        ("t_allowed", postgresql.ARRAY(sa.Text)),
        ("t_ended_at", UTCDateTime()),
        ("t_started_at", UTCDateTime()),
        ("t_at", UTCDateTime()),
        ("t_reason", sa.Text()),
    ]


def _then_params(to_status: str, at: dt.datetime, reason: str | None = None) -> dict[str, Any]:
    """The values of :func:`_then_parameters` for a move to ``to_status`` at ``at``."""
    return {
        "t_to": to_status,
        "t_allowed": list(allowed_from(to_status)),
        "t_ended_at": at if is_terminal(to_status) else None,
        "t_started_at": at if to_status in _WORK_BEGUN else None,
        "t_at": at,
        "t_reason": reason,
    }


def _call(subject: "Subject", function: str, parameters: list[tuple[str, Any]]) -> sa.TextualSelect:
    """``SELECT * FROM function(...)`` with its parameters cast to the function's types
    (so it resolves whatever the driver says a value is) and its result typed as the
    subject's table, so rows read back exactly as ``select(table)`` reads them."""
    return _typed(subject, f"SELECT * FROM {function}({_arguments(parameters)})", parameters)


def _arguments(parameters: list[tuple[str, Any]], given: dict[str, str] | None = None) -> str:
    """The parameters, each cast to its type, as a function's arguments; those named in
    ``given`` are SQL expressions instead."""
    pg = postgresql.dialect()
    return ", ".join(
        (given or {}).get(name) or f"CAST(:{name} AS {type_.compile(dialect=pg)})"
        for name, type_ in parameters
    )


def _typed(subject: "Subject", sql: str, parameters: list[tuple[str, Any]]) -> sa.TextualSelect:
    return (
        sa.text(sql)
        .bindparams(*(sa.bindparam(name, type_=type_) for name, type_ in parameters))
        .columns(*subject.table.c)
    )


@functools.cache
def _insert_then_under_run(subject: "Subject") -> sa.TextualSelect:
    """``insert_then_call`` under its run's header: the header is locked first (before the
    new row's foreign key takes its key-share lock: see ``tracking.open_step``) and the
    row written only if the header still has ``:h_correlation_id`` and
    ``:h_source_system`` and is in none of ``:h_ended``; the header's key is the row's."""
    header = [
        ("h_id", RUN.key_column.type),
        ("h_correlation_id", sa.Text()),
        ("h_source_system", sa.Text()),
        ("h_ended", postgresql.ARRAY(sa.Text)),
    ]
    call = [*subject.insert_call_parameters, *_then_parameters()]
    arguments = _arguments(call, {"p_process_run_id": "header.process_run_id"})
    h = [_arguments([parameter]) for parameter in header]
    return _typed(
        subject,
        "SELECT inserted.* FROM (SELECT process_run_id FROM process_run_observation"
        f" WHERE process_run_id = {h[0]} AND correlation_id = {h[1]}"
        f" AND source_system = {h[2]} AND NOT status = ANY ({h[3]})"
        f" FOR NO KEY UPDATE) AS header,"
        f" LATERAL procobs_insert_{subject.kind}_then({arguments}) AS inserted",
        [*header, *(p for p in call if p[0] != "p_process_run_id")],
    )


# A question about the row a ledger call wrote, answered in the same statement: a
# function of the ``written`` subquery giving a column, labelled with its own name.
Also = Callable[[sa.Subquery], sa.ColumnElement]


@functools.cache
def _statement(call: sa.TextualSelect, gated: bool, also: tuple[Also, ...]) -> DriverStatement:
    """``call``'s row, with (``gated``) the event gate of ``:event_type`` and the answers
    of ``also``, read in the same statement: the event a ledger write causes is emitted
    (or not) without another round trip to ask (events.outbox.remember_gate), and the
    caller's follow-up questions cost none either."""
    if not gated and not also:
        return DriverStatement(call)
    written = call.subquery("written")
    columns: list = [written]
    source = written
    if gated:
        # One row (a registry key, the runtime's one row), said so: the planner then
        # asks the follow-up questions as the one-row probes they are. A literal, not a
        # bound LIMIT: a prepared statement's generic plan would not know it, estimate a
        # hundred rows, and the server would plan the statement anew on every call.
        gate = outbox.GATE.limit(sa.literal_column("1")).subquery("gate")
        columns.extend(gate.c)
        source = source.outerjoin(gate, sa.true())
    columns.extend(question(written).label(question.__name__) for question in also)
    return DriverStatement(sa.select(*columns).select_from(source))


def _written(
    conn: Connection,
    call: sa.TextualSelect,
    params: dict[str, Any],
    gate: str | None,
    also: tuple[Also, ...] = (),
) -> dict[str, Any] | None:
    """Run a ledger call (Postgres), with the gate of the event type ``gate`` when one is
    named and the answers of ``also``."""
    statement = _statement(call, gate is not None, also)
    if gate is not None:
        params = {**params, "event_type": gate}
    row = statement.first(conn, params)
    if row is not None and gate is not None:
        outbox.remember_gate(conn, gate, row)
    return row


class UnknownComponent(NotFound):
    pass


# Moving into one of these means the work really began, so started_at gets stamped.
_WORK_BEGUN = ("started", "step_started", "step_completed", "completed", "failed")

RUN = Subject("run", process_run_observation, "process_run_id", RunRecord, UnknownRun)
COMPONENT = Subject(
    "component",
    process_component_observation,
    "component_run_id",
    ComponentRecord,
    UnknownComponent,
)


def resolve_time(at: dt.datetime | None, what: str = "timestamp") -> dt.datetime:
    return utcnow() if at is None else limits.check_timestamp(at, what)


# How each text column of a run or a component is checked before it is written, so a
# value is refused alike on both databases (docs/limits.md).
_COLUMN_CHECKS = {
    "process_candidate_code": ("candidate code", limits.check_identifier),
    "process_definition_code": ("definition code", limits.check_identifier),
    "correlation_id": ("correlation_id", limits.check_identifier),
    "dot_code": ("DOT code", limits.check_identifier),
    "event_code": ("event code", limits.check_identifier),
    "idempotency_key": ("idempotency key", limits.check_key),
    "input_ref": ("input_ref", limits.check_text),
    "output_ref": ("output_ref", limits.check_text),
    "error_ref": ("error_ref", limits.check_text),
    "evidence_ref": ("evidence", limits.check_json_document),
    "reason": ("reason", limits.check_text),
    "actor": ("actor", lambda value, what: limits.check_text(value, what, limits.MAX_NAME_LENGTH)),
}


def check_values(values: dict[str, Any]) -> None:
    """Refuse a value a run, a component or their history may not hold (see above)."""
    for column, value in values.items():
        if value is not None and column in _COLUMN_CHECKS:
            what, check = _COLUMN_CHECKS[column]
            check(value, what)


def fetch(conn: Connection, subject: Subject, subject_id: uuid.UUID, *, lock: str | None = None):
    params = {"subject_id": subject_id}
    if is_postgres(conn):
        row = subject.driver_select_one[lock].first(conn, params)
    else:
        statement = subject.select_one if lock is None else subject.select_one_locked[lock]
        row = conn.execute(statement, params).mappings().first()
    if row is None:
        raise subject.not_found(f"unknown {subject.kind} {subject_id}")
    return subject.record.from_row(row)


def _write_logged(
    conn: Connection,
    subject: Subject,
    statement,
    params: dict[str, Any],
    *,
    from_status: str | None,
    h_at: dt.datetime,
    h_reason: str | None,
    h_actor: str | None,
):
    """SQLite: run ``statement`` and, if it wrote a row, append that row's status change
    to the history in the same transaction. Returns the written row or None."""
    row = conn.execute(statement, params).mappings().first()
    if row is not None:
        conn.execute(
            process_status_history.insert(),
            dict(
                zip(
                    _HISTORY_COLUMNS,
                    (
                        subject.kind,
                        row[subject.key],
                        row["process_run_id"],
                        from_status,
                        row["status"],
                        h_at,
                        h_reason,
                        h_actor,
                    ),
                    strict=True,
                )
            ),
        )
    return row


def insert_once(
    conn: Connection,
    subject: Subject,
    values: dict[str, Any],
    *,
    reason: str | None = None,
    actor: str | None = None,
    gate: str | None = None,
) -> tuple[Any, bool]:
    """Insert a row (and its first history entry) unless its idempotency key is taken;
    return (record, created). ``gate`` names the event type the caller will emit about
    the new row: Postgres reads its gate with the insert (see ``_gated``).

    ``ON CONFLICT DO NOTHING`` makes a concurrent second writer wait for the first and
    then find its row, so neither caller sees an error and no duplicate exists.
    """
    check_values({**values, "reason": reason, "actor": actor})
    if is_postgres(conn):
        # Every column is an argument of the function; one the caller leaves out is NULL.
        params = {f"p_{c.name}": values.get(c.name) for c in subject.table.c}
        params.update(p_reason=reason, p_actor=actor)
        inserted = _written(conn, subject.insert_call, params, gate)
    else:
        inserted = _write_logged(
            conn,
            subject,
            subject.insert_once(conn.dialect.name, tuple(values)),
            values,
            from_status=None,
            h_at=values["created_at"],
            h_reason=reason,
            h_actor=actor,
        )
    if inserted is not None:
        return subject.record.from_row(inserted), True
    return _holding_key(conn, subject, values), False


def _holding_key(conn: Connection, subject: Subject, values: dict[str, Any]):
    """The record an insert that wrote nothing ran into: the one holding its idempotency
    key. Without one, its own key was taken: refused."""
    key = values.get("idempotency_key")
    if key is not None:
        existing = conn.execute(subject.select_by_idempotency_key, {"key": key}).mappings().first()
        if existing is not None:
            return subject.record.from_row(existing)
    raise InvalidInput(f"{subject.kind} {values[subject.key]} already exists")


def insert_then(
    conn: Connection,
    subject: Subject,
    values: dict[str, Any],
    to_status: str,
    *,
    reason: str | None = None,
    actor: str | None = None,
    at: dt.datetime | None = None,
    gate: str | None = None,
    also: tuple[Also, ...] = (),
    also_params: dict[str, Any] | None = None,
    under: RunRecord | None = None,
) -> tuple[Any, bool, dict[str, Any]] | None:
    """Postgres: :func:`insert_once` and the move of the new row to ``to_status`` (at
    ``at``, by ``actor``) in one statement, with the answers of ``also`` about the moved
    row (see :func:`transition_answering`). Returns (record, created, answers): the row
    as moved, or — its idempotency key taken — the earlier row, unmoved, and no answers.
    ``gate``: the event type the caller emits about the move.

    ``under``: the component's run as the caller last saw it, its header not yet locked
    in this transaction. The statement locks it first and writes only if the run still
    has that correlation_id and source_system (those ``values`` were judged against) and
    has not ended; if not — or the idempotency key is taken — it writes nothing and
    returns None, and the caller records the component the usual way, which says why."""
    check_status(to_status)
    check_transition(f"{subject.kind} {values[subject.key]}", values["status"], to_status)
    check_values({**values, "reason": reason, "actor": actor})
    params = {f"p_{c.name}": values.get(c.name) for c in subject.table.c}
    params.update(p_reason=reason, p_actor=actor, **_then_params(to_status, resolve_time(at)))
    call = subject.insert_then_call
    if under is not None:
        call = _insert_then_under_run(subject)
        params.update(
            h_id=under.process_run_id,
            h_correlation_id=under.correlation_id,
            h_source_system=under.source_system,
            h_ended=list(TERMINAL_STATUSES),
        )
    written = _written(conn, call, {**params, **(also_params or {})}, gate, also)
    if written is None:
        return None if under is not None else (_holding_key(conn, subject, values), False, {})
    answers = {q.__name__: written[q.__name__] for q in also}
    return subject.record.from_row(written), True, answers


def transition(
    conn: Connection, subject: Subject, subject_id: uuid.UUID, to_status: str, **options
):
    """Move one row to ``to_status`` with a guarded compare-and-set.

    A concurrent writer that moved the row first makes this call fail with ``LostRace``;
    nothing is written then and the row keeps the winner's state. For the options see
    :func:`transition_answering`.
    """
    return transition_answering(conn, subject, subject_id, to_status, **options)[0]


def transition_answering(
    conn: Connection,
    subject: Subject,
    subject_id: uuid.UUID,
    to_status: str,
    *,
    expect: str | None = None,
    at: dt.datetime | None = None,
    error_ref: str | None = None,
    output_ref: str | None = None,
    evidence: dict | None = None,
    reason: str | None = None,
    actor: str | None = None,
    gate: str | None = None,
    also: tuple[Also, ...] = (),
    also_params: dict[str, Any] | None = None,
) -> tuple[Any, dict[str, Any]]:
    """:func:`transition`, and on Postgres the answers of ``also`` about the moved row,
    by name, from the same statement (on SQLite none: the caller asks itself), with the
    values of their own bind parameters in ``also_params``. ``gate``: as for
    :func:`insert_once`."""
    check_status(to_status)
    check_values(
        {
            "error_ref": error_ref,
            "output_ref": output_ref,
            "evidence_ref": evidence,
            "reason": reason,
            "actor": actor,
        }
    )
    explicit_time = at is not None
    at = resolve_time(at)
    ended_at = at if is_terminal(to_status) else None
    started_at = at if to_status in _WORK_BEGUN else None
    # A caller-given time or a dry_run claim needs the current row to be judged first;
    # so does SQLite, which has no functions (and no round trips to save).
    current = None
    if explicit_time or "dry_run" in (evidence or {}) or not is_postgres(conn):
        # Locked, so the row cannot change between this judgement and the update: a
        # transition without ``expect`` is judged on the status it really moves from (a
        # real completion racing the stuck sweep lands as stuck → completed, not LostRace).
        current = fetch(conn, subject, subject_id, lock="update")
        label = f"{subject.kind} {subject_id}"
        _judge(label, current.status, to_status, expect)
        if evidence and "dry_run" in evidence and bool(evidence["dry_run"]) != current.dry_run:
            raise InvalidInput(f"{label}: evidence may not change whether it is a dry run")
        begun = current.started_at or started_at
        if ended_at is not None and begun is not None and begun > at:
            raise InvalidInput(f"{label}: ended_at {at.isoformat()} is before started_at")
    if is_postgres(conn):
        # Without a judged row the function judges the status it finds, and moves the
        # row only if it still has it (a compare-and-set).
        written = _written(
            conn,
            subject.move_call,
            {
                **_move_params(
                    subject_id,
                    to_status,
                    expect if current is None else current.status,
                    at,
                    error_ref=error_ref,
                    output_ref=output_ref,
                    evidence=evidence,
                    reason=reason,
                    actor=actor,
                ),
                **(also_params or {}),
            },
            gate,
            also,
        )
    else:
        written = _write_logged(
            conn,
            subject,
            subject.guarded_update,
            {
                "b_id": subject_id,
                "b_from": current.status,
                "b_status": to_status,
                "b_ended_at": ended_at,
                "b_started_at": started_at,
                "b_error_ref": error_ref,
                "b_output_ref": output_ref,
                "b_evidence": evidence or None,
            },
            from_status=current.status,
            h_at=at,
            h_reason=reason,
            h_actor=actor,
        )
    if written is None:
        _refuse(
            conn,
            subject,
            subject_id,
            to_status,
            expect,
            read_as=None if current is None else current.status,
        )
    answers = {q.__name__: written[q.__name__] for q in also} if is_postgres(conn) else {}
    return subject.record.from_row(written), answers


def _move_params(
    subject_id: uuid.UUID,
    to_status: str,
    expect: str | None,
    at: dt.datetime,
    *,
    error_ref: str | None = None,
    output_ref: str | None = None,
    evidence: dict | None = None,
    reason: str | None = None,
    actor: str | None = None,
) -> dict[str, Any]:
    """The arguments of ``procobs_move_<kind>`` for one move."""
    values = {
        "id": subject_id,
        "to": to_status,
        "allowed": list(allowed_from(to_status)),
        "expect": expect,
        # NULL for every non-terminal state, which is exactly the rule.
        "ended_at": at if is_terminal(to_status) else None,
        "started_at": at if to_status in _WORK_BEGUN else None,
        "error_ref": error_ref,
        "output_ref": output_ref,
        "evidence": evidence or None,
        "at": at,
        "reason": reason,
        "actor": actor,
    }
    return {"p_" + name: value for name, value in values.items()}


def transition_through(
    conn: Connection,
    subject: Subject,
    subject_id: uuid.UUID,
    via_status: str,
    to_status: str,
    *,
    evidence: dict | None = None,
    output_ref: str | None = None,
    actor: str | None = None,
    gate: str | None = None,
    also: tuple[Also, ...] = (),
    also_params: dict[str, Any] | None = None,
):
    """Postgres: move a row to ``via_status`` (with ``evidence`` and ``output_ref``) and on
    to ``to_status``, in one statement, each move with its history row, at the time of
    now. Returns (the row as it was at ``via_status``, the row moved on, the answers of
    ``also`` about it), or None when the first move was refused and nothing was written:
    the caller then makes its moves one by one and learns why."""
    check_status(via_status)
    check_transition(f"{subject.kind} {subject_id}", via_status, to_status)
    check_values({"output_ref": output_ref, "evidence_ref": evidence, "actor": actor})
    at = utcnow()
    params = {
        **_move_params(
            subject_id, via_status, None, at, output_ref=output_ref, evidence=evidence, actor=actor
        ),
        **_then_params(to_status, at),
        **(also_params or {}),
    }
    written = _written(conn, subject.through_call, params, gate, also)
    if written is None:
        return None
    moved = subject.record.from_row(written)
    # The second move changed the status and, into a terminal one, ended_at: nothing else.
    via = dataclasses.replace(moved, status=via_status, ended_at=None)
    return via, moved, {q.__name__: written[q.__name__] for q in also}


def _judge(label: str, status: str, to_status: str, expect: str | None) -> None:
    if expect is not None and status != expect:
        raise LostRace(f"{label}: lost the race: expected {expect}, found {status}")
    check_transition(label, status, to_status)


def _refuse(
    conn: Connection,
    subject: Subject,
    subject_id: uuid.UUID,
    to_status: str,
    expect: str | None,
    read_as: str | None = None,
) -> NoReturn:
    """Explain why a guarded update matched no row, from the row as it is now."""
    label = f"{subject.kind} {subject_id}"
    now = fetch(conn, subject, subject_id).status
    if read_as is None:
        _judge(label, now, to_status, expect)
    raise LostRace(
        f"{label}: lost the race: {read_as or now} → {to_status} refused, "
        f"a concurrent writer moved it to {now}"
    )
