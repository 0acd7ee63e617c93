"""`procobs retention`: archive expired runs with their components and history, and trim
every other growing table (delivery state, outbox, audit log, dossier snapshots, scores,
raw workflow events)."""

from typing import Any

import click

from procobs_dagster.cli.context import CliContext, pass_cli
from procobs_dagster.cli.output import batch_progress, batches, emit_json, json_option, say
from procobs_dagster.cli.params import (
    BATCH,
    DAYS_OR_FOREVER,
    FOREVER,
    KEPT_OR_FOREVER,
    OUTBOX_DAYS_OR_FOREVER,
)
from procobs_dagster.clock import utcnow
from procobs_dagster.maintenance import (
    DEFAULT_BATCH,
    TABLE_JOBS,
    PruneReport,
    RetentionPolicy,
    RetentionReport,
    TablePolicy,
    run_retention,
    run_table_retention,
)

# The ledger's families, then each table job (maintenance.TABLE_JOBS).
JOBS = ("runs", *TABLE_JOBS)
# option → TablePolicy setting; each takes a number or "forever" (never remove).
_TABLE_OPTIONS = {
    "delivered_days": (
        "--delivered-days",
        DAYS_OR_FOREVER,
        "Days a delivered delivery_state row is kept",
    ),
    "dead_days": ("--dead-days", DAYS_OR_FOREVER, "Days a dead delivery_state row is kept"),
    "outbox_days": (
        "--outbox-days",
        OUTBOX_DAYS_OR_FOREVER,
        "Days an event_outbox row every sink has settled is kept (at least 1)",
    ),
    "audit_days": ("--audit-days", DAYS_OR_FOREVER, "Days before an audit_log row is archived"),
    "workflow_event_days": (
        "--workflow-event-days",
        DAYS_OR_FOREVER,
        "Days a workflow run's raw reports are kept after its newest",
    ),
    "snapshots_per_feature": (
        "--snapshots-per-feature",
        KEPT_OR_FOREVER,
        "Newest dossier snapshots kept per feature",
    ),
    "scores_per_candidate": (
        "--scores-per-candidate",
        KEPT_OR_FOREVER,
        "Newest discovery scorings kept per candidate",
    ),
}


def _table_options(command):
    for setting, (flag, kind, what) in reversed(_TABLE_OPTIONS.items()):
        default = TablePolicy.model_fields[setting].default
        command = click.option(
            flag, setting, type=kind, default=None, help=f"{what} (default {default})."
        )(command)
    return command


@click.group()
def retention() -> None:
    """Archive expired runs (completed after 90 days, failed and stuck after 180 …) and
    trim every other growing table."""


@retention.command("run")
@click.option("--dry-run", is_flag=True, help="Only count what would be removed; change nothing.")
@click.option(
    "--batch",
    type=BATCH,
    default=DEFAULT_BATCH,
    show_default=True,
    help="Run families (a run with its nested runs), or rows of a table, per transaction.",
)
@click.option(
    "--keep",
    multiple=True,
    metavar="STATUS=DAYS",
    help="Keep STATUS for DAYS (or 'forever') instead of the default; repeatable.",
)
@click.option(
    "--only",
    type=click.Choice(JOBS),
    multiple=True,
    help="Run only these jobs (repeatable); default: all of them.",
)
@_table_options
@json_option
@pass_cli
def run(
    cli: CliContext,
    dry_run: bool,
    batch: int,
    keep: tuple[str, ...],
    only: tuple[str, ...],
    as_json: bool,
    **table_settings: Any,
) -> None:
    """Move expired runs, their components and history into the archive tables; delete
    settled delivery state and outbox rows, archive old audit rows, and delete superseded
    dossier snapshots, old scores and old raw workflow events.

    Every batch commits on its own; a run interrupted between batches loses nothing and
    the next run finishes the job.
    """
    policy = RetentionPolicy().with_keep_options(keep)
    tables = TablePolicy().with_settings(
        {k: None if v == FOREVER else v for k, v in table_settings.items() if v is not None}
    )
    jobs = set(only or JOBS)
    db = cli.ready_database()
    now = utcnow()
    progress = batch_progress(as_json)
    if "runs" in jobs:
        report = run_retention(db, policy, now=now, batch=batch, dry_run=dry_run, progress=progress)
    else:
        report = RetentionReport(dry_run=dry_run, now=now, policy=policy.keep_days())
    table_reports = run_table_retention(
        db,
        tables,
        only=[job for job in TABLE_JOBS if job in jobs],
        now=now,
        batch=batch,
        dry_run=dry_run,
        progress=progress,
    )
    if as_json:
        emit_json(
            {
                **report.as_dict(),
                "jobs": sorted(jobs, key=JOBS.index),
                "table_policy": tables.settings(),
                "tables": _per_table(report if "runs" in jobs else None, table_reports),
                "table_jobs": {name: r.as_dict() for name, r in table_reports.items()},
            }
        )
        return
    if "runs" in jobs:
        _say_runs(report, dry_run)
    for name, table_report in table_reports.items():
        _say_tables(name, table_report)
    if table_reports:
        settings = ", ".join(
            f"{k} {'forever' if v is None else v}" for k, v in tables.settings().items()
        )
        say(f"table policy: {settings}")


def _per_table(
    runs: RetentionReport | None, table_reports: dict[str, PruneReport]
) -> dict[str, dict[str, int]]:
    """Per table, what went: ``deleted`` or ``archived`` rows, and ``kept_back``."""
    tables: dict[str, dict[str, int]] = {}
    if runs is not None:
        for table, rows in (
            ("process_run_observation", runs.runs),
            ("process_component_observation", runs.components),
            ("process_status_history", runs.history),
        ):
            tables[table] = {"archived": rows}
    for table_report in table_reports.values():
        for what in ("deleted", "archived", "kept_back"):
            for table, rows in getattr(table_report, what).items():
                tables.setdefault(table, {})[what] = rows
    return tables


def _say_runs(report: RetentionReport, dry_run: bool) -> None:
    by_status = ", ".join(f"{s} {n}" for s, n in sorted(report.runs_by_status.items()))
    say(
        f"{'would archive' if dry_run else 'archived'}: {report.runs} runs"
        f"{f' ({by_status})' if by_status else ''}, {report.components} components, "
        f"{report.history} history rows in {batches(report.batches)} "
        f"({report.seconds:.2f} s, longest batch {report.longest_batch_seconds:.2f} s)"
    )
    if report.families_kept_back:
        say(
            f"kept back: {report.families_kept_back} expired runs whose family has a member "
            "still live or young"
        )
    days = ", ".join(f"{s} {'forever' if d is None else d}" for s, d in report.policy.items())
    say(f"policy (days kept): {days}")


def _say_tables(name: str, report: PruneReport) -> None:
    would = "would " if report.dry_run else ""
    parts = [f"{would}delete {n} {t}" for t, n in report.deleted.items()]
    parts += [f"{would}archive {n} {t}" for t, n in report.archived.items()]
    kept = ", ".join(f"{n} {t}" for t, n in report.kept_back.items() if n)
    say(
        f"{name}: {', '.join(parts)} in {batches(report.batches)} ({report.seconds:.2f} s, "
        f"longest batch {report.longest_batch_seconds:.2f} s)"
        + (f"; kept back: {kept}" if kept else "")
    )
