"""Maintenance as Dagster jobs: retention with archive, the stuck and orphan sweeps, and
the retention of every other growing table (one job per table family).

Each op calls procobs_dagster.maintenance and reports what it did: every batch in the run
log, the totals (and, for sweeps, the runs judged) as an observation of the ledger asset
it changed; a table retention job logs its totals per table. The procobs/maintenance tag
is what deploy/dagster.yaml limits to one run at a time; dagster/max_runtime lets run
monitoring stop a run that hangs.
"""

import dagster as dg
import pydantic
from pydantic import Field

from procobs_dagster import limits, maintenance
from procobs_dagster.defs.conventions import MAINTENANCE_TAG
from procobs_dagster.defs.ledger.assets import runs_spec
from procobs_dagster.defs.markdown import markdown_table, unusable_metadata
from procobs_dagster.defs.resources import ProcobsDatabase

MAX_RUNTIME_SECONDS = 3600
# A sweep's observation lists at most this many verdicts; the run log has them all.
VERDICTS_SHOWN = 50
# The defaults the job descriptions quote, read from the policies so the two cannot differ.
RUNS_KEPT = maintenance.RetentionPolicy()
TABLES_KEPT = maintenance.TablePolicy()


def maintenance_tags(name: str) -> dict[str, str]:
    return {MAINTENANCE_TAG: name, "dagster/max_runtime": str(MAX_RUNTIME_SECONDS)}


def _progress(context: dg.OpExecutionContext):
    def report(progress: maintenance.BatchProgress) -> None:
        context.log.info(
            f"{progress.job} batch {progress.batch}: {progress.counts} in {progress.seconds:.3f} s"
        )

    return report


def _setting(
    name: str,
    minimum: int,
    maximum: int,
    description: str,
    policy: type[pydantic.BaseModel] = maintenance.TablePolicy,
):
    """A ``policy`` setting as run config: its default, its bounds, None for forever."""
    default = policy.model_fields[name].default
    return Field(default=default, ge=minimum, le=maximum, description=description)


def _days_kept(status: str):
    return _setting(
        status,
        0,
        limits.MAX_DAYS,
        f"Days a {status} run is kept (null: forever).",
        policy=maintenance.RetentionPolicy,
    )


class RetentionConfig(dg.Config):
    # One typed field per status, as the other retention jobs take their settings: a
    # misspelt status is refused when the run is launched, a day count out of bounds when
    # the op builds its config, before anything is archived; both name the field.
    dry_run: bool = Field(default=False, description="Only count what would be archived.")
    batch: int = Field(
        default=maintenance.DEFAULT_BATCH, ge=1, le=limits.MAX_BATCH, description="Runs per batch."
    )
    completed: int | None = _days_kept("completed")
    failed: int | None = _days_kept("failed")
    cancelled: int | None = _days_kept("cancelled")
    stuck: int | None = _days_kept("stuck")
    orphan: int | None = _days_kept("orphan")


@dg.op(description="Archive expired runs with their components and history, batch by batch.")
def archive_expired_runs(
    context: dg.OpExecutionContext, config: RetentionConfig, procobs_db: ProcobsDatabase
) -> None:
    policy = maintenance.RetentionPolicy(**config.model_dump(exclude={"dry_run", "batch"}))
    report = maintenance.run_retention(
        procobs_db.current(),
        policy,
        batch=config.batch,
        dry_run=config.dry_run,
        progress=_progress(context),
    )
    context.log_event(
        dg.AssetObservation(
            asset_key=runs_spec.key,
            description=(
                f"retention {'dry run: would archive' if report.dry_run else 'archived'} "
                f"{report.runs} run(s), {report.components} component(s), "
                f"{report.history} history row(s)"
            ),
            metadata={
                "retention_dry_run": dg.MetadataValue.bool(report.dry_run),
                "archived_runs": dg.MetadataValue.int(report.runs),
                "archived_components": dg.MetadataValue.int(report.components),
                "archived_history": dg.MetadataValue.int(report.history),
                "families_kept_back": dg.MetadataValue.int(report.families_kept_back),
                "batches": dg.MetadataValue.int(report.batches),
                "longest_batch_seconds": dg.MetadataValue.float(report.longest_batch_seconds),
                "policy_days": markdown_table(
                    ["status", "kept (days)"],
                    [[s, "forever" if d is None else d] for s, d in report.policy.items()],
                ),
            },
        )
    )


def _log_sweep(context: dg.OpExecutionContext, report: maintenance.SweepReport) -> None:
    if not report.lock_acquired:
        context.log.info(f"another {report.verdict} sweep holds the lock: nothing done")
    for row in report.unusable:
        context.log.warning(str(row))
    for verdict in report.verdicts:
        context.log.warning(
            f"{verdict.subject_kind} {verdict.subject_id} {verdict.from_status} -> "
            f"{verdict.to_status}: {verdict.details}"
        )
    context.log_event(
        dg.AssetObservation(
            asset_key=runs_spec.key,
            description=f"{report.verdict} sweep: {len(report.verdicts)} verdict(s)",
            metadata={
                "sweep": dg.MetadataValue.text(report.verdict),
                "sweep_id": dg.MetadataValue.text(str(report.sweep_id)),
                "lock_acquired": dg.MetadataValue.bool(report.lock_acquired),
                "verdicts": dg.MetadataValue.int(len(report.verdicts)),
                "left_alone": dg.MetadataValue.int(report.left_alone),
                "unusable_settings": unusable_metadata(report.unusable),
                "judged": markdown_table(
                    ["kind", "id", "run", "from", "to"],
                    [
                        [v.subject_kind, v.subject_id, v.process_run_id, v.from_status, v.to_status]
                        for v in report.verdicts[:VERDICTS_SHOWN]
                    ],
                    empty="nothing to judge",
                ),
            },
        )
    )


def _sweep_op(name: str, description: str, config_type: type[dg.Config], sweep) -> dg.OpDefinition:
    """An op running ``sweep`` with its config's fields as keyword arguments."""

    @dg.op(name=name, description=description)
    def _sweep(
        context: dg.OpExecutionContext, config: config_type, procobs_db: ProcobsDatabase
    ) -> None:
        report = sweep(procobs_db.current(), **config.model_dump(), progress=_progress(context))
        _log_sweep(context, report)

    return _sweep


class StuckSweepConfig(dg.Config):
    default_sla_seconds: int = Field(
        default=maintenance.DEFAULT_STUCK_SLA_SECONDS,
        ge=1,
        le=limits.MAX_SECONDS,
        description="SLA of candidates without their own (procobs sweep sla set).",
    )
    batch: int = Field(default=maintenance.DEFAULT_BATCH, ge=1, le=limits.MAX_BATCH)


class OrphanSweepConfig(dg.Config):
    grace_seconds: int = Field(
        default=maintenance.DEFAULT_GRACE_SECONDS,
        ge=0,
        le=limits.MAX_SECONDS,
        description="How long after its parent ended a child may still report its outcome.",
    )
    batch: int = Field(default=maintenance.DEFAULT_BATCH, ge=1, le=limits.MAX_BATCH)


sweep_stuck_runs = _sweep_op(
    "sweep_stuck_runs",
    "Mark runs in flight past their SLA as stuck (compare-and-set).",
    StuckSweepConfig,
    maintenance.sweep_stuck,
)
sweep_orphaned_work = _sweep_op(
    "sweep_orphaned_work",
    "Mark child runs and components still in flight under an ended run orphan.",
    OrphanSweepConfig,
    maintenance.sweep_orphans,
)


@dg.job(
    description=(
        f"Retention: archive runs past the policy (completed {RUNS_KEPT.completed} days, "
        f"failed {RUNS_KEPT.failed}, stuck {RUNS_KEPT.stuck})."
    ),
    tags=maintenance_tags("retention"),
)
def retention_job():
    archive_expired_runs()


@dg.job(
    description="The stuck sweep: runs started longer ago than their SLA become stuck.",
    tags=maintenance_tags("stuck_sweep"),
)
def stuck_sweep_job():
    sweep_stuck_runs()


@dg.job(
    description="The orphan sweep: work still in flight under an ended parent becomes orphan.",
    tags=maintenance_tags("orphan_sweep"),
)
def orphan_sweep_job():
    sweep_orphaned_work()


# --- the growing tables beside the ledger ------------------------------------------------


class _TableRetentionConfig(dg.Config):
    dry_run: bool = Field(default=False, description="Only count what would be removed.")
    batch: int = Field(
        default=maintenance.DEFAULT_BATCH, ge=1, le=limits.MAX_BATCH, description="Rows per batch."
    )


class DeliveryRetentionConfig(_TableRetentionConfig):
    delivered_days: int | None = _setting(
        "delivered_days", 0, limits.MAX_DAYS, "Days a delivered row is kept (null: forever)."
    )
    dead_days: int | None = _setting(
        "dead_days", 0, limits.MAX_DAYS, "Days a dead row is kept (null: forever)."
    )
    outbox_days: int | None = _setting(
        "outbox_days", 1, limits.MAX_DAYS, "Days a settled outbox row is kept (null: forever)."
    )


class AuditRetentionConfig(_TableRetentionConfig):
    audit_days: int | None = _setting(
        "audit_days", 0, limits.MAX_DAYS, "Days before an audit row is archived (null: never)."
    )


class DossierRetentionConfig(_TableRetentionConfig):
    snapshots_per_feature: int | None = _setting(
        "snapshots_per_feature", 1, limits.MAX_ROWS_SHOWN, "Newest snapshots kept per feature."
    )


class ScoreRetentionConfig(_TableRetentionConfig):
    scores_per_candidate: int | None = _setting(
        "scores_per_candidate", 1, limits.MAX_ROWS_SHOWN, "Newest scorings kept per candidate."
    )


class WorkflowEventRetentionConfig(_TableRetentionConfig):
    workflow_event_days: int | None = _setting(
        "workflow_event_days", 0, limits.MAX_DAYS, "Days a run's raw reports are kept."
    )


def _table_retention_op(
    name: str,
    description: str,
    config_type: type[_TableRetentionConfig],
    prune: maintenance.PruneJob,
) -> dg.OpDefinition:
    """An op running the table retention ``prune`` with its config's settings."""

    @dg.op(name=name, description=description)
    def _retain(
        context: dg.OpExecutionContext, config: config_type, procobs_db: ProcobsDatabase
    ) -> None:
        settings = config.model_dump(exclude={"dry_run", "batch"})
        report = prune(
            procobs_db.current(),
            maintenance.TablePolicy().with_settings(settings),
            batch=config.batch,
            dry_run=config.dry_run,
            progress=_progress(context),
        )
        verb = "would remove" if report.dry_run else "removed"
        context.log.info(
            f"{report.job}: {verb} {report.counts()} in {report.batches} batch(es), longest "
            f"{report.longest_batch_seconds:.3f} s; settings {report.settings}"
        )

    return _retain


prune_delivery_state = _table_retention_op(
    "prune_delivery_state",
    "Delete settled delivery rows and the outbox rows every sink has settled.",
    DeliveryRetentionConfig,
    maintenance.prune_delivery,
)
archive_audit_log = _table_retention_op(
    "archive_audit_log",
    "Move old audit_log rows into audit_log_archive.",
    AuditRetentionConfig,
    maintenance.archive_audit_log,
)
prune_dossier_snapshots = _table_retention_op(
    "prune_dossier_snapshots",
    "Delete dossier snapshots beyond each feature's newest (baselines stay).",
    DossierRetentionConfig,
    maintenance.prune_dossier_snapshots,
)
prune_discovery_scores = _table_retention_op(
    "prune_discovery_scores",
    "Delete discovery scores beyond each candidate's newest scorings.",
    ScoreRetentionConfig,
    maintenance.prune_discovery_scores,
)
prune_workflow_events = _table_retention_op(
    "prune_workflow_events",
    "Delete the raw reports of workflow runs whose newest report is old.",
    WorkflowEventRetentionConfig,
    maintenance.prune_workflow_events,
)


@dg.job(
    description=(
        f"Retention of delivery_state and event_outbox (delivered {TABLES_KEPT.delivered_days} "
        f"days, dead {TABLES_KEPT.dead_days})."
    ),
    tags=maintenance_tags("delivery_retention"),
)
def delivery_retention_job():
    prune_delivery_state()


@dg.job(
    description=(
        f"Retention of the audit log: rows older than {TABLES_KEPT.audit_days} days move to "
        "the archive."
    ),
    tags=maintenance_tags("audit_retention"),
)
def audit_retention_job():
    archive_audit_log()


@dg.job(
    description=(
        f"Retention of dossier snapshots: the newest {TABLES_KEPT.snapshots_per_feature} per "
        "feature and baselines stay."
    ),
    tags=maintenance_tags("dossier_retention"),
)
def dossier_retention_job():
    prune_dossier_snapshots()


@dg.job(
    description=(
        f"Retention of discovery scores: the newest {TABLES_KEPT.scores_per_candidate} "
        "scorings per candidate stay."
    ),
    tags=maintenance_tags("score_retention"),
)
def score_retention_job():
    prune_discovery_scores()


@dg.job(
    description=(
        "Retention of raw workflow events: a run's reports go "
        f"{TABLES_KEPT.workflow_event_days} days after its newest."
    ),
    tags=maintenance_tags("workflow_event_retention"),
)
def workflow_event_retention_job():
    prune_workflow_events()
