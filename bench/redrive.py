"""Redrive of every dead delivery: `relay redrive --all` in bounded batches against the one
unbounded UPDATE it replaced, over the same dead rows among delivered ones.

Event ids are UUIDv7, time-ordered as the outbox writes them, so the primary key's order
is the events' order. ``--layout spread``: one event in K dead throughout; ``--layout
outage``: the newest 1/K of the events dead (a sink down for the last stretch), behind
every delivered row in key order — the layout where a batch that found its dead rows by
walking the primary key walked the whole delivered history first.

The batched path commits a transaction per batch, so no lock is held for longer than one
batch; the baseline holds every dead row's lock until its single commit. Both start from
the same table (the dead rows are killed again and the table vacuumed between them). It
prints the total time of each, their ratio, and the batched path's longest batch: what
one transaction holds its locks for.
"""

import sqlalchemy as sa
from _common import fresh_postgres, parser, report, timed, vacuum_analyze

from procobs_dagster.clock import utcnow
from procobs_dagster.delivery import redrive_dead
from procobs_dagster.ids import uuid7
from procobs_dagster.store.tables import delivery_state, event_outbox

ds = delivery_state


def _dead(layout: str, events: int, dead_every: int):
    if layout == "outage":
        return ds.c.seq > events - events // dead_every
    return ds.c.seq % dead_every == 0


def _fill(db, events: int, dead: sa.ColumnElement[bool]) -> None:
    now = utcnow()
    ids = [uuid7() for _ in range(events)]
    with db.begin() as conn:
        conn.execute(
            event_outbox.insert(),
            [
                {
                    "event_id": e,
                    "event_type": "process.step.completed",
                    "source": "procobs/bench",
                    "correlation_id": f"corr-{i % 1000}",
                    "schema_version": 1,
                    "occurred_at": now,
                    "recorded_at": now,
                    "safe_payload": {"event_type": "process.step.completed"},
                }
                for i, e in enumerate(ids)
            ],
        )
        seqs = dict(conn.execute(sa.select(event_outbox.c.event_id, event_outbox.c.seq)).all())
        conn.execute(
            ds.insert(),
            [
                {
                    "event_id": e,
                    "sink": "hook",
                    "seq": seqs[e],
                    "correlation_id": f"corr-{i % 1000}",
                    "state": "delivered",
                    "attempts": 1,
                    "next_attempt_at": now,
                    "delivered_at": now,
                    "created_at": now,
                    "updated_at": now,
                }
                for i, e in enumerate(ids)
            ],
        )
        conn.execute(ds.update().where(dead).values(state="dead", rejections=1, delivered_at=None))


def _kill_again(db, dead: sa.ColumnElement[bool]) -> None:
    with db.begin() as conn:
        conn.execute(
            ds.update()
            .where(dead)
            .values(state="dead", attempts=1, rejections=1, delivered_at=None)
        )
    vacuum_analyze(db, "delivery_state")


def _one_update(db) -> int:
    """What `relay redrive --all` did before: every dead row in one statement."""
    now = utcnow()
    with db.begin() as conn:
        return conn.execute(
            ds.update()
            .where(ds.c.state == "dead")
            .values(state="pending", attempts=0, rejections=0, next_attempt_at=now, updated_at=now)
        ).rowcount


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--events", type=int, default=200_000)
    p.add_argument("--dead-every", type=int, default=2, help="one event in N is dead")
    p.add_argument("--layout", choices=("spread", "outage"), default="spread")
    p.add_argument("--batch", type=int, default=500)
    args = p.parse_args()
    dead = _dead(args.layout, args.events, args.dead_every)
    with fresh_postgres(args.database_url, "redrive") as db:
        _fill(db, args.events, dead)
        vacuum_analyze(db, "delivery_state", "event_outbox")
        times: dict[str, float] = {}
        with timed(times, "baseline"):
            baseline_rows = _one_update(db)
        _kill_again(db, dead)
        with timed(times, "batched"):
            batched = redrive_dead(db, batch=args.batch)
    assert batched.redriven_count == baseline_rows, (batched.redriven_count, baseline_rows)
    report(
        f"redrive --all: {baseline_rows:,} dead of {args.events:,} deliveries ({args.layout})",
        [
            ("one UPDATE (baseline)", f"{times['baseline']:.2f} s, one transaction"),
            (
                f"batches of {args.batch}",
                f"{times['batched']:.2f} s, {batched.batches} transactions, "
                f"longest {batched.longest_batch_seconds * 1000:.0f} ms",
            ),
            ("ratio batched / baseline", f"{times['batched'] / times['baseline']:.2f}"),
        ],
    )


if __name__ == "__main__":
    main()
