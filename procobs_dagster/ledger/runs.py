"""Process runs: the ledger header, one row per run (docs/design.md, "Identity and
correlation")."""

import datetime as dt
import uuid
from typing import NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from procobs_dagster import limits
from procobs_dagster.errors import IllegalTransition, InvalidInput
from procobs_dagster.ids import optional_uuid, parse_uuid, uuid7
from procobs_dagster.ledger import _subjects
from procobs_dagster.ledger._subjects import RUN
from procobs_dagster.ledger.lifecycle import INITIAL_STATUSES, check_status, is_terminal
from procobs_dagster.ledger.provenance import check_source, evidence_for
from procobs_dagster.ledger.records import HistoryEntry, RunRecord
from procobs_dagster.store.tables import process_run_observation as runs
from procobs_dagster.store.tables import process_status_history


class StartedRun(NamedTuple):
    run: RunRecord
    created: bool  # False when an idempotency key returned an earlier run


def start_run(
    conn: Connection,
    *,
    candidate_code: str,
    source_system: str = "dot_runtime",
    dry_run: bool = False,
    process_run_id: "uuid.UUID | str | None" = None,
    correlation_id: str | None = None,
    parent_run_id: "uuid.UUID | str | None" = None,
    idempotency_key: str | None = None,
    input_ref: str | None = None,
    evidence: dict | None = None,
    status: str = "started",
    at: dt.datetime | None = None,
    actor: str | None = None,
    gate: str | None = None,
) -> StartedRun:
    """Record a new run, or return the earlier one holding the same idempotency key.

    ``gate`` names the event type the caller emits about the new run: its gate is read
    with the insert (``_subjects.insert_once``)."""
    if not candidate_code:
        raise InvalidInput("candidate_code is required")
    if dry_run:
        source_system = "dry_run"
    check_source(source_system)
    if check_status(status) not in INITIAL_STATUSES:
        raise InvalidInput(f"a run starts as observed or started, not {status!r}")
    run_id = optional_uuid(process_run_id, "process_run_id") or uuid7()
    parent = optional_uuid(parent_run_id, "parent_run_id")
    if parent is not None:
        # Hold the parent's key until commit: retention archives a family as a whole and
        # would otherwise delete a parent whose new child it has not seen (no FK guards
        # parent_run_id). The child then waits for it and finds the parent gone.
        _subjects.fetch(conn, RUN, parent, lock="key share")
    at = _subjects.resolve_time(at, "started_at")
    record, created = _subjects.insert_once(
        conn,
        RUN,
        {
            "process_run_id": run_id,
            "process_candidate_code": candidate_code,
            "correlation_id": correlation_id or str(run_id),
            "parent_run_id": parent,
            "status": status,
            "source_system": source_system,
            "idempotency_key": idempotency_key,
            "input_ref": input_ref,
            "evidence_ref": evidence_for(source_system, evidence, f"run {run_id}"),
            "started_at": at if status == "started" else None,
            "created_at": at,
        },
        reason="start",
        actor=actor,
        gate=gate,
    )
    return StartedRun(record, created)


def transition_run(
    conn: Connection,
    process_run_id: "uuid.UUID | str",
    to_status: str,
    **kwargs,
) -> RunRecord:
    """Move a run along its lifecycle (see ``_subjects.transition`` for the options)."""
    return _subjects.transition(
        conn, RUN, parse_uuid(process_run_id, "process_run_id"), to_status, **kwargs
    )


def finish_run(
    conn: Connection,
    process_run_id: "uuid.UUID | str",
    status: str = "completed",
    **kwargs,
) -> RunRecord:
    if not is_terminal(check_status(status)):
        raise IllegalTransition(f"finish needs a terminal status, not {status!r}")
    return transition_run(conn, process_run_id, status, **kwargs)


def get_run(conn: Connection, process_run_id: "uuid.UUID | str") -> RunRecord:
    return _subjects.fetch(conn, RUN, parse_uuid(process_run_id, "process_run_id"))


def find_run_by_correlation(conn: Connection, correlation_id: str) -> RunRecord | None:
    """The earliest run carrying ``correlation_id``, if any."""
    row = (
        conn.execute(
            sa.select(runs)
            .where(runs.c.correlation_id == correlation_id)
            .order_by(runs.c.created_at, runs.c.process_run_id)
            .limit(1)
        )
        .mappings()
        .first()
    )
    return None if row is None else RunRecord.from_row(row)


def list_runs(
    conn: Connection,
    *,
    status: str | None = None,
    candidate: str | None = None,
    limit: int = 50,
) -> list[RunRecord]:
    limits.check_count(limit, "limit")
    query = sa.select(runs).order_by(runs.c.created_at.desc(), runs.c.process_run_id.desc())
    if status is not None:
        query = query.where(runs.c.status == check_status(status))
    if candidate is not None:
        query = query.where(runs.c.process_candidate_code == candidate)
    rows = conn.execute(query.limit(limit)).mappings()
    return [RunRecord.from_row(row) for row in rows]


def history_of(conn: Connection, process_run_id: "uuid.UUID | str") -> list[HistoryEntry]:
    """Every status change of the run and its components, in the order they happened."""
    run_id = parse_uuid(process_run_id, "process_run_id")
    rows = conn.execute(
        sa.select(process_status_history)
        .where(process_status_history.c.process_run_id == run_id)
        .order_by(process_status_history.c.history_id)
    ).mappings()
    return [HistoryEntry.from_row(row) for row in rows]
