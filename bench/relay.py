"""Relay throughput: events claimed and acknowledged per second, against a raw SKIP LOCKED loop.

Both paths drain delivery_state rows of the same outbox events (one sink each) in
batches. The raw loop is the least a Postgres queue can do per batch: one
``FOR UPDATE SKIP LOCKED`` claim-and-update statement and one acknowledging update,
each committed. The relay (``Relay.run_once`` with the null sink, which accepts every
event without rendering it) does per cycle what a real relay must: take back expired
leases, fan out new outbox events past its cursor, claim, read the claimed events from
the outbox, and record the outcomes with guarded compare-and-set updates. The rounds
alternate so both paths see the same table sizes and machine load. Goal: the relay
reaches at least 0.7 of the raw rate.

It then measures the relay against a local webhook (a small HTTP server in its own
process answering 204): signed CloudEvents POSTs, one at a time, over keep-alive.

With ``--backlog N`` (0 skips it) it measures whether that rate holds as the tables grow:
an outbox backlog of 10,000 events, then one of N (built set-based, as a busy platform
would have written it), each drained to the end by the relay and by a raw loop doing the
same work — set-based fan-out from the outbox past a (tx_id, seq) cursor below the
transaction horizon, the ``SKIP LOCKED`` claim, the acknowledgement — over the same
outbox rows, in alternating rounds. Both paths are warmed up and the small backlog
starts on freshly vacuumed tables; from then on only autovacuum runs, as in production. Goals: the relay's rate at N at least 0.7 of its rate at 10,000,
and at least 0.5 of the raw loop's at N.

With ``--held-snapshot N`` it drains N events while a transaction holds the xmin horizon
back, so vacuum can remove nothing: the relay, whose claims start where its previous
claim ended, against the same relay claiming every batch from the oldest due row, in
alternating rounds.
"""

import os
import statistics
import subprocess
import sys
import time
import uuid

from _common import fresh_postgres, parser, report, timed, vacuum_analyze

from procobs_dagster import events
from procobs_dagster.clock import utcnow
from procobs_dagster.delivery import Relay, SinkConfig, delivery_state
from procobs_dagster.delivery.relay import DEFAULT_FANOUT_LIMIT
from procobs_dagster.events.feed import MAX_PAGE
from procobs_dagster.store.tables import event_type_registry

EVENT_TYPE = "process.run.started"
WEBHOOK_EVENT_TYPE = "process.run.completed"  # a type of their own: the webhook's events
SECRET_ENV = "PROCOBS_BENCH_WEBHOOK_SECRET"

RAW_CLAIM = """
WITH due AS MATERIALIZED (
    SELECT event_id FROM delivery_state
    WHERE sink = %(sink)s AND state IN ('pending', 'retry') AND next_attempt_at <= now()
    ORDER BY next_attempt_at, seq LIMIT %(batch)s FOR UPDATE SKIP LOCKED)
UPDATE delivery_state d SET state = 'delivering', attempts = d.attempts + 1,
    locked_until = now() + interval '60 seconds', locked_by = 'raw', lock_token = %(token)s,
    updated_at = now()
FROM due WHERE d.sink = %(sink)s AND d.event_id = due.event_id
RETURNING d.event_id
"""
# The raw loop's fan-out: one page of the outbox past the cursor (below the horizon, so a
# late commit is never passed), inserted, and the cursor moved, in one statement.
RAW_FAN_OUT = """
WITH pos AS MATERIALIZED (SELECT last_tx_id, last_seq FROM delivery_cursor
    WHERE sink = %(sink)s FOR UPDATE),
page AS MATERIALIZED (
    SELECT event_id, seq, correlation_id, tx_id FROM event_outbox
    WHERE (tx_id, seq) > ((SELECT last_tx_id FROM pos), (SELECT last_seq FROM pos))
      AND tx_id < pg_snapshot_xmin(pg_current_snapshot())::text::bigint
      AND event_type = %(event_type)s
    ORDER BY tx_id, seq LIMIT %(limit)s),
fanned AS (
    INSERT INTO delivery_state (event_id, sink, seq, correlation_id, state, attempts,
        rejections, next_attempt_at, created_at, updated_at)
    SELECT event_id, %(sink)s, seq, correlation_id, 'pending', 0, 0, now(), now(), now()
    FROM page ON CONFLICT DO NOTHING)
UPDATE delivery_cursor SET last_tx_id = last.tx_id, last_seq = last.seq, updated_at = now()
FROM (SELECT tx_id, seq FROM page ORDER BY tx_id DESC, seq DESC LIMIT 1) last
WHERE sink = %(sink)s
"""
RAW_ACK = """
UPDATE delivery_state SET state = 'delivered', delivered_at = now(), locked_until = NULL,
    locked_by = NULL, lock_token = NULL, updated_at = now()
WHERE sink = %(sink)s AND event_id = ANY(%(ids)s::uuid[])
"""

# A webhook receiver in its own process, so it does not share the relay's interpreter.
RECEIVER = """
import http.server, sys
class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
"""


def emit(db, event_type: str, count: int) -> None:
    with db.begin() as conn:  # a throwaway database: activate the type directly
        conn.execute(
            event_type_registry.update()
            .where(event_type_registry.c.event_type == event_type)
            .values(active=True)
        )
    status = event_type.rsplit(".", 1)[1]
    per_transaction = 500
    for start in range(0, count, per_transaction):
        with db.begin() as conn:
            for i in range(start, min(count, start + per_transaction)):
                correlation = f"bench-{i % 997}"
                payload = {
                    "process_run_id": str(uuid.uuid4()),
                    "correlation_id": correlation,
                    "status": status,
                    "evidence_type": "RUNTIME",
                }
                events.emit(conn, event_type, payload, correlation_id=correlation)


# The rest of a backlog, set-based: copies of one real outbox row (emitted through
# events.emit), each with an event id, correlation and run id of its own. The ids are
# time-ordered like the UUIDv7 events.emit mints (ten events a millisecond), so the
# indexes on event_id see the locality they have in production.
BACKLOG_COPIES = """
INSERT INTO event_outbox (event_id, event_type, source, subject, correlation_id,
    causation_id, process_run_id, schema_version, occurred_at, recorded_at, safe_payload)
SELECT (lpad(to_hex(%(epoch_ms)s::bigint + i / 10), 12, '0') || '7'
        || substr(md5(i::text), 1, 3) || '8' || substr(md5(i::text), 4, 15))::uuid,
    t.event_type, t.source, t.subject, 'bench-' || (i %% 997),
    t.causation_id, t.process_run_id, t.schema_version, t.occurred_at, now(),
    t.safe_payload || jsonb_build_object('correlation_id', 'bench-' || (i %% 997),
                                         'process_run_id', gen_random_uuid()::text)
FROM event_outbox t, generate_series(%(first)s, %(last)s) AS i
WHERE t.event_id = %(template)s
"""
BACKLOG_CHUNK = 100_000  # rows per transaction, as many writers would have committed them


def build_backlog(db, event_type: str, count: int) -> None:
    """``count`` more outbox events of ``event_type``: one emitted, the rest copied in SQL
    (a Python loop would take minutes per million)."""
    if count <= 0:
        return
    emit(db, event_type, 1)
    with db.begin() as conn:
        template = conn.exec_driver_sql(
            "SELECT event_id FROM event_outbox WHERE event_type = %(t)s ORDER BY seq DESC LIMIT 1",
            {"t": event_type},
        ).scalar_one()
    epoch_ms = int(time.time() * 1000)
    for first in range(1, count, BACKLOG_CHUNK):
        last = min(count - 1, first + BACKLOG_CHUNK - 1)
        with db.begin() as conn:
            conn.exec_driver_sql(
                BACKLOG_COPIES,
                {"first": first, "last": last, "template": str(template), "epoch_ms": epoch_ms},
            )
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("ANALYZE event_outbox")  # as autovacuum would after a burst


def fan_out(db, config: SinkConfig, count: int) -> None:
    """Fan ``count`` events out to the sink beforehand, a page (at most MAX_PAGE) at a time."""
    while count > 0:
        with db.begin() as conn:
            done = delivery_state.fan_out(conn, config, now=utcnow(), limit=min(count, MAX_PAGE))
        if not done:
            break
        count -= done


def raw_loop(
    db,
    sink: str,
    batch: int,
    cycles: int | None,
    fanout: int | None = None,
    split: dict[str, float] | None = None,
) -> int:
    """The raw loop: claim, commit, acknowledge, commit, for ``cycles`` cycles (None: until
    a claim comes back empty). With ``fanout`` it works an outbox backlog as a relay cycle
    does: when the claim comes back short, it fans out one page of ``fanout`` events and
    claims the rest before committing. With ``split`` it adds the seconds spent in each
    step (claim, fan-out, ack, commit) and the cycles to it: where a cycle's time goes on
    the server, the client's share being the same at every size."""
    raw = db.engine.raw_connection()
    done = 0
    clock = time.perf_counter
    spent = dict.fromkeys(SPLIT_STEPS, 0.0)
    try:
        cur = raw.cursor()
        if fanout:
            cur.execute(
                "INSERT INTO delivery_cursor (sink, updated_at) VALUES (%(sink)s, now()) "
                "ON CONFLICT DO NOTHING",
                {"sink": sink},
            )
            raw.commit()
        cycle = 0
        while cycles is None or cycle < cycles:
            cycle += 1
            claim = {"sink": sink, "batch": batch, "token": str(uuid.uuid4())}
            start = clock()
            cur.execute(RAW_CLAIM, claim)
            ids = [row[0] for row in cur.fetchall()]
            claimed = clock()
            spent["claim"] += claimed - start
            if fanout and len(ids) < batch:
                cur.execute(RAW_FAN_OUT, {"sink": sink, "event_type": EVENT_TYPE, "limit": fanout})
                fanned = clock()
                spent["fan-out"] += fanned - claimed
                if cur.rowcount:
                    cur.execute(RAW_CLAIM, claim | {"batch": batch - len(ids)})
                    ids += [row[0] for row in cur.fetchall()]
                claimed = clock()
                spent["claim"] += claimed - fanned
            raw.commit()
            committed = clock()
            spent["commit"] += committed - claimed
            if not ids:
                break
            cur.execute(RAW_ACK, {"sink": sink, "ids": ids})
            acknowledged = clock()
            raw.commit()
            spent["ack"] += acknowledged - committed
            spent["commit"] += clock() - acknowledged
            spent["cycles"] += 1
            done += len(ids)
    finally:
        raw.close()
    if split is not None:
        for step, seconds in spent.items():
            split[step] = split.get(step, 0.0) + seconds
    return done


# The steps of a raw cycle timed apart ("cycles" counts the cycles that delivered).
SPLIT_STEPS = ("claim", "fan-out", "ack", "commit", "cycles")


def split_text(split: dict[str, float]) -> str:
    """Milliseconds per cycle of each step of the raw loop."""
    cycles = split["cycles"] or 1
    steps = (step for step in SPLIT_STEPS if step != "cycles")
    return ", ".join(f"{step} {split[step] / cycles * 1000:.2f}" for step in steps) + " ms"


def relay_cycles(relay: Relay, batch: int, cycles: int | None) -> int:
    done = 0
    cycle = 0
    while cycles is None or cycle < cycles:
        cycle += 1
        report_ = relay.run_once(batch)
        done += report_.total("delivered")
        if not report_.total("claimed"):
            break
    return done


def drain_both(db, backlog: int, batch: int, rounds: int = 10) -> dict:
    """Drain ``backlog`` outbox events to the end, by the raw loop and by the relay (each
    to its own null sink), in alternating rounds. Returns per path the events, the
    seconds, the relay's rate in the last round (the largest tables) and the raw loop's
    time per step (``raw_loop``'s split)."""
    tag = f"{backlog}"
    config = SinkConfig(name=f"relay-{tag}", kind="null", event_types=(EVENT_TYPE,))
    per_round = max(1, backlog // rounds // batch)
    done = {"raw": 0, "relay": 0}
    seconds = {"raw": 0.0, "relay": 0.0}
    split: dict[str, float] = {}
    last_round = 0.0
    with Relay(db, [config]) as relay:
        for round_ in range(rounds):
            cycles = per_round if round_ < rounds - 1 else None  # the last one to the end
            start = time.perf_counter()
            done["raw"] += raw_loop(db, f"raw-{tag}", batch, cycles, relay.fanout_limit, split)
            seconds["raw"] += time.perf_counter() - start
            start = time.perf_counter()
            delivered = relay_cycles(relay, batch, cycles)
            elapsed = time.perf_counter() - start
            done["relay"] += delivered
            seconds["relay"] += elapsed
            if round_ == rounds - 1:
                last_round = delivered / elapsed
            print(
                f"  @{backlog}: round {round_ + 1}/{rounds}, relay {delivered / elapsed:.0f} "
                f"events/s, raw so far {done['raw'] / seconds['raw']:.0f} events/s",
                file=sys.stderr,
                flush=True,
            )
    for path, events_done in done.items():
        assert events_done == backlog, f"{path} delivered {events_done} of {backlog} events"
    return {"done": done, "seconds": seconds, "relay_last_round": last_round, "split": split}


SMALL_BACKLOG = 10_000
# The server's settings the drain depends on (docs/operations/sizing.md, "Settings a DBA
# keeps"), printed with the figures.
SETTINGS = ("shared_buffers", "autovacuum_naptime")
VACUUMED = """
SELECT relname, autovacuum_count FROM pg_stat_user_tables
WHERE relname IN ('delivery_state', 'event_outbox')
"""


def autovacuums(db) -> dict[str, int]:
    """Autovacuum passes so far of the two tables a drain works."""
    with db.begin() as conn:
        return dict(conn.exec_driver_sql(VACUUMED).all())


def backlog_rates(database_url: str, backlog: int, batch: int) -> None:
    """The relay's rate at a 10k backlog and at ``backlog``, against the raw loop."""
    with fresh_postgres(database_url, "relay_backlog") as db:
        build_backlog(db, EVENT_TYPE, SMALL_BACKLOG)
        # Warm both paths first (statement caches, the pool, the tables' first statistics),
        # so the small backlog's rate is not the price of a cold start.
        warmup = SinkConfig(name="warmup", kind="null", event_types=(EVENT_TYPE,))
        with Relay(db, [warmup]) as relay:
            relay_cycles(relay, batch, 20)
        raw_loop(db, "warmup-raw", batch, 20, DEFAULT_FANOUT_LIMIT)
        vacuum_analyze(db, "event_outbox", "delivery_state", "delivery_cursor")
        small = drain_both(db, SMALL_BACKLOG, batch)
        started = time.perf_counter()
        build_backlog(db, EVENT_TYPE, backlog - SMALL_BACKLOG)
        built = time.perf_counter() - started
        before = autovacuums(db)
        large = drain_both(db, backlog, batch)
        time.sleep(1)  # the statistics collector's flush
        passes = {name: count - before.get(name, 0) for name, count in autovacuums(db).items()}
        with db.begin() as conn:
            rows = conn.exec_driver_sql("SELECT count(*) FROM delivery_state").scalar_one()
            settings = ", ".join(
                f"{name} {conn.exec_driver_sql(f'SHOW {name}').scalar_one()}" for name in SETTINGS
            )

    def rate(result: dict, path: str) -> float:
        return result["done"][path] / result["seconds"][path]

    held = rate(large, "relay") / rate(small, "relay")
    of_raw = rate(large, "relay") / rate(large, "raw")
    report(
        f"relay at a backlog: {SMALL_BACKLOG} then {backlog} outbox events drained to the "
        f"end, fan-out included, batches of {batch} (PostgreSQL; built in {built:.1f} s; "
        f"delivery_state ends with {rows} rows; server: {settings})",
        [
            (f"raw loop @{SMALL_BACKLOG}", f"{rate(small, 'raw'):8.0f} events/s"),
            (f"relay @{SMALL_BACKLOG}", f"{rate(small, 'relay'):8.0f} events/s"),
            (f"raw loop @{backlog}", f"{rate(large, 'raw'):8.0f} events/s"),
            (f"relay @{backlog}", f"{rate(large, 'relay'):8.0f} events/s"),
            (
                f"relay @{backlog}, last round",
                f"{large['relay_last_round']:8.0f} events/s  (the largest tables)",
            ),
            (
                f"ratio relay @{backlog} / @{SMALL_BACKLOG}",
                f"{held:8.2f}  (goal >= 0.70: {'met' if held >= 0.7 else 'NOT met'})",
            ),
            (
                # The same for the raw loop: what the tables' growth and any change in
                # the machine's load between the two sizes did to the leanest client.
                f"ratio raw loop @{backlog} / @{SMALL_BACKLOG}",
                f"{rate(large, 'raw') / rate(small, 'raw'):8.2f}  (for comparison)",
            ),
            (
                f"ratio relay / raw @{backlog}",
                f"{of_raw:8.2f}  (goal >= 0.50: {'met' if of_raw >= 0.5 else 'NOT met'})",
            ),
            # Where the raw loop's time per cycle of the batch goes at each size: the same
            # statements as the relay's, so what grows here grows on the server for both.
            (f"raw loop per cycle @{SMALL_BACKLOG}", split_text(small["split"])),
            (f"raw loop per cycle @{backlog}", split_text(large["split"])),
            (
                f"autovacuum passes during the drain @{backlog}",
                ", ".join(f"{name} {count}" for name, count in sorted(passes.items())),
            ),
        ],
    )


class OldestFirstRelay(Relay):
    """The relay with every claim starting at the oldest due row: what each claim did
    before the relay remembered where its last claim ended (``Claim.last_taken``)."""

    def _cycle(self, sink, batch):
        self._last_taken.clear()
        return super()._cycle(sink, batch)


def held_snapshot_rates(database_url: str, backlog: int, batch: int) -> None:
    """The relay draining ``backlog`` events while a transaction holds the xmin horizon
    back (a session idle in transaction, a lagging replica's feedback): vacuum can remove
    nothing, and no index entry of a claimed row can be marked dead, so a claim from the
    oldest due row visits the heap for every row claimed since the snapshot was taken.
    Against the same relay with every claim from the oldest due row, in alternating
    rounds over the same outbox rows (one sink each)."""
    rounds = 10
    per_round = max(1, backlog // rounds // batch)
    rates: dict[str, list[float]] = {"relay": [], "oldest-first": []}
    with fresh_postgres(database_url, "relay_held") as db:
        build_backlog(db, EVENT_TYPE, backlog)
        vacuum_analyze(db, "event_outbox")
        paths = {
            "relay": Relay(db, [SinkConfig(name="relay", kind="null", event_types=(EVENT_TYPE,))]),
            "oldest-first": OldestFirstRelay(
                db, [SinkConfig(name="oldest-first", kind="null", event_types=(EVENT_TYPE,))]
            ),
        }
        holder = db.engine.raw_connection()
        try:
            cursor = holder.cursor()
            cursor.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
            cursor.execute("SELECT count(*) FROM delivery_state")  # takes the snapshot
            for round_ in range(rounds):
                cycles = per_round if round_ < rounds - 1 else None
                for path, relay in paths.items():
                    start = time.perf_counter()
                    delivered = relay_cycles(relay, batch, cycles)
                    rates[path].append(delivered / (time.perf_counter() - start))
                print(
                    f"  held snapshot: round {round_ + 1}/{rounds}, "
                    + ", ".join(f"{path} {rates[path][-1]:.0f}" for path in paths)
                    + " events/s",
                    file=sys.stderr,
                    flush=True,
                )
            holder.rollback()
        finally:
            holder.close()
            for relay in paths.values():
                relay.close()
    # Every round drains the same number of events per path, so the drain's rate is the
    # harmonic mean of the rounds' rates.
    whole = {path: statistics.harmonic_mean(values) for path, values in rates.items()}
    last = {path: values[-1] for path, values in rates.items()}
    report(
        f"relay with the xmin horizon held: {backlog} outbox events drained to the end, "
        f"batches of {batch}, against the relay claiming from the oldest due row every time "
        f"(PostgreSQL)",
        [
            *(
                (
                    f"{path}: whole drain, last round",
                    f"{whole[path]:8.0f}, {last[path]:8.0f} events/s",
                )
                for path in rates
            ),
            (
                "ratio relay / oldest-first: whole drain, last round",
                f"{whole['relay'] / whole['oldest-first']:8.2f}, "
                f"{last['relay'] / last['oldest-first']:8.2f}  (no goal: the claim's walk)",
            ),
        ],
    )


def webhook_rate(db, batch: int) -> tuple[int, float]:
    receiver = subprocess.Popen([sys.executable, "-c", RECEIVER], stdout=subprocess.PIPE, text=True)
    try:
        port = int(receiver.stdout.readline())
        os.environ[SECRET_ENV] = "bench-secret"
        hook = SinkConfig(
            name="webhook",
            kind="webhook",
            url=f"http://127.0.0.1:{port}/hooks",
            secret_env=SECRET_ENV,
            event_types=(WEBHOOK_EVENT_TYPE,),
        )
        results: dict[str, float] = {}
        with Relay(db, [hook]) as relay, timed(results, "webhook"):
            delivered = relay.drain(batch).total("delivered")
        return delivered, results["webhook"]
    finally:
        receiver.terminate()
        receiver.wait()


def main() -> None:
    cli = parser(__doc__.splitlines()[0])
    cli.add_argument("--events", type=int, default=20_000)
    cli.add_argument("--batch", type=int, default=100)
    cli.add_argument("--webhook-events", type=int, default=2_000)
    cli.add_argument(
        "--backlog",
        type=int,
        default=50_000,
        help=f"the large backlog (0: skip; at least {SMALL_BACKLOG}); the goal is set at 1000000",
    )
    cli.add_argument(
        "--held-snapshot",
        type=int,
        default=0,
        help="a backlog drained while a transaction holds vacuum back (0: skip)",
    )
    args = cli.parse_args()
    if args.held_snapshot < 0:
        cli.error("--held-snapshot must be 0 or more")
    if args.backlog and args.backlog < SMALL_BACKLOG:
        cli.error(f"--backlog must be 0 or at least {SMALL_BACKLOG}")
    count, batch = args.events, args.batch
    rounds = 10
    batches_per_round = count // rounds // batch
    results: dict[str, float] = {}
    done = {"raw": 0, "relay": 0}
    with fresh_postgres(args.database_url, "relay") as db:
        emit(db, EVENT_TYPE, count)
        emit(db, WEBHOOK_EVENT_TYPE, args.webhook_events)
        sinks = {
            name: SinkConfig(name=name, kind="null", event_types=(EVENT_TYPE,))
            for name in ("raw", "relay", "warmup")
        }
        for config in sinks.values():
            fan_out(db, config, count)  # the same outbox events, one row per sink
        with Relay(db, [sinks["warmup"]]) as warmup:
            # Warm caches and the connection pool on both paths.
            raw_loop(db, "warmup", batch, 5)
            relay_cycles(warmup, batch, 5)
        cpu = {"raw": 0.0, "relay": 0.0}  # this process's CPU: the client side alone
        with Relay(db, [sinks["relay"]]) as relay:
            for round_ in range(rounds):
                started = time.process_time()
                with timed(results, f"raw{round_}"):
                    done["raw"] += raw_loop(db, "raw", batch, batches_per_round)
                cpu["raw"] += time.process_time() - started
                started = time.process_time()
                with timed(results, f"relay{round_}"):
                    done["relay"] += relay_cycles(relay, batch, batches_per_round)
                cpu["relay"] += time.process_time() - started
        for path in ("raw", "relay"):
            results[path] = sum(results[f"{path}{r}"] for r in range(rounds))
        webhook_done, webhook_seconds = webhook_rate(db, batch)
    raw_rate = done["raw"] / results["raw"]
    relay_rate = done["relay"] / results["relay"]
    ratio = relay_rate / raw_rate
    report(
        f"relay: {done['relay']} events claimed+acknowledged in batches of {batch} (PostgreSQL)",
        [
            ("raw SKIP LOCKED loop", f"{raw_rate:8.0f} events/s  ({results['raw']:.2f} s)"),
            ("relay, null sink", f"{relay_rate:8.0f} events/s  ({results['relay']:.2f} s)"),
            (
                "ratio",
                f"{ratio:8.2f} of raw  (goal >= 0.70: {'met' if ratio >= 0.7 else 'NOT met'})",
            ),
            (
                "client CPU per batch",
                f"raw {cpu['raw'] / done['raw'] * batch * 1000:.2f} ms, "
                f"relay {cpu['relay'] / done['relay'] * batch * 1000:.2f} ms",
            ),
            (
                "relay, local webhook",
                f"{webhook_done / webhook_seconds:8.0f} events/s  "
                f"({webhook_done} signed POSTs in {webhook_seconds:.2f} s)",
            ),
        ],
    )
    if args.backlog:
        backlog_rates(args.database_url, args.backlog, batch)
    if args.held_snapshot:
        held_snapshot_rates(args.database_url, args.held_snapshot, batch)


if __name__ == "__main__":
    main()
