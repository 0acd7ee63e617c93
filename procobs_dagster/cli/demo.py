"""`procobs demo`: the sample pipeline on the configured (default: embedded) database."""

import click

from procobs_dagster.cli.context import CliContext, pass_cli
from procobs_dagster.cli.output import echo_table
from procobs_dagster.demo.pipeline import run_demo


@click.command()
@pass_cli
def demo(cli: CliContext) -> None:
    """Migrate, observe a sample knowledge-graph run (extract → validate), and show it."""
    result = run_demo(cli.database)
    run = result["run"]
    click.echo(f"database:  {result['database']}")
    click.echo(f"run:       {run.process_run_id}  {run.process_candidate_code}  {run.status}")
    click.echo(f"           correlation_id={run.correlation_id}  output_ref={run.output_ref}")
    click.echo("components:")
    echo_table(
        (c.as_dict() for c in result["components"]),
        ("component_run_id", "component_role", "dot_code", "status", "event_code", "evidence_ref"),
        empty="  none",
    )
    click.echo(f"history:   {len(result['history'])} status changes recorded")
    click.echo(
        f"events:    {result['events_emitted']} written to the outbox "
        "(only active types are; see `procobs events status`)"
    )
    verdict = result["discovery"]
    click.echo(f"discovery: {verdict.candidate_code} is {verdict.status}: {verdict.summary}")
    click.echo(f"next:      procobs runs show {run.process_run_id}")
    click.echo(f"           procobs discovery explain {verdict.candidate_code}")
