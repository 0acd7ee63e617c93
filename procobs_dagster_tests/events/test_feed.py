import uuid

import pytest
import sqlalchemy as sa

from procobs_dagster.errors import InvalidInput, NotFound
from procobs_dagster.events import feed
from procobs_dagster.events.feed import (
    START,
    OutboxPosition,
    events_by_id,
    outbox_span,
    read_outbox,
)
from procobs_dagster.store.tables import event_outbox
from procobs_dagster_tests.outbox_rows import insert_outbox_rows, wait_until_readable

ALERT = "process.run.failed"  # lane 'immediate' in the registry
UPDATE = "process.step.completed"  # lane 'delayed'


def read_all(db, position=START, limit=3, settle=True, **filters):
    """Page through the feed like a cursor-keeping reader; returns (event ids, position).

    ``settle`` first waits until committed rows are below the horizon (see
    wait_until_readable); without it the read shows what is readable right now."""
    if settle:
        wait_until_readable(db)
    seen = []
    while True:
        with db.read() as conn:
            page = read_outbox(conn, position, limit=limit, **filters)
        seen += [entry.event_id for entry in page.entries]
        assert page.next_position >= position
        position = page.next_position
        if not page.full:
            return seen, position


def test_empty_outbox_returns_nothing_and_keeps_the_position(db):
    with db.read() as conn:
        page = read_outbox(conn, START, limit=10)
    assert page.entries == ()
    assert page.next_position == START
    assert not page.full


def test_pages_return_every_row_once_in_commit_order(db):
    written = []
    for _ in range(3):
        with db.begin() as conn:
            written += insert_outbox_rows(conn, UPDATE, count=3)
    seen, position = read_all(db, limit=4)
    assert seen == written
    with db.begin() as conn:
        later = insert_outbox_rows(conn, ALERT, count=2)
    assert read_all(db, position, limit=4)[0] == later


def test_lane_filter_returns_only_that_lane_and_moves_past_the_rest(db):
    with db.begin() as conn:
        insert_outbox_rows(conn, UPDATE, count=4)
        alerts = insert_outbox_rows(conn, ALERT, count=1)
        insert_outbox_rows(conn, UPDATE, count=4)
    wait_until_readable(db)
    with db.read() as conn:
        page = read_outbox(conn, START, limit=10, lane="immediate")
        everything = read_outbox(conn, START, limit=100)
    assert [e.event_id for e in page.entries] == alerts
    assert [e.event_type for e in page.entries] == [ALERT]
    # The skipped update rows after the alert are not rescanned next time.
    assert page.next_position == everything.entries[-1].position


def test_a_full_filtered_page_stops_at_its_last_row(db):
    with db.begin() as conn:
        first = insert_outbox_rows(conn, ALERT, count=2)
        insert_outbox_rows(conn, UPDATE, count=3)
        last = insert_outbox_rows(conn, ALERT, count=1)
    seen, _ = read_all(db, limit=2, event_types=[ALERT])
    assert seen == first + last


def test_positions_round_trip_and_bad_ones_are_refused():
    position = OutboxPosition(tx_id=7, seq=42)
    assert OutboxPosition.decode(position.encode()) == position
    assert OutboxPosition.decode(None) == START
    # A cursor set by hand (dagster sensor cursor --set): past 64 bits it reached the
    # query (OverflowError on SQLite, bigint out of range on PostgreSQL); true read as 1.
    for text in (
        "42",
        '{"seq": 1}',
        '{"tx_id": -1, "seq": 1}',
        '{"tx_id": "a", "seq": 1}',
        "{",
        '{"tx_id": 0, "seq": 9223372036854775808}',
        '{"tx_id": 0, "seq": 1' + "0" * 5000 + "}",
        '{"tx_id": true, "seq": 1}',
        '{"tx_id": 0, "seq": 1.0}',
    ):
        with pytest.raises(InvalidInput, match="malformed outbox position"):
            OutboxPosition.decode(text)


def test_limit_is_bounded(db):
    with db.read() as conn, pytest.raises(InvalidInput, match="limit"):
        read_outbox(conn, START, limit=0)


@pytest.mark.postgres_only
def test_a_lower_seq_committing_late_is_read_exactly_once(postgres_db):
    """Transaction `early` takes a seq, `late` takes a higher one and commits first: a
    reader must not move past `early`'s row before it commits, and must not read twice."""
    with postgres_db.begin() as conn:
        before = insert_outbox_rows(conn, UPDATE)
    seen, position = read_all(postgres_db)
    assert seen == before

    with postgres_db.engine.connect() as early, postgres_db.engine.connect() as late:
        early_tx = early.begin()
        early_ids = insert_outbox_rows(early, UPDATE)
        with late.begin():
            late_ids = insert_outbox_rows(late, ALERT)
        # `late` committed, `early` still runs: neither row is readable yet.
        seen, held = read_all(postgres_db, position, settle=False)
        assert seen == []
        assert held == position
        early_tx.commit()

    seen, position = read_all(postgres_db, position)
    assert seen == early_ids + late_ids
    assert read_all(postgres_db, position)[0] == []


@pytest.mark.postgres_only
def test_a_transaction_that_rolls_back_only_delays_the_reader(postgres_db):
    with postgres_db.engine.connect() as other:
        running = other.begin()
        # Its write takes a transaction id, which holds the horizon back until it ends.
        insert_outbox_rows(other, UPDATE)
        with postgres_db.begin() as conn:
            committed = insert_outbox_rows(conn, UPDATE)
        assert read_all(postgres_db, settle=False)[0] == []
        running.rollback()
    assert read_all(postgres_db)[0] == committed


@pytest.mark.parametrize("event_types", [None, [ALERT], [UPDATE]])
def test_a_span_is_the_page_read_outbox_returns_named_by_its_bounds(db, event_types):
    """Page after page, a span has the page's count, last row, next position and
    fullness, and its conditions select exactly the page's rows (what the relay's
    fan-out inserts)."""
    with db.begin() as conn:
        for _ in range(3):
            insert_outbox_rows(conn, UPDATE, count=2)
            insert_outbox_rows(conn, ALERT, count=1)
    wait_until_readable(db)
    position, pages = START, 0
    while True:
        with db.read() as conn:
            page = read_outbox(conn, position, limit=2, event_types=event_types)
            span = outbox_span(conn, position, limit=2, event_types=event_types)
            selected = conn.execute(
                sa.select(event_outbox.c.event_id).where(*span.rows).order_by(event_outbox.c.seq)
            ).scalars()
            assert list(selected) == [entry.event_id for entry in page.entries]
        assert span.count == len(page.entries)
        assert span.last == (page.entries[-1].position if page.entries else None)
        assert (span.next_position, span.full) == (page.next_position, page.full)
        pages += 1
        position = page.next_position
        if not page.full:
            break
    assert pages == (4 if event_types == [UPDATE] else 2 if event_types else 5)
    with db.read() as conn, pytest.raises(InvalidInput, match="limit"):
        outbox_span(conn, START, limit=0)


@pytest.mark.parametrize("read", ["page", "span"])
def test_a_sparse_filter_moves_on_a_window_at_a_time(db, monkeypatch, read):
    """A filtered read looks at SCAN_WINDOW committed rows at most: a page without a
    wanted row still moves past the window, and every wanted row is read exactly once."""
    monkeypatch.setattr(feed, "SCAN_WINDOW", 3)
    with db.begin() as conn:
        insert_outbox_rows(conn, UPDATE, count=4)
        first = insert_outbox_rows(conn, ALERT, count=1)
        insert_outbox_rows(conn, UPDATE, count=5)
        second = insert_outbox_rows(conn, ALERT, count=2)
    wait_until_readable(db)
    position, seen, moves = START, [], 0
    while True:
        with db.read() as conn:
            if read == "page":
                page = read_outbox(conn, position, limit=10, event_types=[ALERT])
                found, next_position = [e.event_id for e in page.entries], page.next_position
            else:
                span = outbox_span(conn, position, limit=10, event_types=[ALERT])
                found = list(
                    conn.execute(
                        sa.select(event_outbox.c.event_id)
                        .where(*span.rows)
                        .order_by(event_outbox.c.seq)
                    ).scalars()
                )
                next_position = span.next_position
        if next_position == position:
            break
        seen += found
        position, moves = next_position, moves + 1
    assert seen == first + second
    assert moves == 4  # 12 rows, 3 at a time


def test_events_by_id_classifies_them_and_refuses_unknown_ids(db):
    with db.begin() as conn:
        update = insert_outbox_rows(conn, UPDATE)
        alert = insert_outbox_rows(conn, ALERT)
    with db.read() as conn:
        events = events_by_id(conn, [alert[0], str(update[0])])
        assert [(e.event_id, e.lane, e.severity) for e in events] == [
            (update[0], "delayed", "info"),
            (alert[0], "immediate", "warning"),
        ]
        with pytest.raises(NotFound, match="1 event"):
            events_by_id(conn, [alert[0], uuid.uuid4()])
        with pytest.raises(InvalidInput, match="malformed event_id"):
            events_by_id(conn, ["not-a-uuid"])
