"""`procobs workflow`: workflow-engine reports — ingest a file, replay, settle, list."""

import datetime as dt
from pathlib import Path

import click

from procobs_dagster.cli.context import CliContext, pass_cli
from procobs_dagster.cli.discovery import catalog_option, load
from procobs_dagster.cli.output import (
    batch_progress,
    batches,
    echo_problems,
    echo_table,
    emit_json,
    json_option,
    say,
)
from procobs_dagster.cli.params import BATCH, ROWS, SafePath
from procobs_dagster.sources import (
    dagster_runs,
    domain_events,
    openlineage,
    workflow_ledger,
    workflow_store,
)

RUN_COLUMNS = ("run_key", "job", "placement", "parent_run_key", "parent_missing", "ledger_run")
# How each source's raw reports are read back (`replay`).
PARSERS = {openlineage.SOURCE: openlineage.parse, dagster_runs.SOURCE: dagster_runs.parse}


@click.group()
def workflow() -> None:
    """Workflow engines as a source: OpenLineage events and Dagster's runs in the ledger."""


@workflow.command()
@click.argument("jsonl_file", type=SafePath(dir_okay=False, path_type=Path))
@catalog_option
@json_option
@pass_cli
def ingest(cli: CliContext, jsonl_file: Path, catalog_path: Path | None, as_json: bool) -> None:
    """Feed a file of OpenLineage events (one per line, as the file transport writes
    them) to the ledger, in one transaction: a bad line refuses the whole file."""
    db = cli.ready_database()
    try:
        report = openlineage.ingest_file(db, jsonl_file, catalog=load(catalog_path))
    except domain_events.IngestError as exc:
        echo_problems(jsonl_file, exc.problems, domain_events.MAX_REPORTED_PROBLEMS)
        raise
    counts = report.as_dict()
    if as_json:
        emit_json(counts)
        return
    say(
        f"read {counts['received']} events from {jsonl_file}: {counts['events']} new, "
        f"{counts['duplicates']} already ingested, {counts['ignored']} without a run"
    )
    for name, value in counts.items():
        if name not in ("received", "events", "duplicates", "ignored"):
            say(f"  {name.replace('_', ' ')}: {value}")


@workflow.command()
@click.option(
    "--source",
    type=click.Choice(sorted(PARSERS)),
    default=openlineage.SOURCE,
    show_default=True,
    help="Whose raw reports to replay.",
)
@click.option("--batch", type=BATCH, default=500, show_default=True)
@catalog_option
@json_option
@pass_cli
def replay(
    cli: CliContext, source: str, batch: int, catalog_path: Path | None, as_json: bool
) -> None:
    """Derive the ledger again from a source's raw reports, as its mapping is now.

    Runs are replayed `--batch` at a time, each batch committed on its own; replaying again
    changes nothing. Where a run was placed and how it ended are never taken back."""
    report = workflow_ledger.replay(
        cli.ready_database(),
        source=source,
        parse=PARSERS[source],
        catalog=load(catalog_path),
        batch=batch,
        progress=batch_progress(as_json),
    )
    if as_json:
        emit_json(report.as_dict())
        return
    unreadable = f", {report.unreadable} left as they were (unreadable)"
    say(
        f"replayed {report.events} events of {report.runs} runs in {batches(report.batches)}"
        + (unreadable if report.unreadable else "")
    )
    for name, value in report.recorded.as_dict().items():
        if value and name not in ("events", "duplicates"):
            say(f"  {name.replace('_', ' ')}: {value}")


@workflow.command()
@click.option(
    "--parent-grace",
    type=click.IntRange(0, 7 * 24 * 3600),
    default=int(workflow_ledger.DEFAULT_PARENT_GRACE.total_seconds()),
    show_default=True,
    help="Seconds a run waits for its parent before it is placed on its own.",
)
@click.option("--batch", type=BATCH, default=500, show_default=True)
@catalog_option
@json_option
@pass_cli
def settle(
    cli: CliContext, parent_grace: int, batch: int, catalog_path: Path | None, as_json: bool
) -> None:
    """Place the runs that waited longer than the grace for a parent that never arrived:
    each becomes a run of its own, flagged parent_missing. (`procobs serve` does this
    every minute.)"""
    catalog = load(catalog_path)
    grace = dt.timedelta(seconds=parent_grace)
    report = workflow_ledger.in_transaction(
        cli.ready_database(),
        lambda conn: workflow_ledger.settle_held(conn, catalog=catalog, grace=grace, limit=batch),
    )
    if as_json:
        emit_json(report.as_dict())
        return
    say(
        f"placed {report.parent_missing} run(s) whose parent never arrived, "
        f"{report.runs_placed + report.components_placed - report.parent_missing} "
        "whose parent did"
    )


@workflow.command("runs")
@click.option("--held", is_flag=True, help="Only runs still waiting for their parent.")
@click.option("--parent-missing", is_flag=True, help="Only runs placed without their parent.")
@click.option("--limit", type=ROWS, default=50, show_default=True)
@json_option
@pass_cli
def runs_(cli: CliContext, held: bool, parent_missing: bool, limit: int, as_json: bool) -> None:
    """List reported workflow runs, newest first: where each sits in the ledger."""
    with cli.ready_database().read() as conn:
        reported = workflow_store.reported_runs(
            conn, held=held, parent_missing=parent_missing, limit=limit
        )
    rows = [
        {
            "source": run.source,
            "run_key": run.run_key,
            "job": run.facts.job.ref,
            "placement": run.placement,
            "parent_run_key": run.parent_run_key,
            "parent_missing": run.parent_missing,
            "ledger_run": str(run.process_run_id) if run.process_run_id else None,
            "component_run_id": str(run.component_run_id) if run.component_run_id else None,
        }
        for run in reported
    ]
    if as_json:
        emit_json(rows)
    else:
        echo_table(rows, RUN_COLUMNS, empty="no reported workflow runs")
