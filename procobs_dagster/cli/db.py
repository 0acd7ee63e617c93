"""`procobs db`: migrations, status and the rolled-back rehearsal."""

import os
import pathlib

import click

from procobs_dagster import output_files
from procobs_dagster.cli.confirm import confirm, confirm_replacing, yes_option
from procobs_dagster.cli.context import CliContext, pass_cli
from procobs_dagster.cli.output import echo_table, emit_json, json_option, say
from procobs_dagster.cli.params import IDENTIFIER, SafePath
from procobs_dagster.errors import InvalidInput, NotConfirmed
from procobs_dagster.input_files import describe
from procobs_dagster.ledger.rehearsal import write_probe_run
from procobs_dagster.store import migrate


@click.group()
def db() -> None:
    """Schema migrations of the procobs database."""


@db.command()
@click.argument("revision", default="head", type=IDENTIFIER)
@pass_cli
def upgrade(cli: CliContext, revision: str) -> None:
    """Migrate the database up to REVISION (default: head)."""
    migrate.upgrade(cli.database, revision)
    with cli.database.read() as conn:
        say(f"{cli.database.display_url}: at {migrate.current_revision(conn)}")


@db.command(context_settings={"ignore_unknown_options": True})
@click.argument("revision", default="-1", type=IDENTIFIER)
@yes_option
@click.option(
    "--drop-births",
    is_flag=True,
    help="Also when it drops birth_registry holding births (owner decisions; with --yes).",
)
@pass_cli
def downgrade(cli: CliContext, revision: str, yes: bool, drop_births: bool) -> None:
    """Migrate the database down to REVISION (default: one step; 'base' drops everything).

    It drops the tables of the migrations it undoes, with their rows: it says which and
    asks first (or needs --yes). Dropping birth_registry while it holds births also
    needs --drop-births."""
    database = cli.existing_database()
    plan = migrate.plan_downgrade(database, revision)
    dropped = ", ".join(f"{t} ({n} rows)" for t, n in plan.dropped.items()) or "no tables"
    if plan.births and not drop_births:
        raise NotConfirmed(
            f"downgrading to {plan.target or 'base'} drops birth_registry with {plan.births}"
            " birth(s): pass --drop-births as well (nothing changed)"
        )
    confirm(
        f"downgrade {database.display_url} from {plan.current} to {plan.target or 'base'},"
        f" dropping {dropped}?",
        yes=yes,
        refusal=f"downgrading to {plan.target or 'base'} drops {dropped}",
    )
    done = migrate.downgrade(database, revision, drop_births=drop_births)
    say(f"{database.display_url}: at {done.target or 'base'}")


@db.command()
@json_option
@pass_cli
def status(cli: CliContext, as_json: bool) -> None:
    """Show the database's schema revision and the migrations still to apply."""
    if cli.sqlite_file_missing():
        current = None  # looked at, not created: `db upgrade` creates it
    else:
        with cli.database.read() as conn:
            current = migrate.current_revision(conn)
            migrate.check_versioned(conn, current, f"database {cli.database.display_url}")
    pending = migrate.pending_revisions(current)
    result = {
        "database": cli.database.display_url,
        "current": current,
        "head": migrate.head_revision(),
        "pending": pending,
    }
    if as_json:
        emit_json(result)
        return
    say(f"database: {result['database']}")
    say(f"current:  {current or 'none (empty database)'}")
    say(f"head:     {result['head']}")
    say(f"pending:  {', '.join(pending) if pending else 'none, up to date'}")


@db.command()
@json_option
@pass_cli
def rehearse(cli: CliContext, as_json: bool) -> None:
    """Apply the migrations and a test observation in a rolled-back transaction.

    Prints the row counts of the guarded tables (birth_registry, process_definition,
    event_outbox, audit_log) before, inside and after; exits 1 if any count changed.
    """
    result = migrate.rehearse(cli.database, write_probe_run)
    if as_json:
        emit_json(result)
    else:
        say(f"rehearsed {result['revision_before'] or 'empty'} → {result['head']}, rolled back")
        echo_table(
            ({"table": t, **counts} for t, counts in result["tables"].items()),
            ("table", "before", "after", "after_rollback"),
            empty="no guarded tables",
        )
        say("changed: " + (", ".join(result["changed"]) or "none — birth-free"))
    if result["changed"]:
        raise SystemExit(1)


@db.command("render-sql")
@click.option(
    "--out",
    type=SafePath(file_okay=False, path_type=pathlib.Path),
    default=pathlib.Path("sql"),
    show_default=True,
)
@yes_option
def render_sql(out: pathlib.Path, yes: bool) -> None:
    """Write the reviewed Postgres packet: OUT/apply.sql and its OUT/rollback.sql.

    Files that exist and would change are replaced only when confirmed (or with --yes)."""
    files = {
        out / name: migrate.render_sql(direction)
        for direction, name in (("upgrade", "apply.sql"), ("downgrade", "rollback.sql"))
    }
    if os.path.lexists(out) and not out.is_dir():
        raise InvalidInput(f"cannot write the SQL packet into {describe(out)}: not a directory")
    if out.is_dir():
        for path in files:
            output_files.check_target(path, "SQL file")
        changed = [p for p, text in files.items() if p.exists() and p.read_text() != text]
        confirm_replacing(changed, yes=yes)
    out.mkdir(parents=True, exist_ok=True)
    for path, text in files.items():
        output_files.write_text(path, text)
        say(f"wrote {path}")
