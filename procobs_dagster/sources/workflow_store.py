"""The two workflow tables: raw reports (workflow_event) and reported runs (workflow_run).

Every decision about where a run sits in the ledger is taken while holding the run's
*key lock*; a run whose report names a parent also holds its parent's first. On Postgres
the key lock is a transaction-scoped advisory lock on the (source, run key) — a parent
that has not reported yet has no row to lock — and SQLite's single writer already
serialises whole transactions. So a child deciding "my parent is not in the ledger yet,
I wait" and the parent deciding "which of my children wait for me" never both miss the
other.
"""

import dataclasses
import datetime as dt
import hashlib
import uuid
from collections.abc import Iterable, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from procobs_dagster.errors import InvalidInput
from procobs_dagster.limits import shown
from procobs_dagster.sources.workflow_runs import RunFacts, WorkflowEvent
from procobs_dagster.store.dialect import insert_ignoring_conflicts
from procobs_dagster.store.tables import workflow_event, workflow_run

HELD, RUN, COMPONENT = "held", "run", "component"


@dataclasses.dataclass(frozen=True)
class ReportedRun:
    """A workflow_run row: a reported run, what its reports say, where it sits."""

    source: str
    run_key: str
    parent_run_key: str | None
    placement: str
    process_run_id: uuid.UUID | None
    component_run_id: uuid.UUID | None
    parent_missing: bool
    facts: RunFacts
    first_received_at: dt.datetime

    @classmethod
    def from_row(cls, row) -> "ReportedRun":
        try:
            facts = RunFacts.from_json(row["facts"])
        except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
            # Either database keeps any JSON there (a hand edit, another program): named,
            # not an internal error.
            raise InvalidInput(
                f"the database holds facts procobs cannot read for workflow run "
                f"{shown(row['source'])} {shown(row['run_key'])} ({type(exc).__name__}: "
                f"{shown(str(exc))}): correct or delete that row"
            ) from None
        return cls(
            source=row["source"],
            run_key=row["run_key"],
            parent_run_key=row["parent_run_key"],
            placement=row["placement"],
            process_run_id=row["process_run_id"],
            component_run_id=row["component_run_id"],
            parent_missing=row["parent_missing"],
            facts=facts,
            first_received_at=row["first_received_at"],
        )

    @property
    def ledger_subject(self) -> tuple[str, uuid.UUID]:
        """(ledger subject kind, id) of the row this run is in the ledger."""
        if self.placement == COMPONENT:
            return "component", self.component_run_id
        return "run", self.process_run_id


def lock_key(conn: Connection, source: str, run_key: str) -> None:
    """Hold the run's key lock until the transaction ends (see the module doc)."""
    if conn.dialect.name != "postgresql":
        return
    digest = hashlib.blake2b(f"{source}\x00{run_key}".encode(), digest_size=8).digest()
    conn.execute(
        sa.text("SELECT pg_advisory_xact_lock(:key)"),
        {"key": int.from_bytes(digest, "big", signed=True)},
    )


def store_event(conn: Connection, event: WorkflowEvent, received_at: dt.datetime) -> bool:
    """Keep the report raw; False when the same run, type and time was kept before."""
    inserted = conn.execute(
        insert_ignoring_conflicts(conn.dialect.name, workflow_event).returning(
            workflow_event.c.event_seq
        ),
        {
            "source": event.source,
            "run_key": event.run_key,
            "event_type": event.kind.value,
            "event_time": event.event_time,
            "parent_run_key": event.parent.run_key if event.parent else None,
            "received_at": received_at,
            "document": dict(event.document),
        },
    ).first()
    return inserted is not None


def load_run(conn: Connection, source: str, run_key: str) -> ReportedRun | None:
    row = (
        conn.execute(
            sa.select(workflow_run).where(
                workflow_run.c.source == source, workflow_run.c.run_key == run_key
            )
        )
        .mappings()
        .first()
    )
    return None if row is None else ReportedRun.from_row(row)


def save_facts(
    conn: Connection,
    known: ReportedRun | None,
    facts: RunFacts,
    *,
    received_at: dt.datetime,
    now: dt.datetime,
) -> ReportedRun:
    """Record the run's facts (``known``: its row as read under its key lock, None for a
    new run). A new row is held until placed; an existing row keeps its place, and the
    parent it was placed under, if any."""
    parent = facts.parent.run_key if facts.parent else None
    if known is None:
        run = ReportedRun(
            source=facts.source,
            run_key=facts.run_key,
            parent_run_key=parent,
            placement=HELD,
            process_run_id=None,
            component_run_id=None,
            parent_missing=False,
            facts=facts,
            first_received_at=received_at,
        )
        conn.execute(
            workflow_run.insert(),
            {
                "source": run.source,
                "run_key": run.run_key,
                "parent_run_key": parent,
                "placement": HELD,
                "facts": facts.to_json(),
                "first_received_at": received_at,
                "updated_at": now,
            },
        )
        return run
    run = dataclasses.replace(
        known,
        facts=facts,
        parent_run_key=(
            parent
            if known.placement == HELD or known.parent_run_key is None
            else known.parent_run_key
        ),
        first_received_at=min(known.first_received_at, received_at),
    )
    conn.execute(
        workflow_run.update()
        .where(workflow_run.c.source == run.source, workflow_run.c.run_key == run.run_key)
        .values(
            facts=facts.to_json(),
            parent_run_key=run.parent_run_key,
            first_received_at=run.first_received_at,
            updated_at=now,
        )
    )
    return run


def place(
    conn: Connection,
    run: ReportedRun,
    placement: str,
    *,
    process_run_id: uuid.UUID,
    component_run_id: uuid.UUID | None = None,
    parent_missing: bool = False,
    now: dt.datetime,
) -> ReportedRun:
    """Move a held run to its place in the ledger (compare-and-set on ``held``)."""
    c = workflow_run.c
    moved = conn.execute(
        workflow_run.update()
        .where(c.source == run.source, c.run_key == run.run_key, c.placement == HELD)
        .values(
            placement=placement,
            process_run_id=process_run_id,
            component_run_id=component_run_id,
            parent_missing=parent_missing,
            updated_at=now,
        )
    )
    if moved.rowcount != 1:
        raise RuntimeError(f"run {run.run_key} left held while its key lock was held")
    return dataclasses.replace(
        run,
        placement=placement,
        process_run_id=process_run_id,
        component_run_id=component_run_id,
        parent_missing=parent_missing,
    )


def children(conn: Connection, source: str, run_key: str) -> list[ReportedRun]:
    """The reported runs naming ``run_key`` as their parent, oldest first."""
    c = workflow_run.c
    rows = conn.execute(
        sa.select(workflow_run)
        .where(c.source == source, c.parent_run_key == run_key)
        .order_by(c.first_received_at, c.run_key)
    ).mappings()
    return [ReportedRun.from_row(row) for row in rows]


def reported_runs(
    conn: Connection, *, held: bool = False, parent_missing: bool = False, limit: int
) -> list[ReportedRun]:
    """The newest ``limit`` reported runs (only those still held, or placed without their
    parent, when asked)."""
    c = workflow_run.c
    query = sa.select(workflow_run).order_by(c.first_received_at.desc(), c.run_key).limit(limit)
    if held:
        query = query.where(c.placement == HELD)
    if parent_missing:
        query = query.where(c.parent_missing)
    return [ReportedRun.from_row(row) for row in conn.execute(query).mappings()]


def held_since(
    conn: Connection, before: dt.datetime, limit: int, source: str | None = None
) -> list[tuple[str, str]]:
    """(source, run key) of held runs first received before ``before`` (of ``source``
    only, when given), oldest first."""
    c = workflow_run.c
    query = sa.select(c.source, c.run_key).where(c.placement == HELD, c.first_received_at < before)
    if source is not None:
        query = query.where(c.source == source)
    rows = conn.execute(query.order_by(c.first_received_at, c.source, c.run_key).limit(limit))
    return [tuple(row) for row in rows]


def run_keys_after(conn: Connection, source: str, after: str, limit: int) -> list[str]:
    """The next ``limit`` run keys with raw reports, in key order (keyset pagination).
    A run whose reports retention removed is not among them: its reports (also one that
    arrived late) are no longer all of them, and a replay must not fold a part."""
    e = workflow_event.c
    r = workflow_run.c
    pruned = sa.select(1).where(
        r.source == e.source, r.run_key == e.run_key, r.raw_pruned_at.is_not(None)
    )
    return list(
        conn.execute(
            sa.select(e.run_key)
            .where(e.source == source, e.run_key > after, ~pruned.exists())
            .group_by(e.run_key)
            .order_by(e.run_key)
            .limit(limit)
        ).scalars()
    )


def raw_events(
    conn: Connection, source: str, run_keys: Sequence[str]
) -> Iterable[tuple[str, dict, dt.datetime]]:
    """(run key, document, received_at) of every raw report of these runs."""
    e = workflow_event.c
    return conn.execute(
        sa.select(e.run_key, e.document, e.received_at)
        .where(e.source == source, e.run_key.in_(run_keys))
        .order_by(e.event_seq)
    ).all()
