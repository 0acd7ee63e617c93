"""`procobs demo`: the whole pipeline on the configured (default: embedded) database."""

import os
from pathlib import Path

import click

from procobs_dagster import delivery
from procobs_dagster.cli.context import CliContext, pass_cli
from procobs_dagster.cli.output import say
from procobs_dagster.demo import lineage
from procobs_dagster.demo.pipeline import (
    APPROVER,
    FEATURE,
    JOB_CANDIDATE,
    JOB_KINDS,
    Activation,
    DemoResult,
    WorkflowRun,
    run_demo,
    write_sinks_file,
)
from procobs_dagster.errors import ProcobsError
from procobs_dagster.store.engine import DEFAULT_HOME, masked_url, procobs_home, resolve_url

# Where `make ui` keeps its instance (the root dagster.yaml's storage).
DEFAULT_INSTANCE = Path(DEFAULT_HOME) / "dagster"
# Ticks the demo gives dagster_runs_sensor to read the instance's history (a tick reads up
# to its budget of records; the demo's history grows by a few runs per demo).
MAX_SENSOR_TICKS = 1000
# The candidate the demo's last line suggests explaining: the Dagster job of another location.
EXPLAINED_CANDIDATE = "PROC-CAND:workflow:kg-graph-job"


def _steps(components) -> str:
    return " → ".join(
        f"{c.dot_code} ({c.component_role}, {(c.evidence_ref or {}).get('rows_touched', 0)} rows)"
        for c in components
    )


def _runs(result: DemoResult) -> str:
    statuses: dict[str, list[int]] = {}
    for (status, dry), count in result.runs_by_status.items():
        statuses.setdefault(status, [0, 0])[bool(dry)] += count
    total = sum(result.runs_by_status.values())
    parts = [
        f"{status} {real + dry}" + (f" ({dry} dry)" if dry else "")
        for status, (real, dry) in sorted(statuses.items())
    ]
    return f"{total} in the ledger: {', '.join(parts)}"


def _activation(done: Activation) -> list[str]:
    switched = "; emission switched on" if done.emission_turned_on else ""
    if not done.activated:
        return [
            f"{', '.join(done.event_types)} already active, nothing staged{switched}"
            " (who activated them: procobs events audit --action activation.applied)"
        ]
    return [
        f'{", ".join(done.activated)} by "{APPROVER}" (packet {done.packet_file},'
        f" audited{switched})",
        "an owner does the same, or undoes it: procobs events activation stage"
        " [--deactivate] TYPE… --out FILE, then apply FILE --approved-by NAME",
    ]


def _events(result: DemoResult) -> str:
    by_type = ", ".join(f"{t} {n}" for t, n in result.kg_events.items())
    return (
        f"{sum(result.kg_events.values())} written to the outbox by the KG run ({by_type}),"
        f" {result.dry_run_events} by the dry run (event codes only);"
        f" {result.events_in_outbox} in the outbox"
    )


def _echo_ledger(result: DemoResult, workflows) -> None:
    run = result.kg_run
    say(f"database:  {result.database}")
    first, *more = _activation(result.activation)
    say(f"activated: {first}")
    for line in more:
        say(f"           {line}")
    say(f"observed:  {run.process_candidate_code} run {run.process_run_id}  {run.status}")
    say(f"           {_steps(result.kg_components)}")
    say(f"job queue: {JOB_CANDIDATE} run {result.job_run_id} (job_queue)  {' → '.join(JOB_KINDS)}")
    say(
        f"dry run:   {result.dry_run.process_candidate_code} run {result.dry_run.process_run_id}"
        "  (source_system=dry_run: proves wiring, never a process)"
    )
    workflows()
    say(f"runs:      {_runs(result)}")
    say(f"events:    {_events(result)}")
    snap, parity = result.snapshot, result.parity
    say(
        f"dossier:   {FEATURE}: {snap.completeness} (required {snap.required_present}/"
        f"{snap.required_count} present), {parity.verdict.value} with its baseline,"
        f" {snap.parity_hash}"
    )
    for score in result.scores:
        say(f"discovery: {score.candidate_code} is {score.status}: {score.summary}")


def _with_url(cli: CliContext, command: str, before: str = "") -> str:
    """``command`` given the demo's database in PROCOBS_DATABASE_URL, shown masked: a
    password never reaches the terminal or its scrollback."""
    shown = masked_url(cli.url)
    masked = shown != cli.url.render_as_string(hide_password=False)
    line = f"{before}PROCOBS_DATABASE_URL='{shown}' {command}"
    return line + ("  (with your password for ***)" if masked else "")


def _reads_the_demos_database(cli: CliContext) -> bool:
    """Whether a later command in the same shell (or the code location) reads the database
    the demo ran on: PROCOBS_DATABASE_URL, else the embedded default, not --database-url."""
    return resolve_url() == cli.url


def _ui_command(cli: CliContext, instance_dir: str) -> str:
    """`make ui` when it shows what the demo did: the same instance, and the same database
    (the code location reads PROCOBS_DATABASE_URL, else the embedded default); otherwise
    the dagster dev command that does."""
    if Path(instance_dir).resolve() == DEFAULT_INSTANCE.resolve() and _reads_the_demos_database(
        cli
    ):
        return "make ui"
    home = os.environ.get("DAGSTER_HOME") or instance_dir
    return _with_url(
        cli, "dagster dev -w workspace.yaml -w demo-workspace.yaml", f"DAGSTER_HOME={home} "
    )


def explain_command(cli: CliContext) -> str:
    """The explain command to try next, naming the demo's database when the demo was given
    it with --database-url: a bare `procobs` would read another one and explain that."""
    command = f"procobs discovery explain {EXPLAINED_CANDIDATE}"
    return command if _reads_the_demos_database(cli) else _with_url(cli, command)


def _echo_workflow(engine: str, what: str, run: WorkflowRun) -> None:
    say(
        f"workflow:  {engine}: {what} → {run.run.process_candidate_code} run"
        f" {run.run.process_run_id}  {run.run.status}"
    )
    say(f"           {_steps(run.components)}")


def _echo_workflows(result: DemoResult, location: str, dagster_ticks: int) -> None:
    sent = result.lineage
    _echo_workflow(
        "OpenLineage",
        f"{lineage.DAG_JOB} run {sent.dag_run_id} ({sent.events} events through procobs serve)",
        result.dag_run,
    )
    if result.dagster_run is not None:
        _echo_workflow(
            "Dagster",
            f"{location} run {result.dagster_run.run_key} (dagster_runs_sensor,"
            f" {dagster_ticks} tick(s))",
            result.dagster_run,
        )


def observe_demo_job(defs, instance, ticks: list[int]) -> str:
    """Run the demo location's job into ``instance`` as that location launches it, then
    evaluate dagster_runs_sensor over the instance until a tick finds nothing new (from
    the start of the instance's history: what is recorded already is a duplicate, so a
    second demo records only its own run). Returns the Dagster run id; the ticks it took
    go to ``ticks``."""
    import dagster as dg

    from procobs_dagster import demo_location
    from procobs_dagster.defs.in_process import QUIET
    from procobs_dagster.defs.sources.event_log import CODE_LOCATION_TAG

    job = demo_location.defs.resolve_job_def(demo_location.JOB_NAME)
    run = job.execute_in_process(
        QUIET, instance=instance, tags={CODE_LOCATION_TAG: demo_location.LOCATION_NAME}
    )
    sensor = defs.resolve_sensor_def("dagster_runs_sensor")
    cursor = None
    for tick in range(1, MAX_SENSOR_TICKS + 1):
        with dg.build_sensor_context(
            instance=instance,
            cursor=cursor,
            definitions=defs,
            resources={"procobs_db": defs.resources["procobs_db"]},
        ) as context:
            moved = sensor.evaluate_tick(context).cursor
        if moved == cursor:
            ticks.append(tick)
            return run.run_id
        cursor = moved
    raise ProcobsError(f"dagster_runs_sensor did not catch up in {MAX_SENSOR_TICKS} ticks")


@click.command()
@pass_cli
def demo(cli: CliContext) -> None:
    """Run the sample pipeline end to end: observe real work (a DOT run, a queued job, a dry
    run), an Airflow-like DAG run sent over OpenLineage through the HTTP receiver, and a
    Dagster job of the demo's own code location recorded by the Dagster runs sensor; scan a
    mission dossier, score the candidates, then materialise every asset and run every check
    with Dagster, in-process. The first run activates the KG run's event types as an owner
    would (a packet applied by a named approver, audited); the delivery job then delivers
    the outbox to a JSON-lines file under PROCOBS_HOME."""
    sink, sinks_file = write_sinks_file(procobs_home())
    # Dagster loads in about a second; the other commands do not need it.
    from procobs_dagster import demo_location
    from procobs_dagster.definitions import build_definitions
    from procobs_dagster.defs.in_process import QUIET, local_instance, materialize_all
    from procobs_dagster.defs.resources import DeliverySinks, procobs_database_at

    url = cli.database.url.render_as_string(hide_password=False)
    with procobs_database_at(url) as procobs_db, local_instance() as instance:
        defs = build_definitions(procobs_db, DeliverySinks(sinks_file=str(sinks_file)))
        ticks: list[int] = []
        result = run_demo(cli.database, lambda: observe_demo_job(defs, instance, ticks))
        location = f"{demo_location.LOCATION_NAME}/{demo_location.JOB_NAME}"
        _echo_ledger(result, lambda: _echo_workflows(result, location, ticks[0]))
        # Delivered first, so the outbox asset and the dead-letter check see the result.
        delivered = defs.resolve_job_def("delivery_job").execute_in_process(
            QUIET, instance=instance
        )
        report = materialize_all(defs, instance, {"dossier_feature": [FEATURE]}, quiet=True)
        where = instance.root_directory
    (observed,) = delivered.get_asset_observation_events()
    this_run = observed.asset_observation_data.asset_observation.metadata["delivered"].value
    with cli.database.read() as conn:
        (state,) = [s for s in delivery.status(conn) if s["sink"] == sink.name]
    say(
        f"delivery:  {this_run} delivered by"
        f" delivery_job to sink {sink.name} ({sink.path}): {state['delivered']} in all,"
        f" {state['dead']} dead"
    )
    failed = [e for e in report.check_evaluations if not e.passed]
    say(
        f"dagster:   {len(report.materializations)} assets materialised, "
        f"{len(report.check_evaluations)} checks run: "
        f"{len(report.check_evaluations) - len(failed)} passed, {len(failed)} failed"
        f"  (instance: {where})"
    )
    for evaluation in failed:
        say(f"           failed: {evaluation.check_name}: {evaluation.description}")
    say(f"next:      {_ui_command(cli, where)}")
    say("           → http://127.0.0.1:3000: the assets with their metadata, the checks,")
    say("           sensors and schedules, the demo location's kg_graph_job;")
    say(f"           {explain_command(cli)}")
