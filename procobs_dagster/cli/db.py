"""`procobs db`: migrations, status and the rolled-back rehearsal."""

import pathlib

import click

from procobs_dagster.cli.context import CliContext, pass_cli
from procobs_dagster.cli.output import echo_table, emit_json, json_option, say
from procobs_dagster.ledger.rehearsal import write_probe_run
from procobs_dagster.store import migrate


@click.group()
def db() -> None:
    """Schema migrations of the procobs database."""


@db.command()
@click.argument("revision", default="head")
@pass_cli
def upgrade(cli: CliContext, revision: str) -> None:
    """Migrate the database up to REVISION (default: head)."""
    migrate.upgrade(cli.database, revision)
    with cli.database.read() as conn:
        say(f"{cli.database.display_url}: at {migrate.current_revision(conn)}")


@db.command()
@click.argument("revision", default="-1")
@pass_cli
def downgrade(cli: CliContext, revision: str) -> None:
    """Migrate the database down to REVISION (default: one step; 'base' drops everything)."""
    migrate.downgrade(cli.database, revision)
    with cli.database.read() as conn:
        say(f"{cli.database.display_url}: at {migrate.current_revision(conn) or 'base'}")


@db.command()
@json_option
@pass_cli
def status(cli: CliContext, as_json: bool) -> None:
    """Show the database's schema revision and the migrations still to apply."""
    with cli.database.read() as conn:
        current = migrate.current_revision(conn)
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
    type=click.Path(file_okay=False, path_type=pathlib.Path),
    default=pathlib.Path("sql"),
    show_default=True,
)
def render_sql(out: pathlib.Path) -> None:
    """Write the reviewed Postgres packet: OUT/apply.sql and its OUT/rollback.sql."""
    out.mkdir(parents=True, exist_ok=True)
    for direction, name in (("upgrade", "apply.sql"), ("downgrade", "rollback.sql")):
        (out / name).write_text(migrate.render_sql(direction))
        say(f"wrote {out / name}")
