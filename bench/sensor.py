"""Sensor drain: an outbox backlog drained by event_outbox_sensor ticks and the delivery runs
they request, against the relay benchmark's paths over the same events in the same run.

A backlog of outbox events (``--backlog``, default 100,000; the issue's goal is set at
1,000,000), built set-based like bench/relay.py's, is delivered three ways, each to its own
null sink, in batches of --batch: bench/relay.py's raw ``FOR UPDATE SKIP LOCKED``
claim-and-acknowledge loop (over rows fanned out beforehand), the relay draining
directly (``Relay.drain``, fan-out included), then the way the Dagster deployment does
it: the sensor ticks as the daemon would (cursor carried from tick to tick, one page per
tick), and every run it requests is executed in-process, Dagster overhead included.
Prints the longest tick (goal: under 10 s, well inside Dagster's 60 s sensor deadline)
and the drain rates with their ratios.
"""

import tempfile
import time
from pathlib import Path

import dagster as dg
import yaml
from _common import fresh_postgres, parser, report, timed, vacuum_analyze
from relay import build_backlog, fan_out, raw_loop

from procobs_dagster.definitions import build_definitions
from procobs_dagster.defs.in_process import QUIET
from procobs_dagster.defs.resources import DeliverySinks, ProcobsDatabase
from procobs_dagster.delivery import Relay, SinkConfig

EVENT_TYPE = "process.run.started"  # not a run outcome: no discovery refresh is requested
TICK_GOAL_SECONDS = 10.0
# Each path starts on these freshly vacuumed, not on the dead rows of the path before.
TABLES = ("event_outbox", "delivery_state", "delivery_cursor")


def sensor_drain(db, sinks_file: Path, count: int, batch: int) -> dict:
    """Tick event_outbox_sensor until it has nothing new, running each requested run.

    Returns when every event was delivered (the drain) and when the sensor had caught up
    with the outbox. Runs execute one after another here; under the daemon, later ticks
    overlap the first delivery run, whose relay drains everything already committed."""
    url = db.url.render_as_string(hide_password=False)
    defs = build_definitions(
        ProcobsDatabase(database_url=url), DeliverySinks(sinks_file=str(sinks_file))
    )
    sensor = defs.resolve_sensor_def("event_outbox_sensor")
    run_config = QUIET | {"ops": {"deliver_outbox": {"config": {"batch": batch}}}}
    ticks, runs, delivered, cursor, drained_at = [], 0, 0, None, None
    with dg.DagsterInstance.ephemeral() as instance:
        started = time.perf_counter()
        while True:
            tick_started = time.perf_counter()
            with dg.build_sensor_context(
                instance=instance,
                cursor=cursor,
                resources={"procobs_db": ProcobsDatabase(database_url=url)},
                definitions=defs,
            ) as context:
                data = sensor.evaluate_tick(context)
            ticks.append(time.perf_counter() - tick_started)
            if data.cursor == cursor and not data.run_requests:
                break
            cursor = data.cursor
            for request in data.run_requests:
                result = defs.resolve_job_def(request.job_name).execute_in_process(
                    run_config=run_config, instance=instance, tags=request.tags
                )
                runs += 1
                delivered += sum(
                    e.event_specific_data.asset_observation.metadata["delivered"].value
                    for e in result.all_events
                    if e.event_type_value == "ASSET_OBSERVATION"
                )
                if delivered == count and drained_at is None:
                    drained_at = time.perf_counter() - started
        caught_up_at = time.perf_counter() - started
    assert delivered == count, f"the sensor path delivered {delivered} of {count} events"
    return {
        "drained": drained_at,
        "caught_up": caught_up_at,
        "ticks": ticks,
        "runs": runs,
        "delivered": delivered,
    }


def main() -> None:
    cli = parser(__doc__.splitlines()[0])
    cli.add_argument("--backlog", "--events", dest="backlog", type=int, default=100_000)
    cli.add_argument("--batch", type=int, default=500)
    args = cli.parse_args()
    count, batch = args.backlog, args.batch
    results: dict[str, float] = {}
    with fresh_postgres(args.database_url, "sensor") as db, tempfile.TemporaryDirectory() as tmp:
        build_backlog(db, EVENT_TYPE, count)
        sinks = {
            name: SinkConfig(name=name, kind="null", event_types=(EVENT_TYPE,))
            for name in ("raw", "relay", "sensor")
        }
        fan_out(db, sinks["raw"], count)
        vacuum_analyze(db, *TABLES)
        with timed(results, "raw"):
            raw_done = raw_loop(db, "raw", batch, None)
        vacuum_analyze(db, *TABLES)
        with Relay(db, [sinks["relay"]]) as relay, timed(results, "relay"):
            relay_done = relay.drain(batch).total("delivered")
        sinks_file = Path(tmp) / "sinks.yaml"
        # What PROCOBS_SINKS_FILE would name; dumped, so `null` stays the string "null".
        sinks_file.write_text(yaml.safe_dump({"sinks": [sinks["sensor"].model_dump(mode="json")]}))
        vacuum_analyze(db, *TABLES)
        drained = sensor_drain(db, sinks_file, count, batch)
    raw_rate = raw_done / results["raw"]
    relay_rate = relay_done / results["relay"]
    sensor_rate = drained["delivered"] / drained["drained"]
    longest = max(drained["ticks"])
    report(
        f"sensor: a backlog of {count} outbox events drained (PostgreSQL, null sinks, "
        f"batches of {batch})",
        [
            (
                "longest sensor tick",
                f"{longest:8.3f} s  over {len(drained['ticks'])} ticks "
                f"(goal < {TICK_GOAL_SECONDS:g} s: "
                f"{'met' if longest < TICK_GOAL_SECONDS else 'NOT met'})",
            ),
            ("raw SKIP LOCKED loop", f"{raw_rate:8.0f} events/s  ({results['raw']:.2f} s)"),
            ("relay, drained directly", f"{relay_rate:8.0f} events/s  ({results['relay']:.2f} s)"),
            (
                "sensor ticks + delivery runs",
                f"{sensor_rate:8.0f} events/s  (all delivered after {drained['drained']:.2f} s; "
                f"sensor caught up after {drained['caught_up']:.2f} s, "
                f"{len(drained['ticks'])} ticks, {drained['runs']} runs in-process)",
            ),
            ("ratio to the relay", f"{sensor_rate / relay_rate:8.2f}"),
            ("ratio to the raw loop", f"{sensor_rate / raw_rate:8.2f}"),
        ],
    )


if __name__ == "__main__":
    main()
