"""The delivery queue in SQL: fan-out, claim, acknowledge, expire, release, renew.

Every function takes a Connection inside a transaction the caller owns, and every state
change is a guarded compare-and-set: a claimed row is only changed by the holder of its
``lock_token`` while it is still ``delivering``, so a relay that outlived its lease (its
claim expired and was taken by another) can no longer acknowledge anything.

Life of a row (one per event and sink)::

    pending ──claim──▶ delivering ──2xx──▶ delivered
       ▲                  │  │ 5xx/408/429/network, or a rejection below the limit
       │                  │  └──────────────▶ retry ──(due)──claim──▶ delivering …
       │                  └─ rejections (or attempts) at the sink's limit ──▶ dead
       └──────────────── redrive (dead or delivered) ◀──────────────────────────┘

    a claim whose lease expires (its relay died) ──▶ retry, due at once (or dead at
    the sink's attempt limit)

Postgres claims with ``FOR UPDATE SKIP LOCKED``: concurrent relays take disjoint rows and
never wait for each other. SQLite has no row locks; its writers are serialised
(``BEGIN IMMEDIATE``), so a claim sees every earlier claim committed — the single-writer
equivalent, also across processes.
"""

import dataclasses
import datetime as dt
import functools
import operator
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from procobs_dagster.delivery.config import BACKOFF_MAX, SinkConfig
from procobs_dagster.delivery.sinks import Delivery, Outcome, OutcomeKind
from procobs_dagster.events.feed import SCAN_WINDOW, OutboxPosition, outbox_span
from procobs_dagster.store.dialect import insert_ignoring_conflicts, is_postgres
from procobs_dagster.store.driver import DriverStatement
from procobs_dagster.store.sql import json_append_bounded, json_object
from procobs_dagster.store.tables import delivery_cursor, delivery_state, event_outbox
from procobs_dagster.store.types import UTCDateTime

CLAIMABLE = ("pending", "retry")
UNDELIVERED = ("pending", "retry", "delivering")
# Errors kept per row (the most recent); attempts and rejections count all of them.
ERRORS_KEPT = 20

ds = delivery_state


def _error_entry(at: Any, kind: Any, error: Any, *, status: Any = None) -> json_object:
    """One element of ``errors``, built in SQL so it can name the row's own attempt: the
    time (ISO 8601 text), kind, error and status, as values or placeholders."""
    return json_object(
        "at",
        at,
        "attempt",
        ds.c.attempts,
        "kind",
        kind,
        "status",
        status,
        "error",
        error,
        # SET expressions read the row as it was: the relay that held the claim.
        "relay",
        ds.c.locked_by,
    )


_RELEASED_LOCK = {"locked_until": None, "locked_by": None, "lock_token": None}


# --- fan-out ---------------------------------------------------------------------------


def _lock_cursor(conn: Connection, sink: str):
    query = sa.select(delivery_cursor).where(delivery_cursor.c.sink == sink)
    if is_postgres(conn):
        query = query.with_for_update(skip_locked=True)
    return conn.execute(query).mappings().first()


def _fresh_rows(
    config: SinkConfig, now: dt.datetime, *conditions, source: sa.FromClause = event_outbox
) -> sa.Select:
    """The pending rows of the sink for the outbox rows (of ``source``: the outbox, or a
    part of it) matching ``conditions``, as a SELECT an INSERT takes whole: fanning out is
    one statement, whatever the page size."""
    o = source.c
    return sa.select(
        o.event_id,
        sa.literal(config.name, sa.Text).label("sink"),
        o.seq,
        o.correlation_id,
        sa.literal("pending", sa.Text).label("state"),
        sa.literal(0, sa.Integer).label("attempts"),
        sa.literal(0, sa.Integer).label("rejections"),
        *(sa.literal(now, ds.c.created_at.type).label(name) for name in _FRESH_TIMES),
    ).where(*conditions)


_FRESH_TIMES = ("next_attempt_at", "created_at", "updated_at")
_FRESH_COLUMNS = (
    "event_id",
    "sink",
    "seq",
    "correlation_id",
    "state",
    "attempts",
    "rejections",
    *_FRESH_TIMES,
)


def _insert(conn: Connection, rows: sa.Select) -> int:
    statement = insert_ignoring_conflicts(conn.dialect.name, ds).from_select(_FRESH_COLUMNS, rows)
    return conn.execute(statement).rowcount


def _committed_ahead(
    conn: Connection, config: SinkConfig, position: OutboxPosition, now: dt.datetime, limit: int
) -> int:
    """Fan out the committed rows past ``position`` that are still above the horizon and
    not yet fanned out to the sink (Postgres): safe to deliver now, not yet to pass.

    Only the first ``SCAN_WINDOW`` rows past ``position`` are looked at. The cursor cannot
    pass the horizon, so while a transaction left open holds it back every fan-out starts
    from the same place, and without a bound would walk every row committed since — rows
    it fanned out already — again on each call, more the longer the transaction stays
    open. Rows beyond the window wait for the horizon to move; none is skipped."""
    o = event_outbox
    ahead = (
        sa.select(o.c.tx_id, o.c.seq, o.c.event_id, o.c.correlation_id, o.c.event_type)
        .where(
            sa.tuple_(o.c.tx_id, o.c.seq)
            > sa.tuple_(
                sa.literal(position.tx_id, sa.BigInteger), sa.literal(position.seq, sa.BigInteger)
            )
        )
        .order_by(o.c.tx_id, o.c.seq)
        .limit(SCAN_WINDOW)
        .subquery("ahead")
    )
    conditions = [~sa.exists().where(ds.c.event_id == ahead.c.event_id, ds.c.sink == config.name)]
    if config.event_types:
        conditions.append(ahead.c.event_type.in_(config.event_types))
    rows = (
        _fresh_rows(config, now, *conditions, source=ahead)
        .order_by(ahead.c.tx_id, ahead.c.seq)
        .limit(limit)
    )
    return _insert(conn, rows)


def fan_out(conn: Connection, config: SinkConfig, *, now: dt.datetime, limit: int) -> int:
    """Create pending rows for up to ``limit`` outbox events past the sink's cursor.

    The cursor follows ``events.feed``: on Postgres it moves along (tx_id, seq) and only
    over rows whose writing transaction is below the snapshot's xmin horizon, so a row
    whose seq was handed out before a later one committed is never skipped; on SQLite
    seq order is commit order. The page is taken as bounds (``feed.outbox_span``) and its
    rows inserted by one INSERT … SELECT: no event travels to Python and back.

    A transaction left open anywhere in the cluster holds that horizon back. So that it
    does not hold delivery back too, rows that have committed past the cursor are fanned
    out at once (they are visible, hence safe to send); the cursor passes them later,
    and ``ON CONFLICT DO NOTHING`` makes the overlap harmless.

    Returns the number of events newly fanned out to this sink (its event_types filter
    applied). Another relay fanning out the same sink makes this one skip the step."""
    cursor = _lock_cursor(conn, config.name)
    if cursor is None:
        conn.execute(
            insert_ignoring_conflicts(conn.dialect.name, delivery_cursor),
            {"sink": config.name, "updated_at": now},
        )
        cursor = _lock_cursor(conn, config.name)
        if cursor is None:
            return 0
    position = OutboxPosition(tx_id=cursor["last_tx_id"], seq=cursor["last_seq"])
    span = outbox_span(conn, position, limit=limit, event_types=config.event_types)
    inserted = _insert(conn, _fresh_rows(config, now, *span.rows)) if span.count else 0
    if is_postgres(conn) and not span.full:
        inserted += _committed_ahead(conn, config, span.next_position, now, limit)
    if span.next_position != position:
        conn.execute(
            delivery_cursor.update()
            .where(
                delivery_cursor.c.sink == config.name,
                delivery_cursor.c.last_tx_id == position.tx_id,
                delivery_cursor.c.last_seq == position.seq,
            )
            .values(
                last_tx_id=span.next_position.tx_id,
                last_seq=span.next_position.seq,
                updated_at=now,
            )
        )
    return inserted


# --- claims ------------------------------------------------------------------------------


# A place in the claim order (``next_attempt_at``, ``seq``): where a claim may start.
ClaimPosition = tuple[dt.datetime, int]


@dataclasses.dataclass(frozen=True)
class Claim:
    """Rows one relay holds until ``locked_until``; only ``token`` can acknowledge them."""

    sink: str
    token: uuid.UUID
    locked_until: dt.datetime
    deliveries: tuple[Delivery, ...]
    # The claim's place in the claim order: the greatest (next_attempt_at, seq) it took
    # (None: it took nothing). The next claim may start after it (``claim``'s ``after``).
    last_taken: "ClaimPosition | None" = None


_OUTBOX_PREFIX = "outbox_"
_CLAIMED = (
    ds.c.event_id,
    ds.c.seq,
    ds.c.correlation_id,
    ds.c.attempts,
    ds.c.rejections,
    ds.c.next_attempt_at,
)
_OUTBOX_NAMES = tuple(c.name for c in event_outbox.c)

# What a statement of the cycle is given at execution. The claim and the acknowledgement
# run every cycle, so each is built once per form with these placeholders (not once per
# call with its values), and on Postgres sent through the driver's cursor: SQLAlchemy's
# work per execution — building the statement, its cache key, the result objects — cost
# the relay several times what the statements cost the server.
_SINK = sa.bindparam("p_sink", type_=sa.Text)
_NOW = sa.bindparam("p_now", type_=UTCDateTime)
_TOKEN = sa.bindparam("p_token", type_=sa.Uuid)


@functools.cache
def _claim_statement(
    ordered: bool, postgres: bool, with_outbox: bool, bounded: bool
) -> DriverStatement:
    """The claim: lock up to ``p_batch`` due rows of ``p_sink``, oldest due first, and
    make them ``delivering`` under ``p_token`` until ``p_until``; returns ``_CLAIMED``
    (and, with ``with_outbox``, the events' outbox rows, Postgres only). ``bounded``
    takes only rows after (``p_after_at``, ``p_after_seq``) in that order."""
    due = (
        sa.select(ds.c.event_id)
        .where(ds.c.sink == _SINK, ds.c.state.in_(CLAIMABLE), ds.c.next_attempt_at <= _NOW)
        .order_by(ds.c.next_attempt_at, ds.c.seq)
        .limit(sa.bindparam("p_batch", type_=sa.Integer))
    )
    if bounded:
        # A row comparison on the claimable index's own columns: the scan starts at the
        # bound, past the entries earlier claims left behind until vacuum removes them.
        due = due.where(
            sa.tuple_(ds.c.next_attempt_at, ds.c.seq)
            > sa.tuple_(
                sa.bindparam("p_after_at", type_=UTCDateTime),
                sa.bindparam("p_after_seq", type_=sa.BigInteger),
            )
        )
    if ordered:
        earlier = ds.alias("earlier")
        due = due.where(
            ~sa.exists().where(
                earlier.c.sink == ds.c.sink,
                earlier.c.correlation_id == ds.c.correlation_id,
                earlier.c.seq < ds.c.seq,
                earlier.c.state.in_(UNDELIVERED),
            )
        )
    if postgres:
        due = due.with_for_update(skip_locked=True, of=ds)
    # Materialised, so the locking subquery runs exactly once whatever plan is chosen.
    due_cte = due.cte("due").prefix_with("MATERIALIZED")
    update = (
        ds.update()
        .where(
            # No state guard here: the rows were re-checked against CLAIMABLE when
            # ``due`` locked them (SQLite: no other writer), and a guard matching the
            # claimable index's predicate lures the planner into scanning that index
            # for every row of the sink instead of looking the claimed rows up by key.
            ds.c.event_id == due_cte.c.event_id,
            ds.c.sink == _SINK,
        )
        .values(
            state="delivering",
            attempts=ds.c.attempts + 1,
            locked_until=sa.bindparam("p_until", type_=UTCDateTime),
            locked_by=sa.bindparam("p_relay", type_=sa.Text),
            lock_token=_TOKEN,
            updated_at=_NOW,
        )
    )
    if with_outbox:
        # Postgres returns the claimed events' outbox rows from the same statement.
        labels = (event_outbox.c[name].label(_OUTBOX_PREFIX + name) for name in _OUTBOX_NAMES)
        update = update.where(event_outbox.c.event_id == ds.c.event_id).returning(
            *_CLAIMED, *labels
        )
    else:
        update = update.returning(*_CLAIMED)
    return DriverStatement(update)


# Delivery's fields, in the order _deliveries gives their values.
_DELIVERY_FIELDS = tuple(f.name for f in dataclasses.fields(Delivery))


def _deliveries(sink: str, claimed: Sequence[tuple], outbox: dict) -> tuple[Delivery, ...]:
    """The claimed rows as deliveries, in seq order.

    Each is filled in directly rather than through the frozen dataclass's ``__init__``
    (an ``object.__setattr__`` per field): a claim builds a hundred per cycle, and that
    cost more than the rest of the claim's client side. Nothing is skipped by it —
    Delivery has no defaults and no ``__post_init__``, and a test holds it to that. The
    rows are unpacked by position: named access on result rows costs more again."""
    new = object.__new__
    deliveries = []
    for event_id, seq, correlation_id, attempts, rejections, *_ in sorted(
        claimed, key=operator.itemgetter(1)
    ):
        delivery = new(Delivery)
        row = outbox.get(event_id) if outbox else None
        values = (event_id, sink, seq, correlation_id, attempts, rejections, row)
        delivery.__dict__.update(zip(_DELIVERY_FIELDS, values, strict=True))
        deliveries.append(delivery)
    return tuple(deliveries)


def claim(
    conn: Connection,
    config: SinkConfig,
    *,
    now: dt.datetime,
    batch: int,
    lease: dt.timedelta,
    relay_id: str,
    token: uuid.UUID | None = None,
    with_events: bool = True,
    after: ClaimPosition | None = None,
) -> Claim:
    """Take up to ``batch`` due rows of the sink: oldest due first, each attempt counted.

    With ``config.ordered`` a row is only due while no earlier event (lower seq) of the
    same correlation_id is still undelivered (pending, retry or delivering) for the sink;
    a dead predecessor no longer holds its successors back. ``token`` lets a second
    claim in the same cycle join the first (one acknowledgement for both). Without
    ``with_events`` the deliveries carry no outbox row (for a sink that reads none).

    With ``after`` (an earlier claim's ``last_taken``) only rows after it in the claim
    order are taken. Rows before it that are due — skipped while another relay held
    them, or committed after that claim with an earlier time — wait for a claim without
    it, so a caller that passes ``after`` must also claim without it regularly (the
    relay does whenever a claim comes back short, and at least once a second)."""
    postgres = is_postgres(conn)
    token = token or uuid.uuid4()
    locked_until = now + lease
    params = {
        "p_sink": config.name,
        "p_now": now,
        "p_batch": batch,
        "p_until": locked_until,
        "p_relay": relay_id,
        "p_token": token,
    }
    if after is not None:
        params["p_after_at"], params["p_after_seq"] = after
    statement = _claim_statement(
        config.ordered, postgres, with_events and postgres, after is not None
    )
    outbox: dict[uuid.UUID, Any] = {}
    if postgres:
        claimed = statement.all(conn, params)
        if with_events:
            start = len(_CLAIMED)
            for row in claimed:
                outbox[row[0]] = dict(zip(_OUTBOX_NAMES, row[start:], strict=True))
    else:
        claimed = conn.execute(statement.statement, params).all()
        if with_events and claimed:
            ids = [c.event_id for c in claimed]
            rows = conn.execute(sa.select(event_outbox).where(event_outbox.c.event_id.in_(ids)))
            outbox = {row["event_id"]: row for row in rows.mappings()}
    deliveries = _deliveries(config.name, claimed, outbox)
    # next_attempt_at and seq, by their place in _CLAIMED (rows are read by position).
    taken = max(((row[5], row[1]) for row in claimed), default=None)
    return Claim(config.name, token, locked_until, deliveries, taken)


# The guard of every change to a claimed row: the claim's own rows (by its token), still
# delivering. Its values are the claim's (``_held_by``), given at execution.
_HELD = sa.and_(ds.c.sink == _SINK, ds.c.lock_token == _TOKEN, ds.c.state == "delivering")


def _held_by(claim_: Claim) -> dict[str, Any]:
    """The values of ``_HELD`` for the rows of ``claim_``."""
    return {"p_sink": claim_.sink, "p_token": claim_.token}


def _held(event_ids: Iterable[uuid.UUID]):
    return sa.and_(_HELD, ds.c.event_id.in_(list(event_ids)))


def renew(
    conn: Connection,
    claim_: Claim,
    event_ids: Sequence[uuid.UUID],
    *,
    now: dt.datetime,
    lease: dt.timedelta,
) -> tuple[Claim, set[uuid.UUID]]:
    """Extend the lease on the rows still held; returns the renewed claim and those rows."""
    locked_until = now + lease
    held = conn.execute(
        ds.update()
        .where(_held(event_ids))
        .values(locked_until=locked_until, updated_at=now)
        .returning(ds.c.event_id),
        _held_by(claim_),
    ).scalars()
    return dataclasses.replace(claim_, locked_until=locked_until), set(held)


def release(
    conn: Connection, claim_: Claim, event_ids: Sequence[uuid.UUID], *, now: dt.datetime
) -> int:
    """Give back rows that were claimed but not attempted: the attempt is not counted and
    they are due at once."""
    if not event_ids:
        return 0
    released = conn.execute(
        ds.update()
        .where(_held(event_ids))
        .values(
            state=sa.case((ds.c.attempts == 1, "pending"), else_="retry"),
            attempts=ds.c.attempts - 1,
            next_attempt_at=now,
            updated_at=now,
            **_RELEASED_LOCK,
        )
        .returning(ds.c.event_id),
        _held_by(claim_),
    ).all()
    return len(released)


@dataclasses.dataclass(frozen=True)
class Acknowledged:
    delivered: int = 0
    retried: int = 0
    rejected: int = 0
    dead: int = 0
    # Outcomes that could not be recorded: the lease had expired and the row was taken.
    lost: int = 0

    def __add__(self, other: "Acknowledged") -> "Acknowledged":
        return Acknowledged(
            **{
                f.name: getattr(self, f.name) + getattr(other, f.name)
                for f in dataclasses.fields(self)
            }
        )


@functools.cache
def _settle_statement(excluding: bool) -> DriverStatement:
    """Settle the claim's rows as delivered; with ``excluding``, all but ``p_others``
    (that form runs through SQLAlchemy, which expands the list; the driver does not)."""
    guard = _HELD
    if excluding:
        others = sa.bindparam("p_others", type_=sa.Uuid, expanding=True)
        guard = sa.and_(guard, ds.c.event_id.not_in(others))
    return DriverStatement(
        ds.update()
        .where(guard)
        .values(state="delivered", delivered_at=_NOW, updated_at=_NOW, **_RELEASED_LOCK)
    )


@functools.cache
def _failure_statement() -> sa.Update:
    """Record one failed attempt of the claim's row ``p_event``: ``p_state`` (retry or
    dead), due at ``p_due``, the error appended to the row's bounded history."""
    error = sa.bindparam("p_error", type_=sa.Text)
    entry = _error_entry(
        sa.bindparam("p_at", type_=sa.Text),
        sa.bindparam("p_kind", type_=sa.Text),
        error,
        status=sa.bindparam("p_status", type_=sa.Integer),
    )
    return (
        ds.update()
        .where(_HELD, ds.c.event_id == sa.bindparam("p_event", type_=sa.Uuid))
        .values(
            state=sa.bindparam("p_state", type_=sa.Text),
            rejections=sa.bindparam("p_rejections", type_=sa.Integer),
            next_attempt_at=sa.bindparam("p_due", type_=UTCDateTime),
            last_error=error,
            errors=json_append_bounded(ds.c.errors, entry, ERRORS_KEPT),
            updated_at=_NOW,
            **_RELEASED_LOCK,
        )
        .returning(ds.c.event_id)
    )


def _delay(seconds: float) -> dt.timedelta:
    """A retry's delay as a timedelta: whatever number it is, within [0, BACKOFF_MAX], so
    the due time it gives is always a valid datetime."""
    if not 0.0 <= seconds <= BACKOFF_MAX:  # also NaN
        seconds = 0.0 if seconds < 0 else BACKOFF_MAX
    return dt.timedelta(seconds=seconds)


def acknowledge(
    conn: Connection,
    claim_: Claim,
    outcomes: Sequence[tuple[Delivery, Outcome]],
    *,
    config: SinkConfig,
    now: dt.datetime,
    delays: dict[uuid.UUID, float],
) -> Acknowledged:
    """Record the outcome of each attempted delivery of the claim.

    Delivered rows are settled in one statement. A failure moves its row to retry, due
    after ``delays[event_id]`` seconds, or to dead when the row reaches the sink's limit
    (``dead_after_rejections`` rejections, or ``dead_after_attempts`` attempts)."""
    delivered_ids = {d.event_id for d, o in outcomes if o.kind is OutcomeKind.DELIVERED}
    delivered = 0
    held = {**_held_by(claim_), "p_now": now}
    if delivered_ids:
        # Named by what is NOT delivered: when a whole batch went through (the usual
        # case) the statement carries no id list at all, and on Postgres goes through
        # the driver.
        others = [d.event_id for d in claim_.deliveries if d.event_id not in delivered_ids]
        if others:
            settle = _settle_statement(excluding=True).statement
            delivered = conn.execute(settle, {**held, "p_others": others}).rowcount
        elif is_postgres(conn):
            delivered = _settle_statement(excluding=False).rowcount(conn, held)
        else:
            delivered = conn.execute(_settle_statement(excluding=False).statement, held).rowcount
    counts = {"retried": 0, "rejected": 0, "dead": 0}
    lost = len(delivered_ids) - delivered
    for delivery, outcome in outcomes:
        if outcome.kind is OutcomeKind.DELIVERED:
            continue
        rejected = outcome.kind is OutcomeKind.REJECTED
        rejections = delivery.rejections + rejected
        dead = rejections >= config.dead_after_rejections or (
            config.dead_after_attempts is not None
            and delivery.attempt >= config.dead_after_attempts
        )
        error = outcome.error or outcome.kind.value
        due = now if dead else now + _delay(delays[delivery.event_id])
        changed = conn.execute(
            _failure_statement(),
            {
                **held,
                "p_event": delivery.event_id,
                "p_state": "dead" if dead else "retry",
                "p_rejections": rejections,
                "p_due": due,
                "p_error": error,
                "p_at": now.isoformat(),
                "p_kind": outcome.kind.value,
                "p_status": outcome.status_code,
            },
        ).first()
        if changed is None:
            lost += 1
            continue
        counts["rejected"] += rejected
        counts["dead" if dead else "retried"] += 1
    return Acknowledged(delivered=delivered, lost=lost, **counts)


def expire_leases(conn: Connection, config: SinkConfig, *, now: dt.datetime) -> Acknowledged:
    """Take back claims whose lease ran out (their relay died or stalled): due again at
    once, or dead if the row has used the sink's ``dead_after_attempts``."""
    message = "lease expired before the outcome was recorded (relay stopped or stalled)"
    at_limit = (
        ds.c.attempts >= config.dead_after_attempts
        if config.dead_after_attempts is not None
        else sa.false()
    )
    expired = [ds.c.sink == config.name, ds.c.state == "delivering", ds.c.locked_until <= now]
    # A claim whose outcome its relay is recording right now is passed over, not waited
    # for: the recording's UPDATE and this one would otherwise lock the same rows in
    # different orders and one of the two relays would die in a deadlock. Its lease is
    # taken back on a later pass if the recording does not end it.
    taken = sa.select(ds.c.event_id, ds.c.sink).where(*expired)
    if is_postgres(conn):
        taken = taken.with_for_update(skip_locked=True)
    rows = conn.execute(
        ds.update()
        .where(sa.tuple_(ds.c.event_id, ds.c.sink).in_(taken), *expired)
        .values(
            state=sa.case((at_limit, "dead"), else_="retry"),
            next_attempt_at=now,
            last_error=message,
            errors=json_append_bounded(
                ds.c.errors, _error_entry(now.isoformat(), "lease_expired", message), ERRORS_KEPT
            ),
            updated_at=now,
            **_RELEASED_LOCK,
        )
        .returning(ds.c.state)
    ).scalars()
    states = list(rows)
    return Acknowledged(retried=states.count("retry"), dead=states.count("dead"))
