"""Retention: expired runs move, with their components and history, into the archive.

**Policy** (docs/design.md, "Retention and the sweeps"), configurable per status:
``completed`` runs are kept 90 days, ``failed`` and ``stuck`` 180 days (they are what an
audit asks about). procobs adds:
``cancelled`` 90 days (an operator's deliberate ending, like a completion) and ``orphan``
180 days (an anomaly, like stuck). A status kept "forever" (None) is never archived. Runs
still in flight (observed … step_completed) are never archived: the stuck sweep judges them
first. The age of a terminal run counts from ``ended_at``; a stuck or orphan run has none,
so its age counts from ``started_at`` (``created_at`` if it never started).

**Families.** A run with nested runs (``parent_run_id``) moves as one family: the root and
all its descendants, once every one of them has expired. A family with a member still
live or young stays whole in the live tables ("kept back"), so ``runs show`` never finds
half a family, and no component is left pointing at a deleted run.

**Moves.** Each batch claims up to ``batch`` expired root runs in key order (on Postgres
``FOR UPDATE SKIP LOCKED``: rows a writer holds are left for the next run, so retention
never waits on the ledger and two retention runs never take the same family), locks their
families, and moves components, history and headers. A move is one statement on Postgres
(``WITH moved AS (DELETE … RETURNING *) INSERT INTO …_archive SELECT …``), so exactly the
rows deleted are archived; on SQLite, whose single writer holds the database for the
whole batch, it is an ``INSERT … SELECT`` and a ``DELETE`` of the same rows, their counts
compared. Nothing is ever deleted without being archived in the same transaction. A run
killed between batches loses nothing; a rerun finishes the job.

Components recorded without a run (``standalone``, or orphans reported under an unknown
correlation) follow the same policy on their own status and age, with their history.

A dry run takes the same path with plain reads and counts what would move.
"""

import dataclasses
import datetime as dt
import functools
import re
import time
import uuid
from collections import Counter
from typing import Any

import pydantic
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from procobs_dagster import limits
from procobs_dagster.errors import InvalidInput, first_problem
from procobs_dagster.ledger._subjects import resolve_time
from procobs_dagster.store.batches import (
    DEFAULT_BATCH,
    DEFAULT_STATEMENT_TIMEOUT_SECONDS,
    Progress,
    claim,
    open_job,
)
from procobs_dagster.store.dialect import among, is_postgres
from procobs_dagster.store.engine import Database
from procobs_dagster.store.tables import (
    process_component_observation,
    process_component_observation_archive,
    process_run_observation,
    process_run_observation_archive,
    process_status_history,
    process_status_history_archive,
)
from procobs_dagster.store.types import UTCDateTime
from procobs_dagster.store.vocabulary import TERMINAL_STATUSES

runs = process_run_observation
components = process_component_observation
history = process_status_history
_ARCHIVE = {
    runs: process_run_observation_archive,
    components: process_component_observation_archive,
    history: process_status_history_archive,
}


# ASCII digits only (str.isdigit() also takes "²", which int() refuses), few enough that
# the bound is checked on a number and not on a string int() would refuse to read.
_DAYS = re.compile(r"[0-9]{1,12}")


class RetentionPolicy(pydantic.BaseModel):
    """Days each status is kept after its age starts counting; None keeps it forever."""

    model_config = pydantic.ConfigDict(extra="forbid", frozen=True, strict=True)

    completed: int | None = pydantic.Field(90, ge=0, le=limits.MAX_DAYS)
    failed: int | None = pydantic.Field(180, ge=0, le=limits.MAX_DAYS)
    cancelled: int | None = pydantic.Field(90, ge=0, le=limits.MAX_DAYS)
    stuck: int | None = pydantic.Field(180, ge=0, le=limits.MAX_DAYS)
    orphan: int | None = pydantic.Field(180, ge=0, le=limits.MAX_DAYS)

    def keep_days(self) -> dict[str, int | None]:
        return self.model_dump()

    def with_keep(self, overrides: dict[str, int | None]) -> "RetentionPolicy":
        """This policy with some statuses' days replaced, validated like the original."""
        try:
            return RetentionPolicy.model_validate({**self.keep_days(), **overrides})
        except pydantic.ValidationError as exc:
            raise InvalidInput(f"retention policy: {first_problem(exc)}") from None

    def with_keep_options(self, options: "tuple[str, ...] | list[str]") -> "RetentionPolicy":
        """Apply ``STATUS=DAYS`` (or ``STATUS=forever``) strings, as the CLI takes them."""
        overrides: dict[str, int | None] = {}
        given: dict[str, str] = {}
        for option in options:
            status, sep, days = option.partition("=")
            if not sep or status not in RetentionPolicy.model_fields:
                raise InvalidInput(
                    f"--keep {limits.shown(option)}: expected STATUS=DAYS with STATUS one of "
                    f"{', '.join(RetentionPolicy.model_fields)}"
                )
            # The last would win: what an earlier one said to keep would be archived.
            if status in given:
                raise InvalidInput(
                    f"--keep {limits.shown(option)}: {status} is given twice "
                    f"({limits.shown(given[status])[1:-1]} before); give each status once"
                )
            given[status] = option
            if days == "forever":
                overrides[status] = None
            elif _DAYS.fullmatch(days):
                overrides[status] = limits.check_count(
                    int(days), f"--keep {status}", minimum=0, maximum=limits.MAX_DAYS
                )
            else:
                raise InvalidInput(
                    f"--keep {limits.shown(option)}: DAYS must be a whole number from 0 to "
                    f"{limits.MAX_DAYS} or 'forever'"
                )
        return self.with_keep(overrides)


def expired(table: sa.Table, policy: RetentionPolicy, now: dt.datetime) -> sa.ColumnElement:
    """The one statement of the policy: true for a row of ``table`` (runs or components)
    whose status is retained and whose age exceeds that status's days at ``now``."""
    clauses = []
    for status, days in policy.keep_days().items():
        if days is None:
            continue
        if status in TERMINAL_STATUSES:
            age_from = table.c.ended_at
        else:  # a verdict (stuck, orphan): no ended_at
            age_from = sa.func.coalesce(table.c.started_at, table.c.created_at)
        cutoff = sa.literal(now - dt.timedelta(days=days), UTCDateTime)
        clauses.append(sa.and_(table.c.status == status, age_from < cutoff))
    return sa.or_(*clauses) if clauses else sa.false()


@dataclasses.dataclass
class RetentionReport:
    dry_run: bool
    now: dt.datetime
    policy: dict[str, int | None]
    batches: int = 0
    runs: int = 0
    components: int = 0
    history: int = 0
    runs_by_status: dict[str, int] = dataclasses.field(default_factory=dict)
    # Expired roots left in place because a member of their family is still live or young.
    families_kept_back: int = 0
    longest_batch_seconds: float = 0.0
    seconds: float = 0.0

    @property
    def rows(self) -> int:
        return self.runs + self.components + self.history

    def add(self, batch: "RetentionBatch") -> None:
        self.runs += batch.runs
        self.components += batch.components
        self.history += batch.history
        self.families_kept_back += batch.families_kept_back
        for status, count in batch.runs_by_status.items():
            self.runs_by_status[status] = self.runs_by_status.get(status, 0) + count

    def as_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "now": self.now.isoformat(), "rows": self.rows}


@dataclasses.dataclass(frozen=True)
class RetentionBatch:
    """What one batch moved (or, in a dry run, would move)."""

    last_key: uuid.UUID | None  # the highest key examined; None when nothing was left
    runs: int = 0
    components: int = 0
    history: int = 0
    runs_by_status: dict[str, int] = dataclasses.field(default_factory=dict)
    families_kept_back: int = 0

    def counts(self) -> dict[str, int]:
        return {"runs": self.runs, "components": self.components, "history": self.history}


def _is_root() -> sa.ColumnElement:
    parent = runs.alias("parent")
    present = sa.select(1).where(parent.c.process_run_id == runs.c.parent_run_id).exists()
    # A run whose parent is no longer in the live table heads its own family.
    return sa.or_(runs.c.parent_run_id.is_(None), ~present)


def _has_children() -> sa.ColumnElement:
    child = runs.alias("child")
    return sa.select(1).where(child.c.parent_run_id == runs.c.process_run_id).exists()


def _descendants(conn: Connection, roots: list[uuid.UUID]) -> dict[uuid.UUID, uuid.UUID]:
    """Every run nested under ``roots`` (at any depth) → the root it belongs to."""
    dialect = conn.dialect.name
    tree = (
        sa.select(runs.c.process_run_id, runs.c.process_run_id.label("root_id"))
        .where(among(runs.c.process_run_id, roots, dialect))
        .cte("tree", recursive=True)
    )
    child = runs.alias("child")
    # UNION (not UNION ALL): a parent_run_id cycle written behind the ledger's back ends.
    tree = tree.union(
        sa.select(child.c.process_run_id, tree.c.root_id).where(
            child.c.parent_run_id == tree.c.process_run_id
        )
    )
    rows = conn.execute(
        sa.select(tree.c.process_run_id, tree.c.root_id).where(
            tree.c.process_run_id != tree.c.root_id
        )
    )
    return {row.process_run_id: row.root_id for row in rows}


def _move(
    conn: Connection, live: sa.Table, where: sa.ColumnElement, archived_at: dt.datetime
) -> int:
    """Move the rows of ``live`` matching ``where`` into its archive; return how many."""
    archive = _ARCHIVE[live]
    names = [*live.c.keys(), "archived_at"]
    stamp = sa.literal(archived_at, UTCDateTime)
    if is_postgres(conn):
        moved = live.delete().where(where).returning(*live.c).cte("moved")
        statement = archive.insert().from_select(names, sa.select(*moved.c, stamp))
        return conn.execute(statement).rowcount
    archived = conn.execute(
        archive.insert().from_select(names, sa.select(*live.c, stamp).where(where))
    ).rowcount
    deleted = conn.execute(live.delete().where(where)).rowcount
    if archived != deleted:  # impossible under SQLite's single writer; never delete unarchived
        raise RuntimeError(f"{live.name}: archived {archived} rows but deleted {deleted}")
    return deleted


def _move_or_count(
    conn: Connection,
    rows: list[tuple[str, sa.Table, sa.ColumnElement]],
    now: dt.datetime,
    dry_run: bool,
) -> dict[str, int]:
    """Move (or count) each ``(label, live table, where)`` in order; counts by label."""
    moved = {}
    for label, table, where in rows:
        if dry_run:
            query = sa.select(sa.func.count()).select_from(table).where(where)
            moved[label] = conn.execute(query).scalar_one()
        else:
            moved[label] = _move(conn, table, where, now)
    return moved


def archive_run_batch(
    conn: Connection,
    policy: RetentionPolicy,
    *,
    now: dt.datetime,
    after: uuid.UUID | None = None,
    limit: int = DEFAULT_BATCH,
    dry_run: bool = False,
) -> RetentionBatch:
    """One batch of run families, in the caller's transaction: claim up to ``limit``
    expired root runs after key ``after``, and move (or count) every family that has
    expired as a whole."""
    lock = not dry_run
    dialect = conn.dialect.name
    claimed = claim(
        conn,
        sa.select(
            runs.c.process_run_id, runs.c.status, _has_children().label("has_children")
        ).where(expired(runs, policy, now), _is_root()),
        runs.c.process_run_id,
        of=runs,
        after=after,
        limit=limit,
        lock=lock,
    )
    if not claimed:
        return RetentionBatch(last_key=None)
    status_of = {row.process_run_id: row.status for row in claimed}
    family_of = {run: run for run in status_of}
    parents = [row.process_run_id for row in claimed if row.has_children]
    descendants = _descendants(conn, parents) if parents else {}
    kept_back: set[uuid.UUID] = set()
    if descendants:
        # Lock the members, then judge them as they are now: one a writer holds (absent
        # from the answer) or one not yet expired keeps its whole family back.
        query = sa.select(
            runs.c.process_run_id, runs.c.status, expired(runs, policy, now).label("expired")
        ).where(among(runs.c.process_run_id, list(descendants), dialect))
        if lock:
            query = query.with_for_update(of=runs, skip_locked=True)
        judged = conn.execute(query).all()
        gone = {row.process_run_id for row in judged if row.expired}
        kept_back = {root for run, root in descendants.items() if run not in gone}
        status_of.update((row.process_run_id, row.status) for row in judged)
        family_of.update(descendants)
    last_key = claimed[-1].process_run_id
    moving = [run for run, root in family_of.items() if root not in kept_back]
    if not moving:
        return RetentionBatch(last_key=last_key, families_kept_back=len(kept_back))
    # Components before their run (the foreign key); history after the components, so a
    # component transition that committed just before its component moved is in it.
    moved = _move_or_count(
        conn,
        [
            ("components", components, among(components.c.process_run_id, moving, dialect)),
            ("history", history, among(history.c.process_run_id, moving, dialect)),
            ("runs", runs, among(runs.c.process_run_id, moving, dialect)),
        ],
        now,
        dry_run,
    )
    return RetentionBatch(
        last_key=last_key,
        **moved,
        runs_by_status=dict(Counter(status_of[run] for run in moving)),
        families_kept_back=len(kept_back),
    )


def archive_runless_component_batch(
    conn: Connection,
    policy: RetentionPolicy,
    *,
    now: dt.datetime,
    after: uuid.UUID | None = None,
    limit: int = DEFAULT_BATCH,
    dry_run: bool = False,
) -> RetentionBatch:
    """One batch of expired components that belong to no run (standalone, or orphans
    reported under an unknown correlation), with their history."""
    key = components.c.component_run_id
    claimed = [
        row.component_run_id
        for row in claim(
            conn,
            sa.select(key).where(
                components.c.process_run_id.is_(None), expired(components, policy, now)
            ),
            key,
            of=components,
            after=after,
            limit=limit,
            lock=not dry_run,
        )
    ]
    if not claimed:
        return RetentionBatch(last_key=None)
    moved = _move_or_count(
        conn,
        [
            (
                "history",
                history,
                sa.and_(
                    history.c.subject_kind == "component",
                    among(history.c.subject_id, claimed, conn.dialect.name),
                ),
            ),
            ("components", components, among(key, claimed, conn.dialect.name)),
        ],
        now,
        dry_run,
    )
    return RetentionBatch(last_key=claimed[-1], **moved)


def run_retention(
    db: Database,
    policy: RetentionPolicy | None = None,
    *,
    now: dt.datetime | None = None,
    batch: int = DEFAULT_BATCH,
    dry_run: bool = False,
    progress: Progress | None = None,
    statement_timeout_seconds: float = DEFAULT_STATEMENT_TIMEOUT_SECONDS,
) -> RetentionReport:
    """Archive every expired run family, then every expired run-less component, one
    committed batch at a time. ``now`` is when the policy is judged (default: now)."""
    policy = policy or RetentionPolicy()
    now = resolve_time(now, "now")
    limits.check_batch(batch)
    report = RetentionReport(dry_run=dry_run, now=now, policy=policy.keep_days())
    began = time.perf_counter()
    with open_job(
        db, "retention", exclusive=False, statement_timeout_seconds=statement_timeout_seconds
    ) as job:
        steps = [
            functools.partial(step, policy=policy, now=now, limit=batch, dry_run=dry_run)
            for step in (archive_run_batch, archive_runless_component_batch)
        ]
        job.run_steps(steps, report, write=not dry_run, progress=progress)
    report.seconds = time.perf_counter() - began
    return report
