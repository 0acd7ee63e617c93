"""The `procobs` command."""

import sys

import click
import sqlalchemy as sa

from procobs_dagster import __version__
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
from procobs_dagster.errors import ProcobsError


def _one_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class ProcobsGroup(click.Group):
    """Turns procobs errors into one line on stderr and a non-zero exit code."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except ProcobsError as exc:
            click.echo(f"procobs: error: {exc}", err=True)
            sys.exit(exc.exit_code)
        except sa.exc.IntegrityError as exc:
            click.echo(
                f"procobs: error: the database refused the write: {_one_line(exc)}", err=True
            )
            sys.exit(1)
        except sa.exc.OperationalError as exc:
            click.echo(f"procobs: error: database error: {_one_line(exc)}", err=True)
            sys.exit(3)


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
