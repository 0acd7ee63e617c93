"""The processes of bench/soak.py, each started with multiprocessing (spawn) and stopped by
one shared ``stop`` event. Each appends what it did as JSON lines to a file of its own in
the soak's work directory; soak.py reads the files to report. They share nothing else.

- ``receive``: the local webhook, an HTTP server answering 204 that records the ``ce-id``
  (the event id) of every POST with the time it arrived.
- ``emit``: wrapped runs through the observe API at a target rate of events per second;
  every event committed in this process is recorded from the process-wide event bus (so
  only events that are durable in the outbox count as emitted). Every ``abandon_every``-th
  run is left in flight, and as many runs leave a nested run in flight after they end:
  work for the stuck and the orphan sweeps.
- ``relay``: the relay (``Relay.run_once``) delivering to the webhook, as
  ``procobs relay run`` loops it, each cycle timed.
- ``capacity``: a second sink of the same webhook drained in bursts, and the raw probe
  beside it (see below): the relay's drain rate against a raw baseline.
- ``sensor``: ``event_outbox_sensor`` evaluated tick by tick on a test Dagster instance,
  its cursor carried; the runs it requests are not executed (the relay delivers).
- ``maintain``: retention and the two sweeps on scaled-down schedules, one at a time, as
  the deployment's procobs/maintenance limit runs them; after each retention pass the live
  tables are counted, each right after its own job.
"""

import contextvars
import dataclasses
import datetime as dt
import http.server
import json
import os
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import sqlalchemy as sa

from procobs_dagster import ledger, maintenance
from procobs_dagster.clock import utcnow
from procobs_dagster.delivery import Delivery, Relay, Sink, build_sink, load_sinks_file
from procobs_dagster.events.bus import default_bus
from procobs_dagster.store.engine import Database
from procobs_dagster.store.tables import event_outbox

CANDIDATE = "PROC-CAND:bench:soak"
WEBHOOK_PATH = "/hooks"  # the sink whose every event must arrive; others are measured only
EVENTS_PER_RUN = 6  # run started/completed, and each of two steps started/completed
# The ledger tables retention empties (the archives are where their rows go).
LEDGER_TABLES = (
    "process_run_observation",
    "process_component_observation",
    "process_status_history",
)
# Every live table the soak watches for growth; retention must keep each one bounded.
LIVE_TABLES = ("event_outbox", "delivery_state", "audit_log", *LEDGER_TABLES)


@dataclasses.dataclass(frozen=True)
class Settings:
    """What the soak's processes share: where to write, how fast, which cadences and ages."""

    url: str
    workdir: str
    rate: float
    batch: int
    idle_seconds: float
    abandon_every: int
    sensor_every: float
    capacity_every: float
    retention_every: float
    stuck_every: float
    orphan_every: float
    stuck_sla_seconds: int
    orphan_grace_seconds: int
    delivered_age_seconds: float
    audit_age_seconds: float
    ledger_age_seconds: float

    def path(self, name: str) -> Path:
        return Path(self.workdir) / f"{name}.jsonl"

    @property
    def sinks_file(self) -> Path:
        return Path(self.workdir) / "sinks.yaml"


class _Log:
    """Appends one JSON object per line, flushed at once (soak.py reads while we write)."""

    def __init__(self, settings: Settings, name: str):
        self._file = settings.path(name).open("a", buffering=1, encoding="utf-8")
        self._lock = threading.Lock()

    def write(self, **record) -> None:
        line = json.dumps(record, separators=(",", ":"))
        with self._lock:
            self._file.write(line + "\n")

    def close(self) -> None:
        self._file.close()


# --- the webhook ------------------------------------------------------------------------


def receive(settings: Settings, port_queue, stop) -> None:
    log = _Log(settings, "received")

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if self.path == WEBHOOK_PATH:
                log.write(id=self.headers.get("ce-id"), t=time.time())
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    port_queue.put(server.server_address[1])
    threading.Thread(target=server.serve_forever, daemon=True).start()
    stop.wait()
    server.shutdown()
    log.close()


# --- wrapped runs -----------------------------------------------------------------------


def _abandon(db: Database, candidate: str, kept: list) -> None:
    """Open a run and leave it in flight, as a worker that died would. It is entered in a
    copy of the context, so it does not become the current run of what follows; the
    context manager is kept so it is never finalised (which would fail the run)."""
    context = contextvars.copy_context()
    manager = ledger.observe_run(db, candidate)
    context.run(manager.__enter__)
    kept.append(manager)


def _one_run(db: Database, index: int, abandon_every: int, kept: list) -> None:
    with ledger.observe_run(db, CANDIDATE) as run:
        with run.step("DOT_SOAK_EXTRACT", role="producer") as step:
            step.touched(10)
        if abandon_every and index % abandon_every == abandon_every // 2:
            _abandon(db, f"{CANDIDATE}-child", kept)  # nested in `run`: an orphan to be
        with run.step("DOT_SOAK_VALIDATE", role="verifier") as step:
            step.touched(10)


def emit(settings: Settings, stop) -> None:
    db = Database(settings.url)
    log = _Log(settings, "emitted")
    count = [0]

    def record(envelope) -> None:
        count[0] += 1
        log.write(id=str(envelope.id), t=envelope.time.timestamp())

    default_bus().stream.subscribe(on_next=record)
    kept: list = []
    started, index = time.monotonic(), 0
    while not stop.is_set():
        index += 1
        if settings.abandon_every and index % settings.abandon_every == 0:
            _abandon(db, f"{CANDIDATE}-abandoned", kept)  # a stuck run to be
        else:
            _one_run(db, index, settings.abandon_every, kept)
        ahead = count[0] / settings.rate - (time.monotonic() - started)
        if ahead > 0:
            stop.wait(ahead)
        elif ahead < -1.0:
            # Behind by more than a second (a busy machine): do not burst to catch up.
            started -= ahead + 1.0
    log.close()
    db.dispose()
    # Leave without finalising the runs left in flight: they stay abandoned.
    os._exit(0)


# --- the relay --------------------------------------------------------------------------


def relay(settings: Settings, stop) -> None:
    db = Database(settings.url)
    log = _Log(settings, "relay")
    with Relay(db, [load_sinks_file(settings.sinks_file)[0]]) as relay_:
        while not stop.is_set():
            started = time.perf_counter()
            report = relay_.run_once(settings.batch)
            seconds = time.perf_counter() - started
            log.write(
                t=time.time(),
                seconds=seconds,
                claimed=report.total("claimed"),
                delivered=report.total("delivered"),
                retried=report.total("retried"),
                dead=report.total("dead"),
                fanned_out=report.total("fanned_out"),
            )
            if not report.busy:
                stop.wait(settings.idle_seconds)
    log.close()
    db.dispose()


# --- the relay's drain rate and its raw baseline ----------------------------------------

# Keeping up with a trickle, a relay claims what arrived during its last cycle, so its
# rate is the arrival rate, whatever it could do. What it can do is measured on a second
# sink of the same webhook (its own path), left to gather a backlog for
# ``capacity_every`` seconds and then drained in full batches (``Relay.drain``), every
# burst timed. Right after each burst, in the same process so that both see the same
# machine, the raw probe does the same work by hand on a table of PROBE_ROWS rows that
# never grows: a claim (FOR UPDATE SKIP LOCKED) and an acknowledgement, each committed, and
# each event sent by the relay's own webhook sink. A busier machine slows both; only the
# relay slows if its tables' growth does.
PROBE_TABLE = "soak_probe"
PROBE_ROWS = 1000
PROBE_PATH = "/probe"  # the webhook answers these and records nothing
PROBE_SETUP = (
    f"CREATE TABLE {PROBE_TABLE} (id integer PRIMARY KEY, state text NOT NULL, "
    "attempts integer NOT NULL DEFAULT 0, updated_at timestamptz)",
    f"INSERT INTO {PROBE_TABLE} (id, state) "
    f"SELECT g, 'pending' FROM generate_series(1, {PROBE_ROWS}) g",
)
PROBE_CLAIM = f"""
UPDATE {PROBE_TABLE} SET state = 'delivering', attempts = attempts + 1, updated_at = now()
WHERE id IN (SELECT id FROM {PROBE_TABLE} WHERE state = 'pending' ORDER BY id
             LIMIT %(events)s FOR UPDATE SKIP LOCKED)
RETURNING id
"""
PROBE_ACK = (
    f"UPDATE {PROBE_TABLE} SET state = 'pending', updated_at = now() WHERE id = ANY(%(ids)s)"
)


def create_probe_table(db: Database) -> None:
    with db.begin() as conn:
        for statement in PROBE_SETUP:
            conn.exec_driver_sql(statement)


def probe(raw, sink: Sink, outbox_row: dict, events: int, batch: int) -> float:
    """Seconds for ``events`` events by hand, in batches of ``batch``: the claim and the
    acknowledgement in raw SQL on the probe table, each event sent by the relay's own
    webhook sink (rendered, signed, POSTed), so the probe does the relay's per-event work
    too and differs from it only by the tables it reads and writes."""
    started = time.perf_counter()
    cursor = raw.cursor()
    for _ in range(-(-events // batch)):
        cursor.execute(PROBE_CLAIM, {"events": batch})
        ids = [row[0] for row in cursor.fetchall()]
        raw.commit()
        for event in ids:
            sink.deliver(Delivery(uuid.uuid4(), sink.name, event, "probe", 1, 0, outbox_row))
        cursor.execute(PROBE_ACK, {"ids": ids})
        raw.commit()
    return time.perf_counter() - started


def _an_outbox_row(db: Database) -> dict:
    with db.read() as conn:
        return dict(
            conn.execute(sa.select(event_outbox).order_by(event_outbox.c.seq.desc()).limit(1))
            .mappings()
            .one()
        )


def capacity(settings: Settings, stop) -> None:
    db = Database(settings.url)
    log = _Log(settings, "capacity")
    sink = load_sinks_file(settings.sinks_file)[1]
    url = urlsplit(sink.url)
    probe_sink = build_sink(
        sink.model_copy(update={"name": "soak-probe", "url": f"http://{url.netloc}{PROBE_PATH}"})
    )
    raw = db.engine.raw_connection()
    outbox_row = None
    with Relay(db, [sink]) as relay_:
        while not stop.wait(settings.capacity_every):
            started = time.perf_counter()
            drained = relay_.drain(settings.batch).total("delivered")
            seconds = time.perf_counter() - started
            events = min(max(drained, settings.batch), PROBE_ROWS)
            outbox_row = outbox_row or _an_outbox_row(db)
            raw_seconds = probe(raw, probe_sink, outbox_row, events, settings.batch)
            log.write(
                t=time.time(),
                delivered=drained,
                seconds=seconds,
                probe_events=events,
                probe_seconds=raw_seconds,
            )
    raw.close()
    probe_sink.close()
    log.close()
    db.dispose()


# --- the outbox sensor ------------------------------------------------------------------


def sensor(settings: Settings, stop) -> None:
    import dagster as dg

    from procobs_dagster.definitions import build_definitions
    from procobs_dagster.defs.resources import DeliverySinks, ProcobsDatabase

    log = _Log(settings, "sensor")
    sinks_file = str(settings.sinks_file)
    defs = build_definitions(
        ProcobsDatabase(database_url=settings.url), DeliverySinks(sinks_file=sinks_file)
    )
    definition = defs.resolve_sensor_def("event_outbox_sensor")
    cursor = None
    with dg.instance_for_test() as instance:
        while not stop.is_set():
            started = time.perf_counter()
            with dg.build_sensor_context(
                instance=instance,
                cursor=cursor,
                resources={"procobs_db": ProcobsDatabase(database_url=settings.url)},
                definitions=defs,
            ) as context:
                data = definition.evaluate_tick(context)
            seconds = time.perf_counter() - started
            cursor = data.cursor or cursor
            log.write(t=time.time(), seconds=seconds, requests=len(data.run_requests or ()))
            stop.wait(max(0.0, settings.sensor_every - seconds))
    log.close()


# --- retention and the sweeps -----------------------------------------------------------


def retain(db: Database, settings: Settings) -> tuple[dict, dict, dict]:
    """One retention pass over every table the soak grows, with its short ages: the rows
    each job moved or removed, the seconds each job took, and each table's rows right
    after its own job (so a slow job after it does not count against it).

    The policies count whole days (and keep the outbox at least one), so each job is
    judged at a ``now`` shifted to make its days end the soak's age in seconds ago: the
    ledger and the audit log keep 0 days judged ``age`` in the past (their archived_at is
    that time), the delivery queue keeps 1 day judged a day minus ``age`` ahead."""
    now = utcnow()
    runs = maintenance.run_retention(
        db,
        maintenance.RetentionPolicy(completed=0, failed=0, cancelled=0, stuck=0, orphan=0),
        now=now - dt.timedelta(seconds=settings.ledger_age_seconds),
    )
    rows_after = count_rows(db, LEDGER_TABLES)
    delivery = maintenance.prune_delivery(
        db,
        maintenance.TablePolicy(delivered_days=1, dead_days=1, outbox_days=1),
        now=now + dt.timedelta(days=1, seconds=-settings.delivered_age_seconds),
    )
    rows_after |= count_rows(db, ("event_outbox", "delivery_state"))
    audit = maintenance.archive_audit_log(
        db,
        maintenance.TablePolicy(audit_days=0),
        now=now - dt.timedelta(seconds=settings.audit_age_seconds),
    )
    rows_after |= count_rows(db, ("audit_log",))
    counts = {
        "process_run_observation": runs.runs,
        "process_component_observation": runs.components,
        "process_status_history": runs.history,
        **delivery.deleted,
        **audit.archived,
    }
    seconds = {"ledger": runs.seconds, "delivery": delivery.seconds, "audit": audit.seconds}
    return counts, seconds, rows_after


def count_rows(db: Database, tables: tuple[str, ...]) -> dict[str, int]:
    with db.read() as conn:
        return {
            table: conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()
            for table in tables
        }


def _judged(report: maintenance.SweepReport) -> tuple[dict, dict, None]:
    return {"judged": len(report.verdicts)}, {}, None


def maintain(settings: Settings, stop) -> None:
    db = Database(settings.url)
    log = _Log(settings, "maintenance")
    jobs = {
        "retention": (settings.retention_every, lambda: retain(db, settings)),
        "stuck_sweep": (
            settings.stuck_every,
            lambda: _judged(
                maintenance.sweep_stuck(db, default_sla_seconds=settings.stuck_sla_seconds)
            ),
        ),
        "orphan_sweep": (
            settings.orphan_every,
            lambda: _judged(
                maintenance.sweep_orphans(db, grace_seconds=settings.orphan_grace_seconds)
            ),
        ),
    }
    # Like the schedules: the first of each falls one interval after the start.
    due = {name: time.monotonic() + every for name, (every, _) in jobs.items()}
    while not stop.is_set():
        name = min(due, key=due.get)
        if stop.wait(max(0.0, due[name] - time.monotonic())):
            break
        every, job = jobs[name]
        started = time.perf_counter()
        counts, parts, rows_after = job()
        seconds = time.perf_counter() - started
        record = {"t": time.time(), "job": name, "seconds": seconds, "counts": counts}
        if parts:
            record["parts"] = parts
        if rows_after:
            record["rows_after"] = rows_after
        log.write(**record)
        due[name] = max(due[name] + every, time.monotonic())
    log.close()
    db.dispose()
