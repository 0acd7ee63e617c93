"""`procobs retention`: archive expired runs with their components and history."""

import click

from procobs_dagster.cli.context import CliContext, pass_cli
from procobs_dagster.cli.output import batch_progress, emit_json, json_option, say
from procobs_dagster.cli.params import BATCH
from procobs_dagster.maintenance import DEFAULT_BATCH, RetentionPolicy, run_retention


@click.group()
def retention() -> None:
    """Archive expired runs (completed after 90 days, failed and stuck after 180 …)."""


@retention.command("run")
@click.option("--dry-run", is_flag=True, help="Only count what would be archived; change nothing.")
@click.option(
    "--batch",
    type=BATCH,
    default=DEFAULT_BATCH,
    show_default=True,
    help="Run families (a run with its nested runs) per transaction.",
)
@click.option(
    "--keep",
    multiple=True,
    metavar="STATUS=DAYS",
    help="Keep STATUS for DAYS (or 'forever') instead of the default; repeatable.",
)
@json_option
@pass_cli
def run(cli: CliContext, dry_run: bool, batch: int, keep: tuple[str, ...], as_json: bool) -> None:
    """Move expired runs, their components and history into the archive tables.

    Every batch archives and deletes in one transaction; a run interrupted between batches
    loses nothing and the next run finishes the job.
    """
    policy = RetentionPolicy().with_keep_options(keep)
    report = run_retention(
        cli.ready_database(),
        policy,
        batch=batch,
        dry_run=dry_run,
        progress=batch_progress(as_json),
    )
    if as_json:
        emit_json(report.as_dict())
        return
    by_status = ", ".join(f"{s} {n}" for s, n in sorted(report.runs_by_status.items()))
    say(
        f"{'would archive' if dry_run else 'archived'}: {report.runs} runs"
        f"{f' ({by_status})' if by_status else ''}, {report.components} components, "
        f"{report.history} history rows in {report.batches} batches "
        f"({report.seconds:.2f} s, longest batch {report.longest_batch_seconds:.2f} s)"
    )
    if report.families_kept_back:
        say(
            f"kept back: {report.families_kept_back} expired runs whose family has a member "
            "still live or young"
        )
    days = ", ".join(f"{s} {'forever' if d is None else d}" for s, d in report.policy.items())
    say(f"policy (days kept): {days}")
