"""`procobs events`: the registry, its schemas, activation and the runtime switches."""

from pathlib import Path

import click

from procobs_dagster import output_files
from procobs_dagster.cli.confirm import confirm_replacing, yes_option
from procobs_dagster.cli.context import CliContext, pass_cli
from procobs_dagster.cli.output import echo_problems, echo_table, emit_json, json_option, say
from procobs_dagster.cli.params import IDENTIFIER, NAME, ROWS, SafePath
from procobs_dagster.events import activation, registry, runtime
from procobs_dagster.events import audit as audit_log
from procobs_dagster.events import schemas as event_schemas
from procobs_dagster.events.types import EventFamily
from procobs_dagster.sources import domain_events

TYPE_COLUMNS = ("event_type", "family", "stream", "lane", "severity", "active", "schema_version")
CHANGE_COLUMNS = ("event_type", "family", "stream", "lane", "severity", "current", "proposed")
AUDIT_COLUMNS = ("recorded_at", "actor", "action", "event_type", "subject")


@click.group()
def events() -> None:
    """Event types, their activation and the emission switches."""


@events.command("types")
@click.option(
    "--family", type=click.Choice([f.value for f in EventFamily]), help="Only this family."
)
@json_option
@pass_cli
def types_(cli: CliContext, family: str | None, as_json: bool) -> None:
    """List the event type registry."""
    with cli.ready_database().read() as conn:
        rows = [t.as_dict() for t in registry.registered_types(conn, family)]
    if as_json:
        emit_json(rows)
    else:
        echo_table(rows, TYPE_COLUMNS, empty="no event types")


@events.command()
@click.option(
    "--out",
    type=SafePath(file_okay=False, path_type=Path),
    default=Path("schemas"),
    show_default=True,
)
@yes_option
def schemas(out: Path, yes: bool) -> None:
    """Write one JSON Schema per event type, generated from the payload models.

    Schema files procobs wrote for event types that no longer exist are removed; other
    files are never touched. Replacing changed files asks first (or needs --yes)."""
    update = event_schemas.plan(out)
    confirm_replacing([*update.changed, *update.stale], yes=yes)
    written, removed = event_schemas.write(out, update)
    say(f"wrote {len(written)} schemas to {out}")
    for path in removed:
        say(f"removed {path} (no such event type)")


@events.command()
@json_option
@pass_cli
def status(cli: CliContext, as_json: bool) -> None:
    """Show the runtime switches and how many types are active."""
    with cli.ready_database().read() as conn:
        switches = [runtime.read(conn, s).as_dict() for s in runtime.SWITCHES]
        active = [t.event_type for t in registry.active_event_types(conn)]
    if as_json:
        emit_json({"switches": switches, "active_types": active})
        return
    echo_table(switches, ("name", "value", "updated_at", "updated_by"), empty="")
    say(f"active types: {', '.join(active) if active else 'none'}")


@events.command()
@click.option("--limit", type=ROWS, default=20, show_default=True)
@click.option(
    "--action", type=IDENTIFIER, help="Only this action (e.g. activation.applied, event.emitted)."
)
@json_option
@pass_cli
def audit(cli: CliContext, limit: int, action: str | None, as_json: bool) -> None:
    """Show the newest audit_log rows: emitted events and owner actions."""
    with cli.ready_database().read() as conn:
        rows = audit_log.newest(conn, limit, action)
    if as_json:
        emit_json(rows)
    else:
        echo_table(rows, AUDIT_COLUMNS, empty="no audit rows")


@events.command()
@click.argument("jsonl_file", type=SafePath(dir_okay=False, path_type=Path))
@json_option
@pass_cli
def ingest(cli: CliContext, jsonl_file: Path, as_json: bool) -> None:
    """Feed a JSON-lines file of domain events to the ledger, in one transaction."""
    db = cli.ready_database()
    try:
        report = domain_events.ingest_file(db, jsonl_file)
    except domain_events.IngestError as exc:
        echo_problems(jsonl_file, exc.problems, domain_events.MAX_REPORTED_PROBLEMS)
        raise
    if as_json:
        emit_json(report.as_dict())
        return
    say(
        f"read {report.events} events from {jsonl_file}: "
        f"{report.events - report.already_ingested} new, {report.already_ingested} already ingested"
    )
    for name, value in report.as_dict().items():
        if name not in ("events", "already_ingested"):
            say(f"  {name.replace('_', ' ')}: {value}")


@events.group("activation")
def activation_group() -> None:
    """Owner-gated activation of event types: stage a packet, review it, apply it."""


def _echo_changes(packet: activation.Packet) -> None:
    echo_table(
        (
            {
                **c.model_dump(),
                "current": "active" if c.current_active else "inactive",
                "proposed": "active" if c.proposed_active else "inactive",
            }
            for c in packet.changes
        ),
        CHANGE_COLUMNS,
        empty="no changes",
    )


@activation_group.command()
@click.argument("event_types", nargs=-1, required=True, type=IDENTIFIER)
@click.option(
    "--out",
    required=True,
    type=SafePath(dir_okay=False, writable=True, path_type=Path),
    help="Where to write the packet (JSON).",
)
@click.option("--deactivate", is_flag=True, help="Propose active=false instead of true.")
@yes_option
@pass_cli
def stage(
    cli: CliContext, event_types: tuple[str, ...], out: Path, deactivate: bool, yes: bool
) -> None:
    """Write a packet proposing to (de)activate EVENT_TYPES. Changes nothing.

    An existing OUT is replaced only when confirmed (or with --yes)."""
    output_files.check_target(out, "packet")
    confirm_replacing([out], yes=yes)
    with cli.ready_database().read() as conn:
        packet = activation.stage(conn, list(event_types), active=not deactivate)
    output_files.write_text(out, packet.to_json())
    say(f"staged packet {packet.packet_id} → {out} (nothing changed)")
    _echo_changes(packet)
    if not packet.emit_enabled:
        say("note: emission is off; activated types emit nothing until it is on")
    say(f"apply with: procobs events activation apply {out} --approved-by NAME")


@activation_group.command()
@click.argument("packet_file", type=SafePath(dir_okay=False, path_type=Path))
@json_option
@pass_cli
def show(cli: CliContext, packet_file: Path, as_json: bool) -> None:
    """Show a staged packet and whether it still applies."""
    packet = activation.Packet.load(packet_file)
    with cli.ready_database().read() as conn:
        applied = activation.applied_record(conn, packet)
    state = (
        f"applied by {applied['actor']} at {applied['recorded_at'].isoformat()}"
        if applied
        else "not applied"
    )
    if as_json:
        emit_json({"packet": packet.model_dump(mode="json"), "state": state})
        return
    say(f"packet {packet.packet_id} staged {packet.staged_at.isoformat()}: {state}")
    _echo_changes(packet)


@activation_group.command()
@click.argument("packet_file", type=SafePath(dir_okay=False, path_type=Path))
@click.option("--approved-by", type=NAME, help="The owner approving this activation (required).")
@pass_cli
def apply(cli: CliContext, packet_file: Path, approved_by: str | None) -> None:
    """Apply a staged packet as APPROVED_BY; audited. All or nothing."""
    packet = activation.Packet.load(packet_file)
    with cli.ready_database().begin() as conn:
        changes = activation.apply(conn, packet, approved_by=approved_by)
    say(f"applied packet {packet.packet_id}, approved by {approved_by.strip()}:")
    for change in changes:
        say(
            f"  {change.event_type}: active={str(change.current_active).lower()} → "
            f"{str(change.proposed_active).lower()}"
        )


def _switch_command(switch: runtime.Switch, name: str, help_text: str) -> click.Command:
    @click.command(name, help=help_text)
    @click.argument("state", type=click.Choice(["on", "off"]))
    @click.option("--approved-by", type=NAME, help="The owner approving this change (required).")
    @pass_cli
    def command(cli: CliContext, state: str, approved_by: str | None) -> None:
        with cli.ready_database().begin() as conn:
            change = runtime.set_switch(conn, switch, state == "on", approved_by=approved_by)
        if change.changed:
            say(f"{switch.name}: {change.before} → {change.after} (by {approved_by})")
        else:
            say(f"{switch.name} is already {change.after}; nothing changed")

    return command


events.add_command(
    _switch_command(
        runtime.EMISSION,
        "emission",
        "Turn event emission on or off (piece_event_runtime.emit_enabled); audited.",
    )
)
events.add_command(
    _switch_command(
        runtime.DRY_RUN_ONLY,
        "dry-run",
        "While on, every run the DOT wrapper records is a dry run "
        "(process_dot_runtime.dry_run_only); audited.",
    )
)
