"""Batch jobs: one connection for the whole job, a short committed transaction per
batch, a statement timeout, an optional exclusive lock, and progress reports. Retention,
the sweeps and the table retention of ``maintenance`` run through it, and so does
``delivery``'s redrive of every dead delivery.

A job works in bounded batches, each committed on its own, so no lock is held for
longer than one batch and a job killed between batches loses nothing: a rerun picks up
what is left.

Postgres: each batch runs under ``SET LOCAL statement_timeout`` (via ``set_config``), so
a batch that waits on a lock or runs away is cancelled and rolled back instead of hanging
(``BatchTimeout``). An exclusive job holds a session-level advisory lock
(``pg_try_advisory_lock``) for its whole run: a second job of the same kind finds the lock
taken and does nothing, and the lock goes away with the session if the process dies.

SQLite has a single writer: each batch takes the write lock up front (``BEGIN
IMMEDIATE``), so two jobs' batches never overlap, and waiting for the lock is bounded by
the busy timeout (``store.engine.SQLITE_BUSY_TIMEOUT_MS``). That is the whole of the
SQLite counterpart: two sweeps may alternate batches, and the compare-and-set on every
status change keeps a run from being judged twice.
"""

import contextlib
import dataclasses
import hashlib
import time
import uuid
from collections.abc import Callable, Hashable, Iterable, Iterator
from typing import Protocol, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from procobs_dagster.errors import InvalidInput, ProcobsError
from procobs_dagster.store.dialect import is_postgres
from procobs_dagster.store.engine import Database

DEFAULT_BATCH = 500
DEFAULT_STATEMENT_TIMEOUT_SECONDS = 30.0
_QUERY_CANCELED = "57014"  # SQLSTATE of a statement cancelled by statement_timeout


class BatchTimeout(ProcobsError):
    """A batch ran into the statement timeout; it was rolled back and the job stopped."""


@dataclasses.dataclass(frozen=True)
class BatchProgress:
    """Reported after each committed batch (or each counted batch of a dry run)."""

    job: str
    batch: int
    counts: dict[str, int]
    seconds: float
    # The batch itself, for a caller that wants more than its counts (redrive's callers
    # read the deliveries it redrove); None where no batch stands behind the line.
    result: "BatchResult | None" = None


Progress = Callable[[BatchProgress], None]


class BatchResult(Protocol):
    @property
    def last_key(self) -> Hashable | None:
        """The highest key the batch examined (a uuid, or a tuple for a composite key);
        None when nothing was left to examine."""

    def counts(self) -> dict[str, int]: ...


Result = TypeVar("Result", bound=BatchResult)


class JobReport(Protocol[Result]):
    """What a job reports: every batch added up, the batches run and the longest."""

    batches: int
    longest_batch_seconds: float

    def add(self, batch: Result, /) -> None: ...


def claim(
    conn: Connection,
    query: sa.Select,
    key: sa.ColumnElement,
    *,
    of: sa.FromClause,
    after: uuid.UUID | None,
    limit: int,
    lock: bool = True,
    deleting: bool = True,
) -> list[sa.Row]:
    """The next ``limit`` rows of ``query`` after key ``after``, in key order. With
    ``lock``, the rows of ``of`` are locked for this transaction and rows another
    transaction holds are skipped, not waited for (Postgres ``FOR UPDATE SKIP LOCKED``;
    SQLite's writer already holds the whole database). Rows the batch does not delete
    (``deleting`` false: a sweep changes their status) are locked ``FOR NO KEY UPDATE``
    instead, as the ledger's own moves lock them: a row written meanwhile that refers to
    one of them (a new step of a run being judged, whose foreign key takes ``KEY SHARE``)
    is not held up for the batch."""
    if after is not None:
        query = query.where(key > after)
    query = query.order_by(key).limit(limit)
    if lock:
        query = query.with_for_update(of=of, skip_locked=True, key_share=not deleting)
    return list(conn.execute(query))


def advisory_key(name: str) -> int:
    """A stable signed 64-bit advisory lock key for a job name."""
    digest = hashlib.sha256(f"procobs:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class Job:
    """One batch job on one connection; ``batch()`` opens each short transaction."""

    def __init__(self, conn: Connection, name: str, statement_timeout_seconds: float):
        self.conn = conn
        self.name = name
        self.statement_timeout_seconds = statement_timeout_seconds
        self.batches = 0
        self.longest_batch_seconds = 0.0

    @property
    def dialect(self) -> str:
        return self.conn.dialect.name

    @contextlib.contextmanager
    def batch(self, *, write: bool = True) -> Iterator[Connection]:
        """A transaction for one batch: committed when the block ends, rolled back if it
        raises. On Postgres its statements are cancelled past the statement timeout."""
        conn = self.conn.execution_options(sqlite_begin="IMMEDIATE" if write else "DEFERRED")
        try:
            with conn.begin():
                if self.dialect == "postgresql":
                    milliseconds = max(1, round(self.statement_timeout_seconds * 1000))
                    conn.execute(
                        sa.select(sa.func.set_config("statement_timeout", str(milliseconds), True))
                    )
                yield conn
        except sa.exc.OperationalError as exc:
            if getattr(exc.orig, "pgcode", None) == _QUERY_CANCELED:
                raise BatchTimeout(
                    f"{self.name}: a statement ran past the {self.statement_timeout_seconds:g} s "
                    "statement timeout; the batch was rolled back"
                ) from None
            raise

    def run_batches(
        self,
        step: Callable[..., Result],
        *,
        write: bool = True,
        progress: Progress | None = None,
    ) -> Iterator[Result]:
        """Run ``step(conn, after=key)`` in one transaction per batch, in key order (each
        batch starts after the last key of the one before), until a batch finds nothing."""
        after = None
        while True:
            started = time.perf_counter()
            with self.batch(write=write) as conn:
                result = step(conn, after=after)
            if result.last_key is None:
                return
            after = result.last_key
            seconds = time.perf_counter() - started
            self.batches += 1
            self.longest_batch_seconds = max(self.longest_batch_seconds, seconds)
            if progress is not None:
                progress(BatchProgress(self.name, self.batches, result.counts(), seconds, result))
            yield result

    def run_steps(
        self,
        steps: Iterable[Callable[..., Result]],
        report: "JobReport[Result]",
        *,
        write: bool = True,
        progress: Progress | None = None,
    ) -> None:
        """Run each step's batches in turn (``run_batches``), adding every batch to
        ``report``, then record in it the batches run and the longest."""
        for step in steps:
            for result in self.run_batches(step, write=write, progress=progress):
                report.add(result)
        report.batches = self.batches
        report.longest_batch_seconds = self.longest_batch_seconds


@contextlib.contextmanager
def open_job(
    db: Database,
    name: str,
    *,
    exclusive: bool,
    statement_timeout_seconds: float = DEFAULT_STATEMENT_TIMEOUT_SECONDS,
) -> Iterator[Job | None]:
    """A connection for the whole job. With ``exclusive``, yields None (and does nothing)
    when another session already runs a job of this name (Postgres advisory lock)."""
    if statement_timeout_seconds <= 0:
        raise InvalidInput(
            f"statement timeout must be positive, got {statement_timeout_seconds:g} s"
        )
    with db.connect() as conn:
        job = Job(conn, name, statement_timeout_seconds)
        if not exclusive or not is_postgres(conn):
            yield job
            return
        key = advisory_key(name)
        with conn.begin():
            acquired = conn.execute(sa.select(sa.func.pg_try_advisory_lock(key))).scalar_one()
        if not acquired:
            yield None
            return
        try:
            yield job
        finally:
            try:
                with conn.begin():
                    conn.execute(sa.select(sa.func.pg_advisory_unlock(key)))
            except sa.exc.DBAPIError:
                # A session that cannot unlock must not go back to the pool holding the lock.
                conn.invalidate()
