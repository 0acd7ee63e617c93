"""The observation ledger, its status history, and the job queue (docs/design.md,
"Identity and correlation")."""

import sqlalchemy as sa

from procobs_dagster.store.sql import json_flag
from procobs_dagster.store.tables.base import BigSerial, metadata, partial_unique
from procobs_dagster.store.types import JSONDoc, StoredBoolean, StoredUuid, UTCDateTime
from procobs_dagster.store.vocabulary import (
    COMPONENT_ROLES,
    HISTORY_SUBJECTS,
    JOB_STATUSES,
    JOB_TERMINAL_STATUSES,
    RUN_STATUSES,
    SOURCE_SYSTEMS,
    TERMINAL_STATUSES,
    sql_in,
)


def _observation_columns() -> list[sa.Column]:
    """Columns the run header and the component detail share (docs/design.md, "Identity
    and correlation")."""
    return [
        sa.Column("status", sa.Text, nullable=False, server_default="observed"),
        sa.Column("source_system", sa.Text, nullable=False),
        sa.Column("idempotency_key", sa.Text),
        sa.Column("input_ref", sa.Text),
        sa.Column("output_ref", sa.Text),
        sa.Column("error_ref", sa.Text),
        sa.Column("evidence_ref", JSONDoc),
        sa.Column("started_at", UTCDateTime),
        sa.Column("ended_at", UTCDateTime),
        sa.Column("created_at", UTCDateTime, nullable=False, server_default=sa.func.now()),
    ]


def _observation_checks() -> list[sa.CheckConstraint]:
    return [
        sa.CheckConstraint(sql_in("status", RUN_STATUSES), name="status"),
        sa.CheckConstraint(sql_in("source_system", SOURCE_SYSTEMS), name="source_system"),
        # ended_at is set exactly for terminal states.
        sa.CheckConstraint(
            f"(ended_at IS NOT NULL) = ({sql_in('status', TERMINAL_STATUSES)})",
            name="ended_at_iff_terminal",
        ),
        sa.CheckConstraint(
            "ended_at IS NULL OR started_at IS NULL OR ended_at >= started_at",
            name="ended_after_started",
        ),
        # A dry run says so in both places, a real run in neither (docs/design.md,
        # "Anti-fake rules").
        sa.CheckConstraint(
            (sa.column("source_system") == "dry_run")
            == json_flag(sa.column("evidence_ref"), sa.literal_column("'dry_run'")),
            name="dry_run_flagged",
        ),
    ]


process_run_observation = sa.Table(
    "process_run_observation",
    metadata,
    sa.Column("process_run_id", StoredUuid, primary_key=True),
    sa.Column("process_candidate_code", sa.Text, nullable=False),
    sa.Column("process_definition_code", sa.Text),
    sa.Column("correlation_id", sa.Text, nullable=False),
    sa.Column("parent_run_id", StoredUuid),
    *_observation_columns(),
    *_observation_checks(),
    sa.Index(None, "correlation_id"),
    sa.Index(None, "process_candidate_code"),
    sa.Index(None, "status"),
    sa.Index(None, "parent_run_id"),
    partial_unique(
        "uq_process_run_observation_idempotency_key",
        "idempotency_key",
        "idempotency_key IS NOT NULL",
    ),
)

process_component_observation = sa.Table(
    "process_component_observation",
    metadata,
    sa.Column("component_run_id", StoredUuid, primary_key=True),
    # Nullable only for an explicitly standalone component (docs/design.md, "Decisions").
    sa.Column(
        "process_run_id",
        StoredUuid,
        sa.ForeignKey("process_run_observation.process_run_id"),
    ),
    sa.Column("parent_run_id", StoredUuid),
    sa.Column("correlation_id", sa.Text, nullable=False),
    sa.Column("dot_code", sa.Text),
    sa.Column("component_role", sa.Text),
    sa.Column("event_code", sa.Text),
    sa.Column("queue_job_id", StoredUuid),
    sa.Column("standalone", StoredBoolean, nullable=False, server_default=sa.false()),
    *_observation_columns(),
    *_observation_checks(),
    sa.CheckConstraint(
        f"component_role IS NULL OR {sql_in('component_role', COMPONENT_ROLES)}",
        name="component_role",
    ),
    # No anonymous runs: a component belongs to a run, is explicitly standalone, or is an
    # orphan reported under a correlation_id that matched no run.
    sa.CheckConstraint(
        "process_run_id IS NOT NULL OR standalone OR status = 'orphan'",
        name="not_anonymous",
    ),
    sa.CheckConstraint("NOT standalone OR process_run_id IS NULL", name="standalone_has_no_run"),
    sa.Index(None, "process_run_id"),
    sa.Index(None, "correlation_id"),
    sa.Index(None, "dot_code"),
    sa.Index(None, "queue_job_id"),
    partial_unique(
        "uq_process_component_observation_idempotency_key",
        "idempotency_key",
        "idempotency_key IS NOT NULL",
    ),
)

# Append-only: every status change of a run or a component, in order. Rows are never
# updated (a trigger refuses it); retention moves them to the archive with their run.
process_status_history = sa.Table(
    "process_status_history",
    metadata,
    sa.Column("history_id", BigSerial, primary_key=True, autoincrement=True),
    sa.Column("subject_kind", sa.Text, nullable=False),
    sa.Column("subject_id", StoredUuid, nullable=False),
    sa.Column("process_run_id", StoredUuid),
    sa.Column("from_status", sa.Text),
    sa.Column("to_status", sa.Text, nullable=False),
    sa.Column("changed_at", UTCDateTime, nullable=False),
    sa.Column("reason", sa.Text),
    sa.Column("actor", sa.Text),
    sa.CheckConstraint(sql_in("subject_kind", HISTORY_SUBJECTS), name="subject_kind"),
    sa.CheckConstraint(
        f"from_status IS NULL OR {sql_in('from_status', RUN_STATUSES)}", name="from_status"
    ),
    sa.CheckConstraint(sql_in("to_status", RUN_STATUSES), name="to_status"),
    sa.Index(None, "subject_id", "history_id"),
    sa.Index(None, "process_run_id"),
    # A key is never given twice, SQLite included (migration 0013_sqlite_autoincrement).
    sqlite_autoincrement=True,
)

# The platform's queue: job-backed pipelines share a run_id (docs/design.md, "Identity
# and correlation").
job_queue = sa.Table(
    "job_queue",
    metadata,
    sa.Column("job_id", StoredUuid, primary_key=True),
    sa.Column("job_kind", sa.Text, nullable=False),
    sa.Column("run_id", StoredUuid),
    sa.Column("correlation_id", sa.Text),
    sa.Column("idempotency_key", sa.Text),
    sa.Column("status", sa.Text, nullable=False, server_default="queued"),
    sa.Column("payload", JSONDoc),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("enqueued_at", UTCDateTime, nullable=False, server_default=sa.func.now()),
    sa.Column("started_at", UTCDateTime),
    sa.Column("finished_at", UTCDateTime),
    sa.Column("last_error", sa.Text),
    sa.CheckConstraint(sql_in("status", JOB_STATUSES), name="status"),
    sa.CheckConstraint(
        f"(finished_at IS NOT NULL) = ({sql_in('status', JOB_TERMINAL_STATUSES)})",
        name="finished_at_iff_terminal",
    ),
    sa.CheckConstraint("attempts >= 0", name="attempts"),
    sa.Index(None, "run_id"),
    sa.Index(None, "job_kind"),
    sa.Index(None, "status"),
    partial_unique(
        "uq_job_queue_idempotency_key", "idempotency_key", "idempotency_key IS NOT NULL"
    ),
)
