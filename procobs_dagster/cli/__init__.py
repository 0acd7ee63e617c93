"""The `procobs` command."""

import sys

import click

from procobs_dagster import __version__
from procobs_dagster.cli import failure
from procobs_dagster.cli.birth import birth
from procobs_dagster.cli.context import CliContext
from procobs_dagster.cli.db import db
from procobs_dagster.cli.demo import demo
from procobs_dagster.cli.discovery import discovery
from procobs_dagster.cli.dossier import dossier
from procobs_dagster.cli.events import events
from procobs_dagster.cli.observe import observe
from procobs_dagster.cli.relay import relay
from procobs_dagster.cli.retention import retention
from procobs_dagster.cli.runs import runs
from procobs_dagster.cli.serve import serve
from procobs_dagster.cli.sweep import sweep
from procobs_dagster.cli.workflow import workflow


class ProcobsGroup(click.Group):
    """Ends every command with one line on stderr and a documented exit code on failure
    (see ``failure``): never a traceback, never click's multi-line usage text."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, False, **extra)
        try:
            code = super().main(args, prog_name, complete_var, False, **extra)
        except BaseException as exc:  # every end is reported: see failure
            if isinstance(exc, SystemExit):
                raise
            sys.exit(failure.report(exc))
        # Without standalone mode click returns what ctx.exit(code) was given, else the
        # command's return value (None for every procobs command).
        sys.exit(code if isinstance(code, int) else 0)


@click.group(cls=ProcobsGroup)
@click.option(
    "--database-url",
    envvar="PROCOBS_DATABASE_URL",
    help="postgresql+psycopg2://… or sqlite:///…  [default: SQLite under $PROCOBS_HOME]",
)
@click.version_option(__version__, prog_name="procobs")
@click.pass_context
def main(ctx: click.Context, database_url: str | None) -> None:
    """procobs: observe processes — the run ledger, events, dossier and discovery."""
    if database_url is not None and not database_url.strip():
        # An unset shell variable ("$URL") must not quietly mean the SQLite default.
        raise click.BadParameter(
            "is empty: leave the option out for the SQLite default", param_hint="'--database-url'"
        )
    ctx.obj = CliContext(database_url)


main.add_command(birth)
main.add_command(db)
main.add_command(demo)
main.add_command(discovery)
main.add_command(dossier)
main.add_command(events)
main.add_command(observe)
main.add_command(runs)
main.add_command(retention)
main.add_command(sweep)
main.add_command(relay)
main.add_command(serve)
main.add_command(workflow)
