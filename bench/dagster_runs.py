"""Dagster runs sensor: the records of a Dagster instance's runs recorded in the ledger by
dagster_runs_sensor ticks, against reading the same records from the event log alone.

An instance (Dagster's default SQLite storage, in a temporary folder) holds --runs runs of
another location's job with --steps steps, each step materialising a table with its row
count: per run, a start and an end, and per step a start, a materialisation and a success.
The raw baseline reads them all as the sensor does (run status changes in storage order, a
run's step records when it ends, --budget records per reading) and maps them to reports,
recording nothing. The sensor path ticks dagster_runs_sensor as the daemon would (cursor
carried from tick to tick), each tick reading and recording its records in the procobs
database (PostgreSQL) in one transaction. Prints the longest tick (goal: under 10 s, well
inside Dagster's 60 s sensor deadline), both rates and their ratio.
"""

import tempfile
import time

import dagster as dg
from _common import fresh_postgres, parser, report

from procobs_dagster.definitions import build_definitions
from procobs_dagster.defs.conventions import LOCATION_NAME
from procobs_dagster.defs.resources import ProcobsDatabase
from procobs_dagster.defs.sources import sensors
from procobs_dagster.defs.sources.event_log import CODE_LOCATION_TAG, InstanceEventLog
from procobs_dagster.sources import dagster_runs

TICK_GOAL_SECONDS = 10.0


def wide_job(steps: int) -> dg.JobDefinition:
    """A job of ``steps`` independent ops, each materialising a table of its own."""

    def make(n: int) -> dg.OpDefinition:
        @dg.op(name=f"load_{n:03d}")
        def load(context: dg.OpExecutionContext) -> None:
            context.log_event(
                dg.AssetMaterialization(f"warehouse/table_{n:03d}", metadata={"row_count": n})
            )

        return load

    ops = [make(n) for n in range(steps)]

    @dg.job(name="wide_job", executor_def=dg.in_process_executor)
    def job():
        for op in ops:
            op()

    return job


def read_all(instance: dg.DagsterInstance, budget: int) -> tuple[int, int]:
    """(records read, reports made) reading everything as the sensor does, recording none."""
    procobs = dagster_runs.ProcobsLocation(LOCATION_NAME, frozenset())
    position, records, reports = dagster_runs.Position(), 0, 0
    while True:
        reading = dagster_runs.read(
            InstanceEventLog(instance), position, budget=budget, procobs=procobs
        )
        records += reading.records
        reports += reading.reports
        position = reading.position
        if reading.caught_up:
            return records, reports


def tick_all(instance: dg.DagsterInstance, db) -> list[float]:
    """Tick the sensor until a tick finds nothing new; each tick's seconds."""
    url = db.url.render_as_string(hide_password=False)
    procobs_db = ProcobsDatabase(database_url=url)
    defs = build_definitions(procobs_db)
    sensor = defs.resolve_sensor_def("dagster_runs_sensor")
    ticks, cursor = [], None
    while True:
        started = time.perf_counter()
        with dg.build_sensor_context(
            instance=instance,
            cursor=cursor,
            definitions=defs,
            resources={"procobs_db": procobs_db},
        ) as context:
            moved = sensor.evaluate_tick(context).cursor
        ticks.append(time.perf_counter() - started)
        if moved == cursor:
            return ticks
        cursor = moved


def main() -> None:
    cli = parser(__doc__.splitlines()[0])
    cli.add_argument("--runs", type=int, default=20)
    cli.add_argument("--steps", type=int, default=50)
    args = cli.parse_args()
    budget = sensors.TICK_RECORDS
    with (
        fresh_postgres(args.database_url, "dagster_runs") as db,
        tempfile.TemporaryDirectory() as home,
        dg.DagsterInstance.from_config(home) as instance,
    ):
        job = wide_job(args.steps)
        for _ in range(args.runs):
            result = job.execute_in_process(
                instance=instance,
                tags={CODE_LOCATION_TAG: "warehouse"},
                run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
            )
            assert result.success
        started = time.perf_counter()
        records, reports = read_all(instance, budget)
        raw_seconds = time.perf_counter() - started
        ticks = tick_all(instance, db)
    sensor_seconds = sum(ticks)
    longest = max(ticks)
    raw_rate, sensor_rate = records / raw_seconds, records / sensor_seconds
    report(
        f"dagster runs sensor: {args.runs} runs of {args.steps} steps, {records} event log "
        f"records, {reports} reports (Dagster on SQLite, procobs on PostgreSQL, "
        f"{budget} records per tick)",
        [
            (
                "longest sensor tick",
                f"{longest:8.3f} s  over {len(ticks)} ticks "
                f"(goal < {TICK_GOAL_SECONDS:g} s: "
                f"{'met' if longest < TICK_GOAL_SECONDS else 'NOT met'})",
            ),
            ("raw: read and map only", f"{raw_rate:8.0f} records/s  ({raw_seconds:.2f} s)"),
            (
                "sensor ticks: read, map, record",
                f"{sensor_rate:8.0f} records/s  ({sensor_seconds:.2f} s)",
            ),
            ("ratio to the raw reading", f"{sensor_rate / raw_rate:8.2f}"),
        ],
    )


if __name__ == "__main__":
    main()
