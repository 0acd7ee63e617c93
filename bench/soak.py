"""Soak: wrapped runs emitting events, the relay, the outbox sensor, retention and the sweeps, all at once.

For ``--minutes`` (default 10) on a throwaway PostgreSQL database, every process.* event
type active, these run side by side, each in a process of its own (bench/_soak_workers.py):

- wrapped runs through the observe API (``observe_run`` and two steps: 6 events a run) at
  ``--rate`` events per second; every ``--abandon-every``-th run is left in flight (a
  worker that died: the stuck sweep's work) and as many runs end with a nested run still
  in flight (the orphan sweep's);
- the relay (``Relay.run_once`` looped as ``procobs relay run`` loops it: batches of
  ``--batch``, ``--idle`` seconds when nothing is due) delivering to a local webhook, a
  small HTTP server of its own that records the event id (``ce-id``) of every POST;
- ``event_outbox_sensor`` ticking every ``--sensor-every`` seconds (its own interval, 30 s)
  on a test Dagster instance, cursor carried; the delivery runs it requests are not
  executed, the relay above delivers;
- retention and the two sweeps, one at a time as the deployment runs them, on cadences
  scaled down from their schedules: the stuck sweep every 15 s (every 15 minutes, /60)
  with a 60 s SLA (6 hours), the orphan sweep every 60 s (hourly) with a 10 s grace
  (300 s), retention of the ledger, the delivery queue and the audit log every
  ``--retention-every`` seconds (daily; hourly for the delivery queue) with ages of
  seconds instead of days.

Every minute it prints the events emitted and delivered, the delivery lag (emission to
arrival at the webhook) p50/p99, the relay's cycles, its drain rate against a raw
baseline, the sensor ticks, how long retention (split into the ledger, the delivery queue
and the audit log) and the sweeps took, and the rows and bytes (``pg_total_relation_size``)
of the live tables and the archives.

The drain rate: keeping up with a trickle, the relay claims what arrived during its last
cycle, so its rate is merely the arrival rate. A second webhook sink (its own path) is
left to gather ``--capacity-every`` seconds of events and then drained in full batches
(``Relay.drain``), in a process of its own; right after each burst, in that process, a raw
probe does the same work: a ``FOR UPDATE SKIP LOCKED`` claim and an acknowledgement by
hand, each committed, on a table that never grows, and each event sent through the relay's
own webhook sink. A busier machine slows both; only the relay slows if its tables' growth
does.

Then the emitter stops, the relay drains, and the goals are judged:

- **lost = 0**: every event the emitter committed (seen on its process-wide event bus,
  which publishes only committed events) reached the webhook at least once;
- **relay rate flat within ±20%**: the least-squares line through the per-minute ratios
  of the relay's drain rate to the raw probe's (the first minute, the warm-up, left out when at
  least three remain) changes by at most 20% of their mean over the run. The ratio, not
  the rate: on a shared machine the rate follows whatever else runs, which slows the
  probe alike; the unadjusted slope of the drain rate is printed too;
- **tables bounded**: after every retention age has passed (the baseline pass), each live
  table's rows after the last retention pass, per event emitted within its retention age,
  are at most ``--tolerance`` times the same after the baseline pass (per event, because
  on a shared machine the emission rate itself wanders);
- the longest sensor tick stays under 10 s.

Exit status 1 if a goal is not met, 2 if a soak process died.
"""

import bisect
import dataclasses
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa
import yaml
from _common import fresh_postgres, parser, report
from _soak_workers import (
    LEDGER_TABLES,
    LIVE_TABLES,
    WEBHOOK_PATH,
    Settings,
    capacity,
    create_probe_table,
    emit,
    maintain,
    receive,
    relay,
    sensor,
)

from procobs_dagster.delivery import SinkConfig
from procobs_dagster.events.types import ProcessEventType
from procobs_dagster.store.tables import event_type_registry

SECRET_ENV = "PROCOBS_BENCH_SOAK_SECRET"
FLAT_WITHIN = 0.20
TICK_GOAL_SECONDS = 10.0
MINUTE = 60.0
STOP_SECONDS = 30.0  # a process given this long to finish after stop, then terminated


class Tail:
    """The JSON lines a worker appended to its file since the last read."""

    def __init__(self, path: Path):
        self.path = path
        self.offset = 0

    def read(self) -> list[dict]:
        if not self.path.exists():
            return []
        with self.path.open("rb") as file:
            file.seek(self.offset)
            data = file.read()
        complete = data[: data.rfind(b"\n") + 1]  # a line still being written waits
        self.offset += len(complete)
        return [json.loads(line) for line in complete.splitlines()]


@dataclasses.dataclass
class Observed:
    """Everything the workers reported so far."""

    emitted: dict[str, float] = dataclasses.field(default_factory=dict)  # id -> occurred
    received: dict[str, float] = dataclasses.field(default_factory=dict)  # id -> first arrival
    duplicates: int = 0
    relay: list[dict] = dataclasses.field(default_factory=list)
    capacity: list[dict] = dataclasses.field(default_factory=list)
    sensor: list[dict] = dataclasses.field(default_factory=list)
    maintenance: list[dict] = dataclasses.field(default_factory=list)

    def take(self, tails: dict[str, Tail]) -> None:
        # Arrivals first: an event read as received is then found among the emitted.
        for record in tails["received"].read():
            if record["id"] in self.received:
                self.duplicates += 1
            else:
                self.received[record["id"]] = record["t"]
        for record in tails["emitted"].read():
            self.emitted[record["id"]] = record["t"]
        for name in ("relay", "capacity", "sensor", "maintenance"):
            getattr(self, name).extend(tails[name].read())

    def lost(self) -> set[str]:
        return self.emitted.keys() - self.received.keys()


def activate_process_events(db) -> None:
    with db.begin() as conn:  # a throwaway database: activate the types directly
        conn.execute(
            event_type_registry.update()
            .where(event_type_registry.c.event_type.in_([t.value for t in ProcessEventType]))
            .values(active=True)
        )


def write_sinks_file(settings: Settings, port: int) -> None:
    """The webhook every event must reach, and the one the drain rate is measured on."""
    os.environ[SECRET_ENV] = "soak-secret"  # inherited by the processes started after this
    sinks = [
        SinkConfig(
            name=name,
            kind="webhook",
            url=f"http://127.0.0.1:{port}{path}",
            secret_env=SECRET_ENV,
        )
        for name, path in (("soak-webhook", WEBHOOK_PATH), ("soak-capacity", "/capacity"))
    ]
    settings.sinks_file.write_text(
        yaml.safe_dump({"sinks": [sink.model_dump(mode="json") for sink in sinks]})
    )


def table_sizes(db) -> dict[str, tuple[int, int]]:
    """Rows and bytes (with indexes and TOAST) of the live tables and every archive table."""
    with db.read() as conn:
        archives = conn.execute(
            sa.text(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
                "AND tablename LIKE '%\\_archive' ORDER BY tablename"
            )
        ).scalars()
        sizes = {}
        for table in (*LIVE_TABLES, *archives):
            rows, size = conn.execute(
                sa.text(f"SELECT count(*), pg_total_relation_size('{table}') FROM {table}")
            ).one()
            sizes[table] = (rows, size)
        return sizes


def vacuum_activity(db) -> dict[str, tuple[int, int, int]]:
    """Per live table: dead rows now, autovacuum runs and autoanalyze runs so far."""
    with db.read() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT relname, n_dead_tup, autovacuum_count, autoanalyze_count "
                "FROM pg_stat_user_tables WHERE relname = ANY(:tables)"
            ),
            {"tables": list(LIVE_TABLES)},
        )
        return {row.relname: tuple(row[1:]) for row in rows}


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def drain_rates(bursts: list[dict]) -> tuple[float, float]:
    """The relay's drain rate and the raw probe's over a window's bursts, events/s."""
    drained = sum(b["delivered"] for b in bursts)
    seconds = sum(b["seconds"] for b in bursts)
    probed = sum(b["probe_seconds"] for b in bursts)
    if not drained or not seconds or not probed:
        return float("nan"), float("nan")
    return drained / seconds, sum(b["probe_events"] for b in bursts) / probed


def within(records: list[dict], start: float, end: float) -> list[dict]:
    return [r for r in records if start <= r["t"] < end]


def mib(size: int) -> str:
    return f"{size / 2**20:8.2f} MiB"


def maintenance_summary(records: list[dict]) -> str:
    """How often each job ran and its longest pass; retention's split into its parts."""
    shown = []
    for job in ("retention", "stuck_sweep", "orphan_sweep"):
        passes = [r for r in records if r["job"] == job]
        if not passes:
            continue
        longest = max(passes, key=lambda r: r["seconds"])
        parts = ", ".join(f"{k} {v:.2f}" for k, v in longest.get("parts", {}).items())
        shown.append(
            f"{job} x{len(passes)} longest {longest['seconds']:.2f} s"
            + (f" ({parts})" if parts else "")
        )
    return "; ".join(shown)


def print_minute(minute: int, start: float, seen: Observed, sizes: dict) -> tuple[float, float]:
    """One minute's lines and table sizes; returns the minute's drain and raw probe rates."""
    lo, hi = start + minute * MINUTE, start + (minute + 1) * MINUTE
    emitted = sum(lo <= t < hi for t in seen.emitted.values())
    arrived = [(i, t) for i, t in seen.received.items() if lo <= t < hi]
    lags = [t - seen.emitted[i] for i, t in arrived if i in seen.emitted]
    cycles = within(seen.relay, lo, hi)
    busy = sum(1 for c in cycles if c["claimed"])
    rate, raw = drain_rates(within(seen.capacity, lo, hi))
    ticks = within(seen.sensor, lo, hi)
    jobs = maintenance_summary(within(seen.maintenance, lo, hi))
    print(
        f"minute {minute + 1:>3}: emitted {emitted:6d} ({emitted / MINUTE:6.1f}/s)  "
        f"delivered {len(arrived):6d}  lag p50 {percentile(lags, 0.5):6.3f} s "
        f"p99 {percentile(lags, 0.99):6.3f} s  relay {busy} busy cycles\n"
        f"    drain {rate:5.0f} events/s, raw probe {raw:5.0f}/s, ratio {rate / raw:5.2f}; "
        f"    sensor {len(ticks)} tick(s), longest "
        f"{max((t['seconds'] for t in ticks), default=0):.2f} s; {jobs or 'no maintenance'}",
        flush=True,
    )
    for table, (rows, size) in sizes.items():
        print(f"    {table:<40} {rows:10d} rows {mib(size)}", flush=True)
    return rate, raw


def flatness(rates: list[float]) -> tuple[float, float]:
    """(change of the least-squares line over the run relative to the mean, last third /
    first third); the first minute is left out as warm-up when at least three remain."""
    rates = [r for r in rates if r == r]  # minutes without a burst have no rate
    if len(rates) >= 4:
        rates = rates[1:]
    if len(rates) < 2:
        return float("nan"), float("nan")
    n, mean = len(rates), statistics.fmean(rates)
    xs = range(n)
    x_mean = statistics.fmean(xs)
    slope = sum((x - x_mean) * (r - mean) for x, r in zip(xs, rates, strict=True)) / sum(
        (x - x_mean) ** 2 for x in xs
    )
    third = max(1, n // 3)
    return slope * (n - 1) / mean, statistics.fmean(rates[-third:]) / statistics.fmean(
        rates[:third]
    )


def table_ages(settings: Settings) -> dict[str, float]:
    """The age, in seconds, after which retention removes each live table's rows."""
    return {
        "event_outbox": settings.delivered_age_seconds,
        "delivery_state": settings.delivered_age_seconds,
        "audit_log": settings.audit_age_seconds,
        **dict.fromkeys(LEDGER_TABLES, settings.ledger_age_seconds),
    }


def boundedness(seen: Observed, settings: Settings, baseline_at: float, emit_end: float) -> dict:
    """Per live table: its rows per event emitted within its retention age, after the
    baseline pass and after the last pass before emission ended (with the rows).

    Rows alone would follow the emission rate, which a busy machine moves by half; at a
    steady state the rows a table keeps are the events of its last age, so rows per such
    event stay level, and grow only if retention falls behind."""
    passes = [
        m for m in seen.maintenance if m["job"] == "retention" and baseline_at <= m["t"] <= emit_end
    ]
    if len(passes) < 2:
        return {}
    emitted = sorted(seen.emitted.values())

    def per_event(record: dict, table: str, age: float) -> tuple[int, float]:
        rows = record["rows_after"][table]
        window = bisect.bisect(emitted, record["t"]) - bisect.bisect(emitted, record["t"] - age)
        return rows, rows / window if window else float("inf")

    return {
        table: (per_event(passes[0], table, age), per_event(passes[-1], table, age))
        for table, age in table_ages(settings).items()
    }


class Workers:
    """The soak's processes, started here and stopped (then, if need be, terminated) here."""

    def __init__(self, settings: Settings):
        self.context = multiprocessing.get_context("spawn")
        self.settings = settings
        self.stop = self.context.Event()
        self.stop_emitting = self.context.Event()
        self.processes: dict[str, multiprocessing.process.BaseProcess] = {}

    def start(self, name: str, target, *args) -> None:
        process = self.context.Process(target=target, args=(self.settings, *args), name=name)
        process.start()
        self.processes[name] = process

    def dead(self) -> list[str]:
        return [
            f"{name} (exit {p.exitcode})"
            for name, p in self.processes.items()
            if p.exitcode not in (None, 0) or (p.exitcode == 0 and name != "emitter")
        ]

    def end(self, name: str, event) -> None:
        event.set()
        process = self.processes[name]
        process.join(STOP_SECONDS)
        if process.is_alive():
            process.terminate()
            process.join()

    def end_all(self) -> None:
        self.stop_emitting.set()
        self.stop.set()
        for name in list(self.processes):
            self.end(name, self.stop_emitting if name == "emitter" else self.stop)


def main() -> int:
    cli = parser(__doc__.splitlines()[0])
    cli.add_argument("--minutes", type=float, default=10.0, help="how long runs are emitted")
    cli.add_argument("--rate", type=float, default=50.0, help="events emitted per second")
    cli.add_argument("--batch", type=int, default=100, help="the relay's batch")
    cli.add_argument("--idle", type=float, default=1.0, help="the relay's idle wait, seconds")
    cli.add_argument("--abandon-every", type=int, default=50, help="0: no run left in flight")
    cli.add_argument("--sensor-every", type=float, default=30.0)
    cli.add_argument("--capacity-every", type=float, default=30.0, help="seconds between bursts")
    cli.add_argument("--retention-every", type=float, default=30.0)
    cli.add_argument("--delivered-age", type=float, default=30.0, help="seconds")
    cli.add_argument("--audit-age", type=float, default=120.0, help="seconds")
    cli.add_argument("--ledger-age", type=float, default=60.0, help="seconds")
    cli.add_argument(
        "--tolerance", type=float, default=1.25, help="rows per event, last pass / baseline pass"
    )
    cli.add_argument("--drain-timeout", type=float, default=180.0, help="seconds")
    cli.add_argument(
        "--workdir", help="keep the processes' JSON-lines records here (default: a temporary one)"
    )
    args = cli.parse_args()
    for name in (
        "minutes",
        "rate",
        "idle",
        "sensor_every",
        "capacity_every",
        "retention_every",
        "drain_timeout",
    ):
        if not 0 < getattr(args, name) <= 10_000:
            cli.error(f"--{name.replace('_', '-')} must be above 0 and at most 10000")
    if not 1 <= args.batch <= 10_000 or not 0 <= args.abandon_every <= 1_000_000:
        cli.error("--batch must be 1 to 10000 and --abandon-every 0 to 1000000")
    if not 1 <= args.tolerance <= 100:
        cli.error("--tolerance must be 1 to 100")
    for name in ("delivered_age", "audit_age", "ledger_age"):
        if not 1 <= getattr(args, name) <= 1_000_000:
            cli.error(f"--{name.replace('_', '-')} must be 1 to 1000000 seconds")

    with (
        fresh_postgres(args.database_url, "soak") as db,
        tempfile.TemporaryDirectory() as tmp,
    ):
        if args.workdir:
            tmp = str(Path(args.workdir).resolve())
            Path(tmp).mkdir(parents=True, exist_ok=True)
            if any(Path(tmp).iterdir()):
                cli.error(f"--workdir {tmp} is not empty")
        settings = Settings(
            url=db.url.render_as_string(hide_password=False),
            workdir=tmp,
            rate=args.rate,
            batch=args.batch,
            idle_seconds=args.idle,
            abandon_every=args.abandon_every,
            sensor_every=args.sensor_every,
            capacity_every=args.capacity_every,
            retention_every=args.retention_every,
            stuck_every=15.0,
            orphan_every=60.0,
            stuck_sla_seconds=60,
            orphan_grace_seconds=10,
            delivered_age_seconds=args.delivered_age,
            audit_age_seconds=args.audit_age,
            ledger_age_seconds=args.ledger_age,
        )
        activate_process_events(db)
        create_probe_table(db)
        workers = Workers(settings)
        try:
            return soak(db, settings, workers, args)
        finally:
            workers.end_all()


def soak(db, settings: Settings, workers: Workers, args) -> int:
    ports = workers.context.Queue()
    workers.start("receiver", receive, ports, workers.stop)
    write_sinks_file(settings, ports.get(timeout=60))
    for name, target in (
        ("relay", relay),
        ("capacity", capacity),
        ("sensor", sensor),
        ("maintenance", maintain),
    ):
        workers.start(name, target, workers.stop)
    workers.start("emitter", emit, workers.stop_emitting)
    tails = {
        name: Tail(settings.path(name))
        for name in ("emitted", "received", "relay", "capacity", "sensor", "maintenance")
    }
    seen = Observed()
    start = time.time()
    emit_end = start + args.minutes * MINUTE
    minutes = int(-(-args.minutes // 1))
    print(
        f"soak: {args.minutes:g} min at {args.rate:g} events/s (PostgreSQL); "
        f"retention every {settings.retention_every:g} s (delivered {settings.delivered_age_seconds:g} s, "
        f"audit {settings.audit_age_seconds:g} s, ledger {settings.ledger_age_seconds:g} s)",
        flush=True,
    )
    rates, raws = [], []
    for minute in range(minutes):
        boundary = min(start + (minute + 1) * MINUTE, emit_end)
        while time.time() < boundary:
            time.sleep(min(1.0, max(0.0, boundary - time.time())))
            if workers.dead():
                print(f"soak: a process died: {', '.join(workers.dead())}", file=sys.stderr)
                return 2
        seen.take(tails)
        rate, raw = print_minute(minute, start, seen, table_sizes(db))
        rates.append(rate)
        raws.append(raw)
    workers.end("emitter", workers.stop_emitting)
    drain_started = time.time()
    seen.take(tails)
    while seen.lost() and time.time() - drain_started < args.drain_timeout:
        if workers.dead():
            print(f"soak: a process died: {', '.join(workers.dead())}", file=sys.stderr)
            return 2
        time.sleep(1.0)
        seen.take(tails)
    drained = time.time() - drain_started
    lost = seen.lost()
    final_sizes = table_sizes(db)
    vacuum = vacuum_activity(db)
    return judge(
        seen, settings, args, start, emit_end, (rates, raws), lost, drained, final_sizes, vacuum
    )


def judge(seen, settings, args, start, emit_end, rates, lost, drained, sizes, vacuum) -> int:
    rates, raws = rates
    ratios = [r / w for r, w in zip(rates, raws, strict=True)]
    change, thirds = flatness(ratios)
    raw_change, raw_thirds = flatness(rates)
    flat = abs(change) <= FLAT_WITHIN
    ages = max(
        settings.delivered_age_seconds, settings.audit_age_seconds, settings.ledger_age_seconds
    )
    baseline_at = start + ages + settings.retention_every
    bounded = boundedness(seen, settings, baseline_at, emit_end)
    unbounded = [t for t, (first, last) in bounded.items() if last[1] > first[1] * args.tolerance]
    longest_tick = max((t["seconds"] for t in seen.sensor), default=float("nan"))
    lags = [t - seen.emitted[i] for i, t in seen.received.items() if i in seen.emitted]
    emitted = len(seen.emitted)
    failed = []
    if lost:
        failed.append("lost events")
    if not flat:
        failed.append("relay rate not flat")
    if not bounded or unbounded:
        failed.append("tables not bounded")
    if not longest_tick < TICK_GOAL_SECONDS:
        failed.append("sensor tick")
    lines = [
        (
            "events emitted",
            f"{emitted} in {emit_end - start:.0f} s ({emitted / (emit_end - start):.1f}/s; "
            f"target {args.rate:g}/s)",
        ),
        (
            "events received",
            f"{len(seen.received)} distinct, {seen.duplicates} duplicate(s); "
            f"drained {drained:.1f} s after emission stopped",
        ),
        ("events lost (goal 0)", f"{len(lost)}: {'met' if not lost else 'NOT met'}"),
        (
            "delivery lag",
            f"p50 {percentile(lags, 0.5):.3f} s, p99 {percentile(lags, 0.99):.3f} s, "
            f"max {max(lags, default=float('nan')):.3f} s",
        ),
        (
            "drain rate per minute",
            " ".join(f"{r:.0f}" for r in rates) + " events/s",
        ),
        ("raw probe per minute", " ".join(f"{r:.0f}" for r in raws) + " events/s"),
        ("drain / raw probe per minute", " ".join(f"{r:.2f}" for r in ratios)),
        (
            "drain rate slope, unadjusted",
            f"{raw_change:+.1%} over the run (least squares), last/first third {raw_thirds:.2f}",
        ),
        (
            "drain / raw slope (goal within ±20%)",
            f"{change:+.1%} over the run (least squares), last/first third {thirds:.2f}: "
            f"{'met' if flat else 'NOT met'}",
        ),
        (
            "longest sensor tick (goal < 10 s)",
            f"{longest_tick:.2f} s over {len(seen.sensor)} ticks: "
            f"{'met' if longest_tick < TICK_GOAL_SECONDS else 'NOT met'}",
        ),
    ]
    if not bounded:
        lines.append(
            ("tables bounded", "NOT judged: fewer than two retention passes after the ages")
        )
    for table, ((first_rows, first), (last_rows, last)) in bounded.items():
        verdict = "NOT met" if table in unbounded else "met"
        lines.append(
            (
                f"rows after retention: {table}",
                f"{first_rows} ({first:.2f} per event of its age) at the baseline pass -> "
                f"{last_rows} ({last:.2f}) at the last: x{last / first:.2f} "
                f"(goal <= x{args.tolerance:g}): {verdict}",
            )
        )
    for table, (rows, size) in sizes.items():
        dead, vacuums, analyzes = vacuum.get(table, (0, 0, 0))
        activity = (
            f"; {dead} dead, {vacuums} autovacuum(s), {analyzes} autoanalyze(s)"
            if table in vacuum
            else ""
        )
        lines.append((f"at the end: {table}", f"{rows} rows {mib(size)}{activity}"))
    report(f"soak: {args.minutes:g} min at {args.rate:g} events/s (PostgreSQL)", lines)
    if failed:
        print(f"\nsoak: goal(s) not met: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
