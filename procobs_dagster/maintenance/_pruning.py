"""What the retention of the growing tables shares: the policy, the walk, the report.

Every job walks its table ``batch`` rows per committed transaction, and where an age
decides, only over the rows old enough to matter: oldest first, on an index of (age
column, key), so a batch never reads the young part of a table. Of the rows a batch
examined, only those still not needed are locked (Postgres ``FOR UPDATE SKIP LOCKED``: a
row someone holds is left for the next run) and deleted — or archived, for the audit log
— in that batch's transaction. A batch's work is bounded by the rows it examines, however
many of them stay ("kept back"); the next batch starts after the last row examined, so a
job killed between batches loses nothing and a rerun picks up what is left.
"""

import dataclasses
import datetime as dt
import functools
import time
from collections.abc import Callable
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
    open_job,
)
from procobs_dagster.store.engine import Database
from procobs_dagster.store.types import UTCDateTime

MAX_KEPT = limits.MAX_ROWS_SHOWN


class TablePolicy(pydantic.BaseModel):
    """How long each growing table keeps its rows; None keeps them forever.

    Ages are whole days; ``*_per_*`` count the newest rows kept per feature or candidate.
    """

    model_config = pydantic.ConfigDict(extra="forbid", frozen=True, strict=True)

    # delivery_state: a delivered row, counted from delivered_at.
    delivered_days: int | None = pydantic.Field(7, ge=0, le=limits.MAX_DAYS)
    # delivery_state: a dead row, counted from when it died (updated_at); longer, so an
    # operator has time to redrive it.
    dead_days: int | None = pydantic.Field(30, ge=0, le=limits.MAX_DAYS)
    # event_outbox: counted from recorded_at, once every sink has settled it. At least a
    # day: the sensors read the outbox too (every 10-30 s), from cursors of their own.
    outbox_days: int | None = pydantic.Field(7, ge=1, le=limits.MAX_DAYS)
    # audit_log → audit_log_archive, counted from recorded_at.
    audit_days: int | None = pydantic.Field(365, ge=0, le=limits.MAX_DAYS)
    # workflow_event: a reported run's raw reports, once its newest is this old.
    workflow_event_days: int | None = pydantic.Field(7, ge=0, le=limits.MAX_DAYS)
    # dossier_snapshot: the newest kept per feature (baselines always stay).
    snapshots_per_feature: int | None = pydantic.Field(100, ge=1, le=MAX_KEPT)
    # discovery_score: the newest scorings kept per candidate.
    scores_per_candidate: int | None = pydantic.Field(96 * 7, ge=1, le=MAX_KEPT)

    def settings(self) -> dict[str, int | None]:
        return self.model_dump()

    def with_settings(self, overrides: dict[str, int | None]) -> "TablePolicy":
        """This policy with some settings replaced, validated like the original."""
        try:
            return TablePolicy.model_validate({**self.settings(), **overrides})
        except pydantic.ValidationError as exc:
            raise InvalidInput(f"retention policy: {first_problem(exc)}") from None


def cutoff(now: dt.datetime, days: int) -> dt.datetime:
    return now - dt.timedelta(days=days)


def walk(
    conn: Connection,
    key: sa.ColumnElement,
    *columns: sa.ColumnElement,
    after: Any,
    limit: int,
    aged: tuple[sa.ColumnElement, dt.datetime] | None = None,
) -> tuple[list[sa.Row], Any]:
    """The next ``limit`` rows after position ``after``, unlocked, and the position of
    the last (None when there were none). Without ``aged`` the walk goes in key order and
    a position is a key. With ``aged`` = (age column, cutoff) it goes over the rows older
    than the cutoff only, oldest first, on an index of (age column, key) — it never reads
    a young row — and a position is (age, key)."""
    if aged is None:
        query = sa.select(key, *columns)
        if after is not None:
            query = query.where(key > after)
        found = list(conn.execute(query.order_by(key).limit(limit)))
        return found, (found[-1][0] if found else None)
    column, before = aged
    query = sa.select(key, column, *columns).where(column < sa.literal(before, UTCDateTime))
    if after is not None:
        at, last = after
        query = query.where(
            sa.tuple_(column, key) > sa.tuple_(sa.literal(at, UTCDateTime), sa.literal(last))
        )
    found = list(conn.execute(query.order_by(column, key).limit(limit)))
    return found, ((found[-1][1], found[-1][0]) if found else None)


def lock(query: sa.Select, of: sa.FromClause, dry_run: bool) -> sa.Select:
    """``query`` locking the rows of ``of`` it returns, skipping rows another transaction
    holds (Postgres; SQLite's writer already holds the whole database). A dry run locks
    nothing."""
    return query if dry_run else query.with_for_update(of=of, skip_locked=True)


def is_older(column: sa.ColumnElement, before: dt.datetime) -> sa.ColumnElement:
    return column < sa.literal(before, UTCDateTime)


@dataclasses.dataclass(frozen=True)
class PruneBatch:
    """What one batch removed (or, in a dry run, would remove), per table."""

    last_key: Any  # the highest key examined; None when nothing was left to examine
    deleted: dict[str, int] = dataclasses.field(default_factory=dict)
    archived: dict[str, int] = dataclasses.field(default_factory=dict)
    # Rows old enough that stay because something still needs them.
    kept_back: dict[str, int] = dataclasses.field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        return _counts(self.deleted, self.archived, self.kept_back)


def _counts(
    deleted: dict[str, int], archived: dict[str, int], kept_back: dict[str, int]
) -> dict[str, int]:
    """Every count by "<table> deleted", "<table> archived", "<table> kept back"."""
    return {
        **{f"{t} deleted": n for t, n in deleted.items()},
        **{f"{t} archived": n for t, n in archived.items()},
        **{f"{t} kept back": n for t, n in kept_back.items()},
    }


def _add(into: dict[str, int], counts: dict[str, int]) -> None:
    for table, count in counts.items():
        into[table] = into.get(table, 0) + count


@dataclasses.dataclass
class PruneReport:
    """One retention job over one or two tables: rows deleted, archived, kept back."""

    job: str
    dry_run: bool
    now: dt.datetime
    settings: dict[str, int | None]
    deleted: dict[str, int] = dataclasses.field(default_factory=dict)
    archived: dict[str, int] = dataclasses.field(default_factory=dict)
    kept_back: dict[str, int] = dataclasses.field(default_factory=dict)
    batches: int = 0
    longest_batch_seconds: float = 0.0
    seconds: float = 0.0

    def add(self, batch: PruneBatch) -> None:
        _add(self.deleted, batch.deleted)
        _add(self.archived, batch.archived)
        _add(self.kept_back, batch.kept_back)

    def counts(self) -> dict[str, int]:
        return _counts(self.deleted, self.archived, self.kept_back)

    def as_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "now": self.now.isoformat()}


Step = Callable[..., PruneBatch]


@dataclasses.dataclass(frozen=True)
class PruneJob:
    """A table retention job: ``step(conn, policy=, now=, after=, limit=, dry_run=)`` run
    one committed batch at a time until it finds nothing left to examine. Every table it
    ``deletes`` from or ``archives`` is reported, with 0 when nothing went; a job whose
    ``settings`` (the TablePolicy fields it reads) are all None (forever) does nothing."""

    name: str
    step: Step
    settings: tuple[str, ...]
    deletes: tuple[str, ...] = ()
    archives: tuple[str, ...] = ()

    def __call__(
        self,
        db: Database,
        policy: TablePolicy | None = None,
        *,
        now: dt.datetime | None = None,
        batch: int = DEFAULT_BATCH,
        dry_run: bool = False,
        progress: Progress | None = None,
        statement_timeout_seconds: float = DEFAULT_STATEMENT_TIMEOUT_SECONDS,
    ) -> PruneReport:
        policy = policy or TablePolicy()
        settings = {name: getattr(policy, name) for name in self.settings}
        now = resolve_time(now, "now")
        limits.check_batch(batch)
        report = PruneReport(job=self.name, dry_run=dry_run, now=now, settings=settings)
        report.deleted.update(dict.fromkeys(self.deletes, 0))
        report.archived.update(dict.fromkeys(self.archives, 0))
        began = time.perf_counter()
        if any(value is not None for value in settings.values()):
            with open_job(
                db, self.name, exclusive=False, statement_timeout_seconds=statement_timeout_seconds
            ) as job:
                step = functools.partial(
                    self.step, policy=policy, now=now, limit=batch, dry_run=dry_run
                )
                job.run_steps([step], report, write=not dry_run, progress=progress)
        report.seconds = time.perf_counter() - began
        return report
