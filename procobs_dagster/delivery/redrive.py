"""Redrive: send deliveries again.

Named events (``redrive``) are redriven in the caller's one transaction: their number is
bounded (``MAX_REDRIVE_IDS``). Every dead delivery (``redrive_dead``) may be millions of
rows, so it goes in bounded batches, each its own committed transaction, run as a
``store.batches`` job like maintenance's (on Postgres each batch is cancelled and rolled
back past the statement timeout instead of hanging on a lock): a batch takes
the next ``batch`` dead rows in key order after the last key of the batch before, read
from ``ix_delivery_state_dead``, which holds only dead rows, so the delivered history
before a sink's outage is never read through. On Postgres it locks them ``FOR UPDATE SKIP
LOCKED``: a row another redrive or the retention holds is left for a later run, not
waited for (a relay never holds a dead row: the row it turns dead is seen dead only once
the relay has committed). The batch makes them pending with a guarded
compare-and-set (``WHERE state = 'dead'``), and records itself in the audit log in the
same transaction. So the audit log holds exactly what was committed, whenever the run
stops: an interrupted run leaves its committed batches redriven (and audited) and rolls
back only the batch in flight; running it again redrives the dead rows still left. The
walk only moves forward, so a delivery that dies again while the run goes on (a sink
still refusing) is not redriven twice by the same run.
"""

import dataclasses
import datetime as dt
import time
import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from procobs_dagster import limits
from procobs_dagster.clock import utcnow
from procobs_dagster.errors import InvalidInput, NotFound
from procobs_dagster.events import audit
from procobs_dagster.ids import parse_uuid, uuid7
from procobs_dagster.store.batches import DEFAULT_STATEMENT_TIMEOUT_SECONDS, Progress, open_job
from procobs_dagster.store.dialect import among_pairs
from procobs_dagster.store.engine import Database
from procobs_dagster.store.tables import delivery_state
from procobs_dagster.store.types import StoredUuid

ds = delivery_state
REDRIVABLE = ("dead", "delivered")
# Event ids one redrive may name: one transaction, one IN list.
MAX_REDRIVE_IDS = 1_000
DEFAULT_REDRIVE_BATCH = 500
# The batch job's name: in progress lines and in a statement timeout's message.
REDRIVE_JOB = "relay redrive"
# Deliveries named in one audit record (the count is always whole).
AUDITED_DELIVERIES = 100

# What a redriven row becomes: pending, due now, fresh counts, no claim; errors kept.
_PENDING_AGAIN = dict(
    state="pending",
    attempts=0,
    rejections=0,
    delivered_at=None,
    locked_until=None,
    locked_by=None,
    lock_token=None,
)


@dataclasses.dataclass(frozen=True)
class Redriven:
    redriven: list[tuple[uuid.UUID, str]]
    # (event_id, sink, state) of named deliveries left alone: still on their way.
    skipped: list[tuple[uuid.UUID, str, str]]

    def as_dict(self) -> dict[str, Any]:
        return {
            "redriven": [{"event_id": str(e), "sink": s} for e, s in self.redriven],
            "skipped": [{"event_id": str(e), "sink": s, "state": st} for e, s, st in self.skipped],
        }


def _check_sink(conn: Connection, sink: str | None) -> list[sa.ColumnElement[bool]]:
    """The condition limiting a redrive to ``sink``; a sink with no delivery at all (a
    misspelt name) is refused, as it would otherwise "redrive" nothing and report success."""
    if sink is None:
        return []
    if conn.execute(sa.select(ds.c.sink).where(ds.c.sink == sink).limit(1)).first() is None:
        names = conn.execute(
            sa.select(ds.c.sink).distinct().order_by(ds.c.sink).limit(20)
        ).scalars()
        listed = ", ".join(limits.shown(n) for n in names)
        known = f"sinks with deliveries: {listed}" if listed else "no sink has deliveries yet"
        raise NotFound(f"no delivery to sink {limits.shown(sink)} at all ({known})")
    return [ds.c.sink == sink]


def _audit(
    conn: Connection,
    redriven: list[tuple[uuid.UUID, str]],
    *,
    actor: str,
    at: dt.datetime,
    **details: Any,
) -> None:
    audit.record(
        conn,
        actor=actor,
        action="delivery.redriven",
        event_id=redriven[0][0] if len(redriven) == 1 else None,
        details={
            "count": len(redriven),
            **details,
            "deliveries": [
                {"event_id": str(e), "sink": s} for e, s in redriven[:AUDITED_DELIVERIES]
            ],
        },
        at=at,
    )


def redrive(
    conn: Connection,
    event_ids: Sequence["str | uuid.UUID"],
    *,
    sink: str | None = None,
    actor: str = "procobs",
    now: dt.datetime | None = None,
) -> Redriven:
    """Send the named events' dead or already delivered deliveries (a replay) again, in
    the caller's transaction. They become pending, due now, with their attempt and
    rejection counts reset; their error history is kept. Deliveries still on their way
    (pending, retry, delivering) are left alone and reported as skipped.

    At most ``MAX_REDRIVE_IDS`` ids (``redrive_dead`` redrives every dead delivery). An
    event id with no delivery (for ``sink``) is an error and nothing is redriven. The
    redrive is recorded in the audit log under ``actor``."""
    if not event_ids:
        raise InvalidInput("redrive needs event ids (redrive_dead redrives every dead delivery)")
    if len(event_ids) > MAX_REDRIVE_IDS:
        raise InvalidInput(
            f"at most {MAX_REDRIVE_IDS:,} event ids per redrive, got {len(event_ids):,}"
        )
    actor = limits.check_name(actor, "actor")
    now = now or utcnow()
    ids = [parse_uuid(e, "event_id") for e in event_ids]
    scope = _check_sink(conn, sink)
    found = conn.execute(
        sa.select(ds.c.event_id, ds.c.sink, ds.c.state).where(ds.c.event_id.in_(ids), *scope)
    ).all()
    missing = sorted(set(ids) - {row.event_id for row in found}, key=str)
    if missing:
        where = f" for sink {limits.shown(sink)}" if sink is not None else ""
        raise NotFound(f"no delivery of event {missing[0]}{where}")
    skipped = [tuple(r) for r in found if r.state not in REDRIVABLE]
    redriven = [
        (row.event_id, row.sink)
        for row in conn.execute(
            ds.update()
            .where(ds.c.event_id.in_(ids), ds.c.state.in_(REDRIVABLE), *scope)
            .values(**_PENDING_AGAIN, next_attempt_at=now, updated_at=now)
            .returning(ds.c.event_id, ds.c.sink)
        )
    ]
    if redriven:
        _audit(conn, redriven, actor=actor, at=now, all_dead=False, sink=sink)
    return Redriven(redriven, skipped)


Key = tuple[uuid.UUID, str]


@dataclasses.dataclass(frozen=True)
class RedriveBatch:
    """One committed batch of ``redrive_dead``."""

    number: int
    redriven: list[Key]
    # The highest key the batch took; None when no dead row was left after the last.
    last_key: Key | None

    def counts(self) -> dict[str, int]:
        return {"redriven": len(self.redriven)}


@dataclasses.dataclass
class RedriveReport:
    """A ``redrive_dead`` run: every batch's audit record carries its ``redrive_id``."""

    redrive_id: uuid.UUID
    sink: str | None
    batch_size: int
    redriven_count: int = 0
    batches: int = 0
    longest_batch_seconds: float = 0.0
    seconds: float = 0.0

    def add(self, batch: RedriveBatch, /) -> None:
        self.redriven_count += len(batch.redriven)

    def as_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "redrive_id": str(self.redrive_id)}


def next_dead(
    dialect: str, *, sink: str | None = None, after: Key | None = None, limit: int
) -> sa.Select:
    """The keys of the next ``limit`` dead deliveries (of ``sink``) after key ``after``, in
    (event_id, sink) order: the order of ``ix_delivery_state_dead``, which holds the dead
    rows alone. Locked on Postgres, skipping rows locked already."""
    key = (ds.c.event_id, ds.c.sink)
    taken = sa.select(*key).where(ds.c.state == "dead")
    if sink is not None:
        taken = taken.where(ds.c.sink == sink)
    if after is not None:
        taken = taken.where(
            sa.tuple_(*key) > sa.tuple_(sa.literal(after[0], StoredUuid), sa.literal(after[1]))
        )
    taken = taken.order_by(*key).limit(limit)
    if dialect == "postgresql":
        taken = taken.with_for_update(of=ds, skip_locked=True)
    return taken


def redrive_dead_batch(
    conn: Connection,
    *,
    redrive_id: uuid.UUID,
    number: int,
    sink: str | None = None,
    after: Key | None = None,
    limit: int = DEFAULT_REDRIVE_BATCH,
    actor: str = "procobs",
    now: dt.datetime,
) -> RedriveBatch:
    """One batch, in the caller's transaction: the next ``limit`` dead deliveries (of
    ``sink``) after key ``after`` in (event_id, sink) order, locked, made pending, and
    the batch audited as batch ``number`` of run ``redrive_id``."""
    dialect = conn.dialect.name
    # In the database's order: the last is where the next batch starts.
    keys = [
        (row.event_id, row.sink)
        for row in conn.execute(next_dead(dialect, sink=sink, after=after, limit=limit))
    ]
    if not keys:
        return RedriveBatch(number, [], None)
    redriven = [
        (row.event_id, row.sink)
        for row in conn.execute(
            ds.update()
            .where(
                among_pairs(ds.c.sink, ds.c.event_id, [(s, e) for e, s in keys], dialect),
                ds.c.state == "dead",  # compare-and-set: only what is still dead
            )
            .values(**_PENDING_AGAIN, next_attempt_at=now, updated_at=now)
            .returning(ds.c.event_id, ds.c.sink)
        )
    ]
    if redriven:
        _audit(
            conn,
            redriven,
            actor=actor,
            at=now,
            all_dead=True,
            sink=sink,
            redrive_id=str(redrive_id),
            batch_number=number,
        )
    return RedriveBatch(number, redriven, keys[-1])


def redrive_dead(
    db: Database,
    *,
    sink: str | None = None,
    actor: str = "procobs",
    batch: int = DEFAULT_REDRIVE_BATCH,
    now: dt.datetime | None = None,
    progress: Progress | None = None,
    statement_timeout_seconds: float = DEFAULT_STATEMENT_TIMEOUT_SECONDS,
) -> RedriveReport:
    """Send every dead delivery (of ``sink``) again, ``batch`` rows per committed
    transaction, each batch with its own audit record under ``actor`` (see the module's
    docstring for an interrupted run). ``progress`` is called after each batch, as every
    batch job calls it (``BatchProgress``; its ``result`` is the ``RedriveBatch``). Each
    batch is stamped with ``now`` if given, else with the time it runs.

    The batches run as a ``store.batches`` job: on Postgres each is cancelled and rolled
    back past ``statement_timeout_seconds`` (``BatchTimeout``; the batches before it stay
    committed)."""
    actor = limits.check_name(actor, "actor")
    limits.check_batch(batch)
    report = RedriveReport(redrive_id=uuid7(), sink=sink, batch_size=batch)
    began = time.perf_counter()
    # Not exclusive: two redrives at once are safe without the advisory lock. Each batch
    # locks its rows FOR UPDATE SKIP LOCKED on Postgres (one redrive skips what the other
    # holds; on SQLite the single writer takes their batches in turn) and makes them
    # pending only WHERE state = 'dead', so a row is redriven once, by whichever gets it;
    # a second operator's redrive should take what is left, not be turned away.
    with open_job(
        db, REDRIVE_JOB, exclusive=False, statement_timeout_seconds=statement_timeout_seconds
    ) as job:
        assert job is not None  # only an exclusive job can find its lock taken
        # Under the statement timeout too: a table locked by someone else cannot hang it.
        with job.batch(write=False) as conn:
            _check_sink(conn, sink)

        def step(conn: Connection, *, after: Key | None) -> RedriveBatch:
            return redrive_dead_batch(
                conn,
                redrive_id=report.redrive_id,
                number=job.batches + 1,
                sink=sink,
                after=after,
                limit=batch,
                actor=actor,
                now=now or utcnow(),
            )

        job.run_steps([step], report, progress=progress)
    report.seconds = time.perf_counter() - began
    return report
