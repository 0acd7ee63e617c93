"""`procobs birth`: the owner-gated birth of a process definition from a verified candidate."""

from pathlib import Path

import click

from procobs_dagster.cli.context import CliContext, pass_cli
from procobs_dagster.cli.discovery import catalog_option, load
from procobs_dagster.cli.output import emit_json, json_option, say
from procobs_dagster.cli.params import IDENTIFIER, NAME
from procobs_dagster.discovery.birth import birth as birth_api


@click.command()
@click.argument("candidate", type=IDENTIFIER)
@click.option(
    "--definition-code",
    required=True,
    type=IDENTIFIER,
    help="The new process definition's code, e.g. PROC:kg.",
)
@click.option(
    "--approved-by", type=NAME, help="The owner approving the birth (recorded in the audit log)."
)
@catalog_option
@json_option
@pass_cli
def birth(
    cli: CliContext,
    candidate: str,
    definition_code: str,
    approved_by: str | None,
    catalog_path: Path | None,
    as_json: bool,
) -> None:
    """Create the process definition of CANDIDATE, if its runs verify it.

    The verdict is recomputed in the same transaction; anything but verified_candidate
    is refused with its reason and nothing is written. Observation is never a birth:
    this command is the only writer of process_definition and birth_registry.
    """
    catalog = load(catalog_path)
    with cli.ready_database().begin() as conn:
        record = birth_api(
            conn, catalog, candidate, definition_code=definition_code, approved_by=approved_by
        )
    if as_json:
        emit_json(record.as_dict())
        return
    say(
        f"born: {record.definition_code} from {record.candidate_code}, approved by "
        f"{record.approved_by} at {record.born_at.isoformat(timespec='seconds')}"
    )
    say(f"proof: run {record.proving_run_id} ({record.proof_source})")
