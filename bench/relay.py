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
"""

import os
import subprocess
import sys
import uuid

from _common import fresh_postgres, parser, report, timed

from procobs_dagster import events
from procobs_dagster.clock import utcnow
from procobs_dagster.delivery import Relay, SinkConfig, delivery_state
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


def fan_out(db, config: SinkConfig, count: int) -> None:
    with db.begin() as conn:
        delivery_state.fan_out(conn, config, now=utcnow(), limit=count)


def raw_batches(db, sink: str, batch: int, batches: int) -> int:
    raw = db.engine.raw_connection()
    done = 0
    try:
        cur = raw.cursor()
        for _ in range(batches):
            cur.execute(RAW_CLAIM, {"sink": sink, "batch": batch, "token": str(uuid.uuid4())})
            ids = [row[0] for row in cur.fetchall()]
            raw.commit()
            if not ids:
                break
            cur.execute(RAW_ACK, {"sink": sink, "ids": ids})
            raw.commit()
            done += len(ids)
    finally:
        raw.close()
    return done


def relay_cycles(relay: Relay, batch: int, cycles: int) -> int:
    done = 0
    for _ in range(cycles):
        report_ = relay.run_once(batch)
        done += report_.total("delivered")
        if not report_.total("claimed"):
            break
    return done


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
    args = cli.parse_args()
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
            raw_batches(db, "warmup", batch, 5)
            relay_cycles(warmup, batch, 5)
        with Relay(db, [sinks["relay"]]) as relay:
            for round_ in range(rounds):
                with timed(results, f"raw{round_}"):
                    done["raw"] += raw_batches(db, "raw", batch, batches_per_round)
                with timed(results, f"relay{round_}"):
                    done["relay"] += relay_cycles(relay, batch, batches_per_round)
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
                "relay, local webhook",
                f"{webhook_done / webhook_seconds:8.0f} events/s  "
                f"({webhook_done} signed POSTs in {webhook_seconds:.2f} s)",
            ),
        ],
    )


if __name__ == "__main__":
    main()
