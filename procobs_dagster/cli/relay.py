"""`procobs relay`: deliver outbox events to sinks; look at and repair delivery."""

import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import click

from procobs_dagster import delivery
from procobs_dagster.cli.context import CliContext, pass_cli
from procobs_dagster.cli.output import (
    batch_progress,
    batches,
    echo_table,
    emit_json,
    json_option,
    say,
)
from procobs_dagster.cli.params import (
    BATCH,
    IDENTIFIER,
    NAME,
    ROWS,
    FiniteFloatRange,
    SafePath,
)
from procobs_dagster.delivery import Relay, RelayReport, SinkConfig
from procobs_dagster.delivery.relay import (
    DEFAULT_LEASE_SECONDS,
    MAX_IDLE_SECONDS,
    MAX_LEASE_SECONDS,
    MIN_IDLE_SECONDS,
    MIN_LEASE_SECONDS,
)
from procobs_dagster.environment import setting
from procobs_dagster.errors import ConfigurationError
from procobs_dagster.limits import name_problem, printable

STATUS_COLUMNS = (
    "sink",
    "pending",
    "delivering",
    "retry",
    "delivered",
    "dead",
    "oldest_undelivered_age_seconds",
    "next_due_at",
    "outbox_unscanned",
)
DEAD_COLUMNS = (
    "event_id",
    "sink",
    "event_type",
    "correlation_id",
    "attempts",
    "rejections",
    "dead_since",
    "last_error",
)
SINK_COLUMNS = ("name", "kind", "enabled", "url", "path", "secret_env", "secret_set", "ordered")
REPORT_COLUMNS = ("sink", "claimed", "delivered", "retried", "rejected", "dead", "expired")

sinks_file_option = click.option(
    "--sinks",
    "sinks_file",
    type=SafePath(dir_okay=False),
    envvar=delivery.SINKS_FILE_ENV,
    help=f"YAML sinks file (or ${delivery.SINKS_FILE_ENV}).  [default: the delivery_sink table]",
)


@click.group()
def relay() -> None:
    """Deliver outbox events to webhooks and files: at least once, retried, dead-lettered."""


def _configured(
    cli: CliContext, sinks_file: str | None, names: tuple[str, ...] = (), *, listing=False
) -> list[SinkConfig]:
    """The sinks of the file, else of the table. A table row that is no valid sink is
    named in a warning and left aside; to deliver, it is the error when it was asked for
    by name or when no other sink is left."""
    # click takes the variable set but empty for unset; a deployment's ${SINKS} left unset
    # must not quietly mean the table's sinks.
    sinks_file = sinks_file or setting(delivery.SINKS_FILE_ENV, "the delivery_sink table")
    if sinks_file:
        return delivery.load_sinks_file(sinks_file)
    with cli.ready_database().read() as conn:
        stored = delivery.load_sinks_table(conn)
    stored.check_names(names)
    if not listing:
        stored.check_usable()
    for row in stored.unusable:
        say(f"procobs: warning: {row}", err=True)
    return stored.configs


def _report_line(report: RelayReport) -> str:
    parts = []
    for counts in report.sinks.values():
        if counts.claimed or counts.expired or counts.fanned_out:
            shown = " ".join(f"{c}={getattr(counts, c)}" for c in REPORT_COLUMNS[1:])
            parts.append(f"sink={counts.sink} fanned_out={counts.fanned_out} {shown}")
    return "; ".join(parts)


@contextmanager
def _stop_on_signals(relay_: Relay) -> Iterator[None]:
    """Ctrl-C (or SIGTERM) finishes the delivery in flight, releases the rest of the
    batch and stops; a second Ctrl-C interrupts at once."""

    def stop(signum, _frame):
        relay_.request_stop()
        signal.signal(signal.SIGINT, signal.default_int_handler)

    previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _run_live(relay_: Relay, batch: int, idle: float) -> RelayReport:
    """The interactive display: running totals per sink, refreshed after each cycle."""
    from rich.live import Live
    from rich.markup import escape
    from rich.table import Table

    totals = RelayReport({})

    def render(note: str) -> Table:
        table = Table(title=f"procobs relay {relay_.relay_id} — {note}", title_justify="left")
        for column in REPORT_COLUMNS:
            table.add_column(column, justify="left" if column == "sink" else "right")
        for sink in relay_.sinks:
            counts = totals.sinks.get(sink.name)
            table.add_row(sink.name, *(str(getattr(counts, c, 0)) for c in REPORT_COLUMNS[1:]))
        return table

    with Live(render("starting"), refresh_per_second=4, transient=False) as live:

        def on_cycle(report: RelayReport) -> None:
            totals.add(report)
            live.update(render("Ctrl-C to stop" if not relay_.stopping else "stopping…"))

        def on_error(exc: Exception) -> None:
            # Shown through rich: control characters made visible, markup taken literally.
            reason = escape(printable(str(exc).splitlines()[0]))
            live.update(render(f"database error, retrying: {reason}"))

        relay_.run(batch=batch, idle_seconds=idle, on_cycle=on_cycle, on_error=on_error)
        live.update(render("stopped"))
    return totals


def _run_plain(relay_: Relay, batch: int, idle: float, to_stderr: bool) -> RelayReport:
    """One line per cycle that did something (on stderr when stdout carries --json)."""

    def on_cycle(report: RelayReport) -> None:
        line = _report_line(report)
        if line:
            say(f"relay: {line}", err=to_stderr)

    def on_error(exc: Exception) -> None:
        say(f"relay: database error, retrying: {str(exc).splitlines()[0]}", err=True)

    return relay_.run(batch=batch, idle_seconds=idle, on_cycle=on_cycle, on_error=on_error)


@relay.command()
@click.option("--once", is_flag=True, help="Run one cycle (fan out, claim, deliver) and exit.")
@click.option("--batch", type=BATCH, default=100, show_default=True)
@click.option(
    "--sink", "sink_names", type=IDENTIFIER, multiple=True, help="Only this sink (repeatable)."
)
@sinks_file_option
@click.option(
    "--lease",
    type=FiniteFloatRange(MIN_LEASE_SECONDS, MAX_LEASE_SECONDS),
    default=DEFAULT_LEASE_SECONDS,
    show_default=True,
    help="Seconds a claim stays ours; a relay that dies leaves it to expire.",
)
@click.option(
    "--idle",
    type=FiniteFloatRange(MIN_IDLE_SECONDS, MAX_IDLE_SECONDS),
    default=1.0,
    show_default=True,
    help="Seconds to wait when nothing was due.",
)
@json_option
@pass_cli
def run(
    cli: CliContext,
    once: bool,
    batch: int,
    sink_names: tuple[str, ...],
    sinks_file: str | None,
    lease: float,
    idle: float,
    as_json: bool,
) -> None:
    """Deliver events until stopped (Ctrl-C), or one cycle with --once."""
    configs = delivery.select_sinks(_configured(cli, sinks_file, sink_names), sink_names)
    if not configs:
        raise ConfigurationError(
            "no enabled sinks: pass --sinks FILE (or set "
            f"{delivery.SINKS_FILE_ENV}) or add rows to delivery_sink"
        )
    db = cli.ready_database()
    with Relay(db, configs, lease_seconds=lease) as relay_:
        if once:
            totals = relay_.run_once(batch)
        else:
            with _stop_on_signals(relay_):
                interactive = sys.stdout.isatty() and not as_json
                if not interactive:
                    names = ", ".join(c.name for c in configs)
                    say(f"relay {relay_.relay_id}: delivering to {names}", err=True)
                if interactive:
                    totals = _run_live(relay_, batch, idle)
                else:
                    totals = _run_plain(relay_, batch, idle, to_stderr=as_json)
    if as_json:
        emit_json(totals.as_dict())
        return
    rows = [counts.as_dict() for counts in totals.sinks.values()]
    say("relay stopped; totals:" if not once else "one cycle:")
    echo_table(rows, REPORT_COLUMNS, empty="  nothing to do")


@relay.command()
@json_option
@pass_cli
def status(cli: CliContext, as_json: bool) -> None:
    """Deliveries per sink and state, the oldest undelivered age, the next retry due."""
    with cli.ready_database().read() as conn:
        rows = delivery.status(conn)
    if as_json:
        emit_json(rows)
    else:
        echo_table(rows, STATUS_COLUMNS, empty="no deliveries yet")


@relay.command()
@click.option("--sink", type=IDENTIFIER, help="Only this sink's dead letters.")
@click.option("--limit", type=ROWS, default=100, show_default=True)
@json_option
@pass_cli
def dead(cli: CliContext, sink: str | None, limit: int, as_json: bool) -> None:
    """Dead deliveries (given up after the sink's limit), most recent first."""
    with cli.ready_database().read() as conn:
        rows = delivery.dead_letters(conn, sink=sink, limit=limit)
    if as_json:
        emit_json(rows)
    else:
        echo_table(rows, DEAD_COLUMNS, empty="no dead deliveries")


def _default_actor() -> str:
    """$USER when it is a name the audit log takes, else "procobs": a refusal would name
    --actor, which the user never passed."""
    user = os.environ.get("USER") or ""
    return "procobs" if name_problem(user) else user.strip()


@relay.command()
@click.argument("event_ids", nargs=-1)
@click.option("--all", "all_dead", is_flag=True, help="Every dead delivery.")
@click.option("--sink", type=IDENTIFIER, help="Only deliveries to this sink.")
@click.option(
    "--batch",
    "batch",
    type=BATCH,
    default=None,
    help=f"With --all: deliveries per transaction.  [default: {delivery.DEFAULT_REDRIVE_BATCH}]",
)
@click.option(
    "--actor",
    type=NAME,
    default=_default_actor,
    show_default="$USER",
    help="Who redrives (recorded in the audit log).",
)
@json_option
@pass_cli
def redrive(
    cli: CliContext,
    event_ids: tuple[str, ...],
    all_dead: bool,
    sink: str | None,
    batch: int | None,
    actor: str,
    as_json: bool,
) -> None:
    """Deliver again: every dead delivery (--all, in batches, each committed on its own),
    or the named events' dead or already delivered ones (at most 1,000, in one
    transaction). They become pending, due now, with fresh attempt counts."""
    if all_dead == bool(event_ids):
        raise click.UsageError("give EVENT_ID... or --all (not both)")
    if all_dead:
        _redrive_dead(cli, sink, batch or delivery.DEFAULT_REDRIVE_BATCH, actor, as_json)
        return
    if batch is not None:
        raise click.UsageError("--batch goes with --all (named events are one transaction)")
    if len(event_ids) > delivery.MAX_REDRIVE_IDS:
        raise click.UsageError(
            f"at most {delivery.MAX_REDRIVE_IDS:,} EVENT_IDs, got {len(event_ids):,} "
            "(--all redrives every dead delivery)"
        )
    with cli.ready_database().begin() as conn:
        result = delivery.redrive(conn, event_ids, sink=sink, actor=actor)
    if as_json:
        emit_json(result.as_dict())
        return
    say(f"redriven: {len(result.redriven)} delivery(ies)")
    for event_id, sink_name, state in result.skipped:
        say(f"skipped {event_id} -> {sink_name}: still {state}")


def _redrive_dead(cli: CliContext, sink: str | None, batch: int, actor: str, as_json: bool) -> None:
    report = delivery.redrive_dead(
        cli.ready_database(),
        sink=sink,
        actor=actor,
        batch=batch,
        progress=batch_progress(as_json),
    )
    if as_json:
        emit_json(report.as_dict())
        return
    if not report.redriven_count:
        # No batch committed anything, so no audit record carries this run's id: showing
        # it would send the reader looking for one.
        of = f" to sink {sink}" if sink is not None else ""
        say(f"redriven: nothing (no dead delivery{of})")
        return
    say(
        f"redriven: {report.redriven_count} delivery(ies) in {batches(report.batches)} "
        f"(redrive {report.redrive_id}, longest batch {report.longest_batch_seconds:.2f} s)"
    )


@relay.command()
@sinks_file_option
@json_option
@pass_cli
def sinks(cli: CliContext, sinks_file: str | None, as_json: bool) -> None:
    """The configured sinks (secrets shown only by their variable's name, and whether it
    is set)."""
    rows = [
        {**c.public(), "secret_set": bool(os.environ.get(c.secret_env)) if c.secret_env else None}
        for c in _configured(cli, sinks_file, listing=True)
    ]
    if as_json:
        emit_json(rows)
    else:
        echo_table(rows, SINK_COLUMNS, empty="no sinks configured")


@relay.command("import-sinks")
@click.argument("sinks_file", type=SafePath(dir_okay=False, exists=True))
@pass_cli
def import_sinks(cli: CliContext, sinks_file: str) -> None:
    """Store the sinks of a YAML file in the delivery_sink table (replacing same names)."""
    configs = delivery.load_sinks_file(sinks_file)
    with cli.ready_database().begin() as conn:
        delivery.save_sinks(conn, configs)
    say(f"stored {len(configs)} sink(s): {', '.join(c.name for c in configs)}")
