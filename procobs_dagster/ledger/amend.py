"""What a reporting source learns about a row after it was written, without a status change.

A workflow engine reports a run in several events that may arrive in any order: the one
that says when the run began can come after the one that says how it ended, and a report
may name the run's parent only once the run is in the ledger. These changes only ever move
a row towards what the reports say — a start only earlier, evidence only added, a parent
only set where there was none — so applying them again, or in another order, ends the same.
None of them is a status change: the history is not written.
"""

import datetime as dt
import json
import re
import uuid

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection

from procobs_dagster.clock import ensure_utc
from procobs_dagster.errors import InvalidInput
from procobs_dagster.ledger import _subjects
from procobs_dagster.ledger._subjects import COMPONENT, RUN, Subject
from procobs_dagster.ledger.records import ComponentRecord, RunRecord
from procobs_dagster.store.dialect import is_postgres
from procobs_dagster.store.types import UTCDateTime


def _subject(kind: str) -> Subject:
    if kind not in (RUN.kind, COMPONENT.kind):
        raise InvalidInput(f"unknown ledger subject {kind!r}: expected run or component")
    return RUN if kind == RUN.kind else COMPONENT


def backdate_start(conn: Connection, kind: str, subject_id: uuid.UUID, started_at: dt.datetime):
    """Move ``started_at`` back to ``started_at`` when the row began later (or never said);
    a later time changes nothing. Returns the row (None when it is not in the ledger)."""
    subject = _subject(kind)
    at = ensure_utc(started_at, "started_at")
    c = subject.table.c
    row = (
        conn.execute(
            subject.table.update()
            .where(
                subject.key_column == subject_id,
                sa.or_(c.started_at.is_(None), c.started_at > sa.literal(at, UTCDateTime)),
            )
            .values(started_at=at)
            .returning(*c)
        )
        .mappings()
        .first()
    )
    if row is not None:
        return subject.record.from_row(row)
    return _find(conn, subject, subject_id)


def add_evidence(
    conn: Connection, kind: str, subject_id: uuid.UUID, evidence: dict
) -> RunRecord | ComponentRecord | None:
    """Set the top-level keys of ``evidence`` in the row's ``evidence_ref``, each replaced
    whole (on both databases), whatever the row's status. Keys are plain names; whether a
    row is a dry run is not evidence, so that key is refused. Returns the row (None when it
    is not in the ledger)."""
    subject = _subject(kind)
    if not isinstance(evidence, dict) or not evidence:
        raise InvalidInput("evidence to add must be a non-empty JSON object")
    if "dry_run" in evidence:
        raise InvalidInput(f"{kind} {subject_id}: evidence may not change whether it is a dry run")
    bad = [key for key in evidence if not _EVIDENCE_KEY.match(key)]
    if bad:
        raise InvalidInput(f"evidence keys are plain names, not {bad[0]!r}")
    c = subject.table.c
    row = (
        conn.execute(
            subject.table.update()
            .where(subject.key_column == subject_id)
            .values(evidence_ref=_with_keys_set(conn.dialect.name, c.evidence_ref, evidence))
            .returning(*c)
        )
        .mappings()
        .first()
    )
    return None if row is None else subject.record.from_row(row)


_EVIDENCE_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,99}$")


def _with_keys_set(dialect: str, document: sa.Column, values: dict) -> sa.ColumnElement:
    """``document`` with each key of ``values`` set to its value (replaced, not merged)."""
    if dialect == "postgresql":
        patch = sa.cast(sa.literal(json.dumps(values), sa.Text), postgresql.JSONB)
        return sa.func.coalesce(document, sa.literal_column("'{}'::jsonb")).op("||")(patch)
    arguments = []
    for key, value in values.items():
        arguments += [f"$.{key}", sa.func.json(sa.literal(json.dumps(value), sa.Text))]
    return sa.func.json_set(sa.func.coalesce(document, "{}"), *arguments)


def link_parent(
    conn: Connection, process_run_id: uuid.UUID, parent_run_id: uuid.UUID
) -> RunRecord | None:
    """Make a run that was recorded without a parent a nested run of ``parent_run_id``.

    A run that already has a parent keeps it. The parent's key is held until commit, as
    when a child starts (see ``ledger.start_run``): retention archives a family whole.

    The cycle check reads the new parent's ancestry, then writes: two links at once (a
    under b, b under a) would each pass it and together make a cycle, a family with no
    root that retention never archives. Only a run without a parent can get one, so the
    ancestry's top is the one row a concurrent link can change: it is read ``FOR SHARE``
    (Postgres; SQLite's single writer serialises links), which waits for a link of it in
    flight and then reads where that link put it.
    """
    if process_run_id in _ancestry(conn, parent_run_id):
        raise InvalidInput(
            f"run {process_run_id} cannot be nested under {parent_run_id}: that run is "
            "itself nested under it (a cycle)"
        )
    _subjects.fetch(conn, RUN, parent_run_id, lock="key share")
    c = RUN.table.c
    row = (
        conn.execute(
            RUN.table.update()
            .where(RUN.key_column == process_run_id, c.parent_run_id.is_(None))
            .values(parent_run_id=parent_run_id)
            .returning(*c)
        )
        .mappings()
        .first()
    )
    return RunRecord.from_row(row) if row is not None else _find(conn, RUN, process_run_id)


def _ancestry(conn: Connection, run_id: uuid.UUID, limit: int = 1000) -> list[uuid.UUID]:
    """``run_id`` and the runs it is nested under, nearest first; the top one (no parent)
    is held ``FOR SHARE`` until commit on Postgres, so no link can give it a parent
    before this transaction's link is written (see ``link_parent``)."""
    parent_of = sa.select(RUN.table.c.parent_run_id).where(RUN.key_column == sa.bindparam("run_id"))
    top_locked = parent_of.with_for_update(read=True) if is_postgres(conn) else None
    chain, parent = [], run_id
    while parent is not None and len(chain) < limit:
        chain.append(parent)
        parent = conn.execute(parent_of, {"run_id": parent}).scalar()
        if parent is None and top_locked is not None:
            parent = conn.execute(top_locked, {"run_id": chain[-1]}).scalar()
    return chain


def _find(conn: Connection, subject: Subject, subject_id: uuid.UUID):
    row = conn.execute(subject.select_one, {"subject_id": subject_id}).mappings().first()
    return None if row is None else subject.record.from_row(row)
