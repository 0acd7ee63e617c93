"""The Dagster runs sensor: every run of every job the instance knows, into the ledger.

It stays thin: defs/sources/event_log.py reads Dagster's event log as plain values,
sources/dagster_runs.py maps them to workflow-engine reports and records them. The cursor
is the storage id of the last run status change handled (and, when a tick stopped inside a
run's records, where in them); a database error fails the tick, and Dagster then keeps
the previous cursor, so nothing is skipped — a tick read again records nothing twice.
The sensor requests no run.
"""

import os

import dagster as dg

from procobs_dagster import discovery
from procobs_dagster.defs.automation import int_setting
from procobs_dagster.defs.conventions import LOCATION_NAME
from procobs_dagster.defs.resources import ProcobsDatabase
from procobs_dagster.defs.sources.event_log import InstanceEventLog
from procobs_dagster.sources import dagster_runs

# Dagster records read per tick, recorded in one transaction: a few seconds on an idle
# machine (bench/dagster_runs.py), room to spare under the 60 s deadline on a busy one.
TICK_RECORDS = 500
# Record procobs's own runs too (1), in the ledger without an event; default 0.
OBSERVE_OWN_RUNS_ENV = "PROCOBS_OBSERVE_OWN_RUNS"
OBSERVE_OWN_RUNS = bool(int_setting(os.environ, OBSERVE_OWN_RUNS_ENV, 0, (0, 1)))


def procobs_location(context: dg.SensorEvaluationContext) -> dagster_runs.ProcobsLocation:
    """procobs's code location as this tick sees it: the name it was loaded under (else
    LOCATION_NAME) and the names of its jobs."""
    if context.repository_def is None:
        raise dg.DagsterInvariantViolationError(
            "dagster_runs_sensor needs its code location's definitions to tell procobs's own "
            "runs apart: evaluate it with build_sensor_context(definitions=...)"
        )
    origin = context.code_location_origin
    return dagster_runs.ProcobsLocation(
        name=origin.location_name if origin is not None else LOCATION_NAME,
        job_names=frozenset(job.name for job in context.repository_def.get_all_jobs()),
    )


def summary(reading: dagster_runs.Reading, recorded) -> str:
    """The tick's one line in the UI: what it read, what was new, what it left out."""
    own = (
        f"{len(reading.unannounced)} report(s) of procobs's own runs recorded without an event"
        if reading.unannounced
        else f"{reading.own_left_out} status change(s) of procobs's own runs left out"
    )
    return (
        f"{reading.records} record(s) read: {reading.runs} run status change(s) recorded, "
        f"{recorded.events} new report(s), {recorded.duplicates} already recorded; {own}"
        + ("" if reading.caught_up else "; more to read")
    )


def dagster_runs_sensor_for(observe_own_runs: bool) -> dg.SensorDefinition:
    """The sensor, recording procobs's own runs too when ``observe_own_runs``."""

    @dg.sensor(
        name="dagster_runs_sensor",
        default_status=dg.DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=15,
        description=(
            "Records every run of every job this Dagster instance knows, other code "
            "locations included, as a workflow-engine run of the ledger (candidate "
            "PROC-CAND:workflow:dagster/<location>/<job>): each step a component, asset "
            f"materialisations and their row counts as evidence; up to {TICK_RECORDS} event "
            "log records per tick. procobs's own runs are "
            + (
                "recorded without an event (PROCOBS_OBSERVE_OWN_RUNS=1)."
                if observe_own_runs
                else "left out (PROCOBS_OBSERVE_OWN_RUNS=1 records them, without an event)."
            )
        ),
    )
    def dagster_runs_sensor(
        context: dg.SensorEvaluationContext, procobs_db: ProcobsDatabase
    ) -> dg.SensorResult:
        reading = dagster_runs.read(
            InstanceEventLog(context.instance),
            dagster_runs.Position.decode(context.cursor),
            budget=TICK_RECORDS,
            procobs=procobs_location(context),
            observe_own=observe_own_runs,
        )
        catalog = discovery.load_catalog(discovery.default_catalog_path())
        recorded = dagster_runs.record(procobs_db.current(), reading, catalog=catalog)
        return dg.SensorResult(
            skip_reason=summary(reading, recorded), cursor=reading.position.encode()
        )

    return dagster_runs_sensor


dagster_runs_sensor = dagster_runs_sensor_for(OBSERVE_OWN_RUNS)
