"""Reading ``event_outbox`` in commit order, so a reader's cursor never skips a late commit.

An outbox row gets its ``seq`` when it is inserted, not when its transaction commits. A
transaction that took seq 10 can commit after one that took seq 11; a reader that had
already moved its cursor past 11 would never see 10. The feed avoids that:

- **PostgreSQL**: every row carries the id of the transaction that wrote it (``tx_id``,
  filled by the column default ``pg_current_xact_id()``). A reader first takes the horizon
  ``pg_snapshot_xmin(pg_current_snapshot())``: every transaction with a smaller id has
  committed or aborted, and no new one can get a smaller id. The feed only returns rows
  below that horizon, in ``(tx_id, seq)`` order, and the cursor is the last ``(tx_id, seq)``
  returned. A row of a transaction still running is simply not read yet. The price: a
  long-running writing transaction holds the horizon back (the feed waits for it).
- **SQLite**: writers are serialised (``BEGIN IMMEDIATE``), so seq order is commit order
  and the cursor is the last seq.

Every query is bounded by ``limit`` and walks the ``(tx_id, seq)`` index; a filtered one
(a lane, event types) looks at no more than ``SCAN_WINDOW`` committed rows per call, so a
sparse filter over a long backlog moves on by a window at a time instead of walking all of
it. Database errors propagate: a reader never advances its cursor past rows it could not
read.
"""

import dataclasses
import datetime as dt
import json
import uuid
from collections.abc import Collection, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from procobs_dagster import limits
from procobs_dagster.errors import InvalidInput, NotFound
from procobs_dagster.ids import parse_uuid
from procobs_dagster.store.dialect import is_postgres
from procobs_dagster.store.sql import visible_txid_horizon
from procobs_dagster.store.tables import event_outbox, event_type_registry

MAX_PAGE = 100_000
# Committed rows a filtered read looks at, at most, per call (see _Read.page).
SCAN_WINDOW = 100_000


@dataclasses.dataclass(frozen=True, order=True)
class OutboxPosition:
    """A place in the feed: everything at or before it has been read.

    ``tx_id`` is the writing transaction on Postgres and 0 on SQLite, where seq alone
    orders commits."""

    tx_id: int = 0
    seq: int = 0

    def encode(self) -> str:
        return json.dumps({"tx_id": self.tx_id, "seq": self.seq}, sort_keys=True)

    @classmethod
    def decode(cls, text: str | None) -> "OutboxPosition":
        """The position stored by :meth:`encode`; no text means the start of the outbox."""
        if not text:
            return cls()
        try:
            raw = json.loads(text)
            position = cls(tx_id=raw["tx_id"], seq=raw["seq"])
        except (ValueError, TypeError, KeyError):
            raise InvalidInput(f"malformed outbox position: {limits.shown(text)}") from None
        # Set by hand (dagster sensor cursor --set), a position past 64 bits reached the
        # query: an OverflowError on SQLite, bigint out of range on PostgreSQL.
        if not all(
            type(v) is int and 0 <= v <= limits.MAX_JSON_INTEGER
            for v in (position.tx_id, position.seq)
        ):
            raise InvalidInput(f"malformed outbox position: {limits.shown(text)}")
        return position


START = OutboxPosition()


@dataclasses.dataclass(frozen=True)
class OutboxEntry:
    """One outbox row as a feed reader needs it (the payload stays in the table)."""

    position: OutboxPosition
    event_id: uuid.UUID
    event_type: str
    correlation_id: str
    process_run_id: uuid.UUID | None


@dataclasses.dataclass(frozen=True)
class OutboxPage:
    """Rows after a position, in commit order, and the position to resume from.

    ``next_position`` moves past the returned rows and, when the page is not full, past
    every committed row the filter did not want, so a sparse filter does not rescan them.
    """

    entries: tuple[OutboxEntry, ...]
    next_position: OutboxPosition
    full: bool  # the page hit its limit: more matching rows may follow at once


def _after(position: OutboxPosition, postgres: bool) -> sa.ColumnElement[bool]:
    if postgres:
        return sa.tuple_(event_outbox.c.tx_id, event_outbox.c.seq) > sa.tuple_(
            sa.literal(position.tx_id, sa.BigInteger), sa.literal(position.seq, sa.BigInteger)
        )
    return event_outbox.c.seq > position.seq


def _at_or_before(position: OutboxPosition, postgres: bool) -> sa.ColumnElement[bool]:
    if postgres:
        return sa.tuple_(event_outbox.c.tx_id, event_outbox.c.seq) <= sa.tuple_(
            sa.literal(position.tx_id, sa.BigInteger), sa.literal(position.seq, sa.BigInteger)
        )
    return event_outbox.c.seq <= position.seq


def _order(postgres: bool, descending: bool = False) -> list[sa.ColumnElement]:
    columns = [event_outbox.c.tx_id, event_outbox.c.seq] if postgres else [event_outbox.c.seq]
    return [c.desc() for c in columns] if descending else list(columns)


def _position(row, postgres: bool) -> OutboxPosition:
    return OutboxPosition(tx_id=row.tx_id if postgres else 0, seq=row.seq)


def _filters(
    event_type: sa.ColumnElement[str], event_types: Collection[str] | None, lane: str | None
) -> list[sa.ColumnElement[bool]]:
    """What a reader wants of the committed rows, on the event_type column given."""
    filters = []
    if event_types is not None:
        filters.append(event_type.in_(list(event_types)))
    if lane is not None:
        filters.append(
            event_type.in_(
                sa.select(event_type_registry.c.event_type).where(
                    event_type_registry.c.lane == lane
                )
            )
        )
    return filters


@dataclasses.dataclass(frozen=True, eq=False)  # its conditions are SQL, not values
class _Read:
    """One page's read: the committed rows after the position (``visible``) and the
    filters, with one horizon for every statement of the page (on Postgres): taken from
    a later snapshot it could admit a row an earlier statement never saw, and the cursor
    would pass it."""

    postgres: bool
    after: OutboxPosition
    visible: list[sa.ColumnElement[bool]]
    event_types: Collection[str] | None
    lane: str | None

    @classmethod
    def start(
        cls,
        conn: Connection,
        after: OutboxPosition,
        event_types: Collection[str] | None,
        lane: str | None,
    ) -> "_Read":
        postgres = is_postgres(conn)
        visible = [_after(after, postgres)]
        if postgres:
            horizon = conn.execute(sa.select(visible_txid_horizon())).scalar_one()
            visible.append(event_outbox.c.tx_id < horizon)
        return cls(postgres, after, visible, event_types, lane)

    @property
    def filtered(self) -> bool:
        return self.event_types is not None or self.lane is not None

    def filters(self, event_type: sa.ColumnElement[str]) -> list[sa.ColumnElement[bool]]:
        return _filters(event_type, self.event_types, self.lane)

    def page(self, names: Sequence[str], limit: int) -> sa.Select:
        """The first ``limit`` wanted rows in commit order. A filtered page looks at no
        more than SCAN_WINDOW committed rows: a sparse filter (a lane, a sink's event
        types) over a long backlog would otherwise walk all of it in one statement. The
        window is read lazily, so a dense filter stops after about ``limit`` rows."""
        order = _order(self.postgres)
        if not self.filtered:
            columns = [event_outbox.c[name] for name in names]
            return sa.select(*columns).where(*self.visible).order_by(*order).limit(limit)
        wanted = {*names, "tx_id", "seq", "event_type"}
        window = (
            sa.select(*(c for c in event_outbox.c if c.name in wanted))
            .where(*self.visible)
            .order_by(*order)
            .limit(SCAN_WINDOW)
            .subquery("window")
        )
        return (
            sa.select(*(window.c[name] for name in names))
            .where(*self.filters(window.c.event_type))
            .order_by(*(window.c[c.name] for c in order))
            .limit(limit)
        )

    def resume(self, conn: Connection, last: OutboxPosition | None, full: bool) -> OutboxPosition:
        """Where the next page starts: past the page's last row; when a filtered page is
        not full, past every committed row it looked at, wanted or not — the end of the
        window, or the last committed row when fewer remain."""
        if full or not self.filtered:
            return last or self.after
        query = sa.select(event_outbox.c.tx_id, event_outbox.c.seq).where(*self.visible)
        row = conn.execute(
            query.order_by(*_order(self.postgres)).offset(SCAN_WINDOW - 1).limit(1)
        ).first()
        if row is None:
            row = conn.execute(
                query.order_by(*_order(self.postgres, descending=True)).limit(1)
            ).first()
        return self.after if row is None else _position(row, self.postgres)


def _check_limit(limit: int) -> None:
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(f"limit must be between 1 and {MAX_PAGE}, got {limit}")


def read_outbox(
    conn: Connection,
    after: OutboxPosition,
    *,
    limit: int,
    event_types: Collection[str] | None = None,
    lane: str | None = None,
) -> OutboxPage:
    """Up to ``limit`` committed outbox rows after ``after``, in commit order.

    ``event_types`` and ``lane`` (``event_type_registry.lane``, e.g. ``immediate``)
    narrow the rows returned; the position still moves over the rows they skip.
    """
    _check_limit(limit)
    read = _Read.start(conn, after, event_types, lane)
    columns = ("tx_id", "seq", "event_id", "event_type", "correlation_id", "process_run_id")
    rows = conn.execute(read.page(columns, limit)).all()
    entries = tuple(
        OutboxEntry(
            position=_position(row, read.postgres),
            event_id=row.event_id,
            event_type=row.event_type,
            correlation_id=row.correlation_id,
            process_run_id=row.process_run_id,
        )
        for row in rows
    )
    full = len(entries) == limit
    last = entries[-1].position if entries else None
    return OutboxPage(entries, read.resume(conn, last, full), full=full)


@dataclasses.dataclass(frozen=True, eq=False)  # its conditions are SQL, not values
class OutboxSpan:
    """A page of the feed named by its bounds instead of its rows, for a reader that acts
    on the rows in SQL (the relay's fan-out inserts them with one INSERT … SELECT).

    ``rows`` are the conditions that select exactly the page's wanted rows: those in
    (``after``, ``last``], filtered. No row can join that range later: on Postgres every
    row in it was written by a transaction below the horizon, on SQLite seq order is
    commit order."""

    after: OutboxPosition
    last: OutboxPosition | None  # the page's last wanted row; None: the page is empty
    count: int
    next_position: OutboxPosition
    full: bool
    rows: tuple[sa.ColumnElement[bool], ...]


def outbox_span(
    conn: Connection,
    after: OutboxPosition,
    *,
    limit: int,
    event_types: Collection[str] | None = None,
) -> OutboxSpan:
    """The page :func:`read_outbox` would return, as bounds: one bounded index walk that
    returns a single row (the last position and the count), however long the page."""
    _check_limit(limit)
    read = _Read.start(conn, after, event_types, None)
    postgres = read.postgres
    page = read.page(("tx_id", "seq"), limit).subquery("page")
    columns = [page.c.tx_id, page.c.seq] if postgres else [page.c.seq]
    row = conn.execute(
        sa.select(page.c.tx_id, page.c.seq, sa.func.count().over().label("count"))
        .order_by(*(c.desc() for c in columns))
        .limit(1)
    ).first()
    count = row.count if row is not None else 0
    last = _position(row, postgres) if row is not None else None
    full = count == limit
    rows = (
        (
            _after(after, postgres),
            _at_or_before(last, postgres),
            *read.filters(event_outbox.c.event_type),
        )
        if last is not None
        else (sa.false(),)
    )
    return OutboxSpan(
        after=after,
        last=last,
        count=count,
        next_position=read.resume(conn, last, full),
        full=full,
        rows=rows,
    )


@dataclasses.dataclass(frozen=True)
class OutboxEvent:
    """An outbox row with its registry classification, for whoever acts on the event."""

    seq: int
    event_id: uuid.UUID
    event_type: str
    lane: str
    severity: str
    correlation_id: str
    process_run_id: uuid.UUID | None
    subject: str | None
    occurred_at: dt.datetime
    safe_payload: dict


def events_by_id(conn: Connection, event_ids: Sequence["uuid.UUID | str"]) -> list[OutboxEvent]:
    """The outbox rows of ``event_ids`` in seq order; an id that is not there raises."""
    if len(event_ids) > MAX_PAGE:
        raise InvalidInput(f"at most {MAX_PAGE} event ids at once, got {len(event_ids)}")
    ids = {parse_uuid(event_id, "event_id") for event_id in event_ids}
    o, r = event_outbox.c, event_type_registry.c
    rows = conn.execute(
        sa.select(
            o.seq,
            o.event_id,
            o.event_type,
            r.lane,
            r.severity,
            o.correlation_id,
            o.process_run_id,
            o.subject,
            o.occurred_at,
            o.safe_payload,
        )
        .join(event_type_registry, r.event_type == o.event_type)
        .where(o.event_id.in_(ids))
        .order_by(o.seq)
    ).all()
    missing = ids - {row.event_id for row in rows}
    if missing:
        raise NotFound(
            f"{len(missing)} event(s) not in event_outbox, e.g. {min(map(str, missing))}"
        )
    return [OutboxEvent(**row._asdict()) for row in rows]
