"""`procobs runs`: read the observation ledger."""

import click

from procobs_dagster import ledger
from procobs_dagster.cli.context import CliContext, pass_cli
from procobs_dagster.cli.output import echo_table, emit_json, json_option, say
from procobs_dagster.cli.params import IDENTIFIER, ROWS

RUN_COLUMNS = (
    "process_run_id",
    "process_candidate_code",
    "status",
    "source_system",
    "started_at",
    "ended_at",
)
COMPONENT_COLUMNS = (
    "component_run_id",
    "component_role",
    "dot_code",
    "status",
    "event_code",
    "ended_at",
)
HISTORY_COLUMNS = ("changed_at", "subject_kind", "subject_id", "from_status", "to_status", "reason")


@click.group()
def runs() -> None:
    """Process runs recorded in the observation ledger."""


@runs.command("list")
@click.option("--status", help="Only runs in this status.")
@click.option("--candidate", type=IDENTIFIER, help="Only runs of this process candidate code.")
@click.option("--limit", type=ROWS, default=50, show_default=True)
@json_option
@pass_cli
def list_(
    cli: CliContext, status: str | None, candidate: str | None, limit: int, as_json: bool
) -> None:
    """List runs, newest first."""
    with cli.ready_database().read() as conn:
        records = ledger.list_runs(conn, status=status, candidate=candidate, limit=limit)
    rows = [r.as_dict() for r in records]
    if as_json:
        emit_json(rows)
    else:
        echo_table(rows, RUN_COLUMNS, empty="no runs")


@runs.command()
@click.argument("run_id")
@json_option
@pass_cli
def show(cli: CliContext, run_id: str, as_json: bool) -> None:
    """Show one run: its header, components and status history."""
    with cli.ready_database().read() as conn:
        run = ledger.get_run(conn, run_id)
        components = ledger.components_of(conn, run.process_run_id)
        history = ledger.history_of(conn, run.process_run_id)
    result = {
        "run": run.as_dict(),
        "components": [c.as_dict() for c in components],
        "history": [h.as_dict() for h in history],
    }
    if as_json:
        emit_json(result)
        return
    for key, value in result["run"].items():
        say(f"{key:>24}: {'-' if value is None else value}")
    say()
    say("components:")
    echo_table(result["components"], COMPONENT_COLUMNS, empty="  none")
    say()
    say("history:")
    echo_table(result["history"], HISTORY_COLUMNS, empty="  none")
