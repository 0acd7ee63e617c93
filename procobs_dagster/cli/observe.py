"""`procobs observe`: run any command as an observed component (a step of a run)."""

import hashlib
import os
import subprocess
import sys

import click

from procobs_dagster.cli.context import CliContext, pass_cli
from procobs_dagster.cli.params import FREE_TEXT, IDENTIFIER
from procobs_dagster.errors import ProcobsError
from procobs_dagster.ledger.observe import observe_step
from procobs_dagster.store.vocabulary import COMPONENT_ROLES

CHUNK = 64 * 1024


class CommandFailed(ProcobsError):
    """The observed command exited non-zero; procobs exits with the same code."""

    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code


@click.command(context_settings={"allow_interspersed_args": False})
@click.option(
    "--candidate", required=True, type=IDENTIFIER, help="Process candidate code of a run it opens."
)
@click.option(
    "--dot", "dot_code", required=True, type=IDENTIFIER, help="DOT code of this component."
)
@click.option("--role", type=click.Choice(COMPONENT_ROLES), default="step", show_default=True)
@click.option("--input-ref", type=FREE_TEXT, help="What the command consumes (provenance).")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@pass_cli
def observe(
    cli: CliContext,
    candidate: str,
    dot_code: str,
    role: str,
    input_ref: str | None,
    command: tuple[str, ...],
) -> None:
    """Run COMMAND as an observed component: `procobs observe --candidate C --dot D -- CMD …`.

    Joins the run named by PROCOBS_PROCESS_RUN_ID / PROCOBS_CORRELATION_ID when set (an
    unknown one makes it an orphan), else opens a run of CANDIDATE around it. Exit code 0
    completes the component, anything else fails it; stdout is passed through and its
    sha256 kept as output evidence. The command gets the variables to join the same run.
    """
    db = cli.ready_database()
    sys.stdout.flush()
    out = sys.stdout.buffer
    with observe_step(dot_code, db=db, candidate=candidate, role=role, input_ref=input_ref) as step:
        try:
            child = subprocess.Popen(
                command, stdout=subprocess.PIPE, env={**os.environ, **step.env()}
            )
        except OSError as exc:
            raise CommandFailed(f"cannot run {command[0]}: {exc.strerror}", 127) from None
        stdout_hash, size = hashlib.sha256(), 0
        with child.stdout:
            for chunk in iter(lambda: child.stdout.read1(CHUNK), b""):
                out.write(chunk)
                out.flush()
                stdout_hash.update(chunk)
                size += len(chunk)
        code = child.wait()
        if size:
            step.add_evidence(output_sha256=stdout_hash.hexdigest(), stdout_bytes=size)
        if code > 0:
            raise CommandFailed(f"{command[0]} exited with code {code}", code)
        if code < 0:  # killed by a signal: exit as a shell would report it
            raise CommandFailed(f"{command[0]} was killed by signal {-code}", 128 - code)
