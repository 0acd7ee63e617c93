"""Observation ledger, status history and job queue.

Revision ID: 0001_ledger
Revises:
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from procobs_dagster.store.sql import json_flag
from procobs_dagster.store.triggers import (
    append_only,
    create_refuse_function,
    drop_append_only,
    drop_refuse_function,
)

revision = "0001_ledger"
down_revision = None
branch_labels = None
depends_on = None

JSON_DOC = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

DRY_RUN_FLAGGED = (sa.column("source_system") == "dry_run") == json_flag(
    sa.column("evidence_ref"), sa.literal_column("'dry_run'")
)


def upgrade() -> None:
    op.create_table(
        "job_queue",
        sa.Column("job_id", sa.Uuid(), nullable=False),
        sa.Column("job_kind", sa.Text(), nullable=False),
        sa.Column("run_id", sa.Uuid(), nullable=True),
        sa.Column("correlation_id", sa.Text(), nullable=True),
        sa.Column("idempotency_key", sa.Text(), nullable=True),
        sa.Column("status", sa.Text(), server_default="queued", nullable=False),
        sa.Column("payload", JSON_DOC, nullable=True),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column(
            "enqueued_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "(finished_at IS NOT NULL) = (status IN ('completed', 'failed', 'cancelled'))",
            name=op.f("ck_job_queue_finished_at_iff_terminal"),
        ),
        sa.CheckConstraint(
            "status IN ('queued', 'running', 'completed', 'failed', 'cancelled')",
            name=op.f("ck_job_queue_status"),
        ),
        sa.CheckConstraint("attempts >= 0", name=op.f("ck_job_queue_attempts")),
        sa.PrimaryKeyConstraint("job_id", name=op.f("pk_job_queue")),
    )
    op.create_index(op.f("ix_job_queue_job_kind"), "job_queue", ["job_kind"], unique=False)
    op.create_index(op.f("ix_job_queue_run_id"), "job_queue", ["run_id"], unique=False)
    op.create_index(op.f("ix_job_queue_status"), "job_queue", ["status"], unique=False)
    op.create_index(
        "uq_job_queue_idempotency_key",
        "job_queue",
        ["idempotency_key"],
        unique=True,
        postgresql_where=sa.text("idempotency_key IS NOT NULL"),
        sqlite_where=sa.text("idempotency_key IS NOT NULL"),
    )
    op.create_table(
        "process_run_observation",
        sa.Column("process_run_id", sa.Uuid(), nullable=False),
        sa.Column("process_candidate_code", sa.Text(), nullable=False),
        sa.Column("process_definition_code", sa.Text(), nullable=True),
        sa.Column("correlation_id", sa.Text(), nullable=False),
        sa.Column("parent_run_id", sa.Uuid(), nullable=True),
        sa.Column("status", sa.Text(), server_default="observed", nullable=False),
        sa.Column("source_system", sa.Text(), nullable=False),
        sa.Column("idempotency_key", sa.Text(), nullable=True),
        sa.Column("input_ref", sa.Text(), nullable=True),
        sa.Column("output_ref", sa.Text(), nullable=True),
        sa.Column("error_ref", sa.Text(), nullable=True),
        sa.Column("evidence_ref", JSON_DOC, nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint(
            "(ended_at IS NOT NULL) = (status IN ('completed', 'failed', 'cancelled'))",
            name=op.f("ck_process_run_observation_ended_at_iff_terminal"),
        ),
        sa.CheckConstraint(
            DRY_RUN_FLAGGED, name=op.f("ck_process_run_observation_dry_run_flagged")
        ),
        sa.CheckConstraint(
            "source_system IN ('dot_runtime', 'job_queue', 'workflow_engine', 'domain_event', 'dry_run')",
            name=op.f("ck_process_run_observation_source_system"),
        ),
        sa.CheckConstraint(
            "status IN ('observed', 'started', 'step_started', 'step_completed', 'completed', 'failed', 'stuck', 'cancelled', 'orphan')",
            name=op.f("ck_process_run_observation_status"),
        ),
        sa.CheckConstraint(
            "ended_at IS NULL OR started_at IS NULL OR ended_at >= started_at",
            name=op.f("ck_process_run_observation_ended_after_started"),
        ),
        sa.PrimaryKeyConstraint("process_run_id", name=op.f("pk_process_run_observation")),
    )
    op.create_index(
        op.f("ix_process_run_observation_correlation_id"),
        "process_run_observation",
        ["correlation_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_process_run_observation_parent_run_id"),
        "process_run_observation",
        ["parent_run_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_process_run_observation_process_candidate_code"),
        "process_run_observation",
        ["process_candidate_code"],
        unique=False,
    )
    op.create_index(
        op.f("ix_process_run_observation_status"),
        "process_run_observation",
        ["status"],
        unique=False,
    )
    op.create_index(
        "uq_process_run_observation_idempotency_key",
        "process_run_observation",
        ["idempotency_key"],
        unique=True,
        postgresql_where=sa.text("idempotency_key IS NOT NULL"),
        sqlite_where=sa.text("idempotency_key IS NOT NULL"),
    )
    op.create_table(
        "process_status_history",
        sa.Column(
            "history_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("subject_kind", sa.Text(), nullable=False),
        sa.Column("subject_id", sa.Uuid(), nullable=False),
        sa.Column("process_run_id", sa.Uuid(), nullable=True),
        sa.Column("from_status", sa.Text(), nullable=True),
        sa.Column("to_status", sa.Text(), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("actor", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "from_status IS NULL OR from_status IN ('observed', 'started', 'step_started', 'step_completed', 'completed', 'failed', 'stuck', 'cancelled', 'orphan')",
            name=op.f("ck_process_status_history_from_status"),
        ),
        sa.CheckConstraint(
            "subject_kind IN ('run', 'component')",
            name=op.f("ck_process_status_history_subject_kind"),
        ),
        sa.CheckConstraint(
            "to_status IN ('observed', 'started', 'step_started', 'step_completed', 'completed', 'failed', 'stuck', 'cancelled', 'orphan')",
            name=op.f("ck_process_status_history_to_status"),
        ),
        sa.PrimaryKeyConstraint("history_id", name=op.f("pk_process_status_history")),
    )
    op.create_index(
        op.f("ix_process_status_history_process_run_id"),
        "process_status_history",
        ["process_run_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_process_status_history_subject_id_history_id"),
        "process_status_history",
        ["subject_id", "history_id"],
        unique=False,
    )
    op.create_table(
        "process_component_observation",
        sa.Column("component_run_id", sa.Uuid(), nullable=False),
        sa.Column("process_run_id", sa.Uuid(), nullable=True),
        sa.Column("parent_run_id", sa.Uuid(), nullable=True),
        sa.Column("correlation_id", sa.Text(), nullable=False),
        sa.Column("dot_code", sa.Text(), nullable=True),
        sa.Column("component_role", sa.Text(), nullable=True),
        sa.Column("event_code", sa.Text(), nullable=True),
        sa.Column("queue_job_id", sa.Uuid(), nullable=True),
        sa.Column("standalone", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("status", sa.Text(), server_default="observed", nullable=False),
        sa.Column("source_system", sa.Text(), nullable=False),
        sa.Column("idempotency_key", sa.Text(), nullable=True),
        sa.Column("input_ref", sa.Text(), nullable=True),
        sa.Column("output_ref", sa.Text(), nullable=True),
        sa.Column("error_ref", sa.Text(), nullable=True),
        sa.Column("evidence_ref", JSON_DOC, nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint(
            "(ended_at IS NOT NULL) = (status IN ('completed', 'failed', 'cancelled'))",
            name=op.f("ck_process_component_observation_ended_at_iff_terminal"),
        ),
        sa.CheckConstraint(
            DRY_RUN_FLAGGED, name=op.f("ck_process_component_observation_dry_run_flagged")
        ),
        sa.CheckConstraint(
            "component_role IS NULL OR component_role IN ('producer', 'verifier', 'step')",
            name=op.f("ck_process_component_observation_component_role"),
        ),
        sa.CheckConstraint(
            "process_run_id IS NOT NULL OR standalone OR status = 'orphan'",
            name=op.f("ck_process_component_observation_not_anonymous"),
        ),
        sa.CheckConstraint(
            "source_system IN ('dot_runtime', 'job_queue', 'workflow_engine', 'domain_event', 'dry_run')",
            name=op.f("ck_process_component_observation_source_system"),
        ),
        sa.CheckConstraint(
            "status IN ('observed', 'started', 'step_started', 'step_completed', 'completed', 'failed', 'stuck', 'cancelled', 'orphan')",
            name=op.f("ck_process_component_observation_status"),
        ),
        sa.CheckConstraint(
            "NOT standalone OR process_run_id IS NULL",
            name=op.f("ck_process_component_observation_standalone_has_no_run"),
        ),
        sa.CheckConstraint(
            "ended_at IS NULL OR started_at IS NULL OR ended_at >= started_at",
            name=op.f("ck_process_component_observation_ended_after_started"),
        ),
        sa.ForeignKeyConstraint(
            ["process_run_id"],
            ["process_run_observation.process_run_id"],
            name=op.f("fk_process_component_observation_process_run_id_process_run_observation"),
        ),
        sa.PrimaryKeyConstraint("component_run_id", name=op.f("pk_process_component_observation")),
    )
    op.create_index(
        op.f("ix_process_component_observation_correlation_id"),
        "process_component_observation",
        ["correlation_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_process_component_observation_dot_code"),
        "process_component_observation",
        ["dot_code"],
        unique=False,
    )
    op.create_index(
        op.f("ix_process_component_observation_process_run_id"),
        "process_component_observation",
        ["process_run_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_process_component_observation_queue_job_id"),
        "process_component_observation",
        ["queue_job_id"],
        unique=False,
    )
    op.create_index(
        "uq_process_component_observation_idempotency_key",
        "process_component_observation",
        ["idempotency_key"],
        unique=True,
        postgresql_where=sa.text("idempotency_key IS NOT NULL"),
        sqlite_where=sa.text("idempotency_key IS NOT NULL"),
    )

    dialect = op.get_context().dialect.name
    for statement in create_refuse_function(dialect) + append_only(
        "process_status_history", dialect
    ):
        op.execute(statement)


def downgrade() -> None:
    dialect = op.get_context().dialect.name
    for statement in drop_append_only("process_status_history", dialect) + drop_refuse_function(
        dialect
    ):
        op.execute(statement)

    op.drop_index(
        "uq_process_component_observation_idempotency_key",
        table_name="process_component_observation",
        postgresql_where=sa.text("idempotency_key IS NOT NULL"),
        sqlite_where=sa.text("idempotency_key IS NOT NULL"),
    )
    op.drop_index(
        op.f("ix_process_component_observation_queue_job_id"),
        table_name="process_component_observation",
    )
    op.drop_index(
        op.f("ix_process_component_observation_process_run_id"),
        table_name="process_component_observation",
    )
    op.drop_index(
        op.f("ix_process_component_observation_dot_code"),
        table_name="process_component_observation",
    )
    op.drop_index(
        op.f("ix_process_component_observation_correlation_id"),
        table_name="process_component_observation",
    )
    op.drop_table("process_component_observation")
    op.drop_index(
        op.f("ix_process_status_history_subject_id_history_id"), table_name="process_status_history"
    )
    op.drop_index(
        op.f("ix_process_status_history_process_run_id"), table_name="process_status_history"
    )
    op.drop_table("process_status_history")
    op.drop_index(
        "uq_process_run_observation_idempotency_key",
        table_name="process_run_observation",
        postgresql_where=sa.text("idempotency_key IS NOT NULL"),
        sqlite_where=sa.text("idempotency_key IS NOT NULL"),
    )
    op.drop_index(op.f("ix_process_run_observation_status"), table_name="process_run_observation")
    op.drop_index(
        op.f("ix_process_run_observation_process_candidate_code"),
        table_name="process_run_observation",
    )
    op.drop_index(
        op.f("ix_process_run_observation_parent_run_id"), table_name="process_run_observation"
    )
    op.drop_index(
        op.f("ix_process_run_observation_correlation_id"), table_name="process_run_observation"
    )
    op.drop_table("process_run_observation")
    op.drop_index(
        "uq_job_queue_idempotency_key",
        table_name="job_queue",
        postgresql_where=sa.text("idempotency_key IS NOT NULL"),
        sqlite_where=sa.text("idempotency_key IS NOT NULL"),
    )
    op.drop_index(op.f("ix_job_queue_status"), table_name="job_queue")
    op.drop_index(op.f("ix_job_queue_run_id"), table_name="job_queue")
    op.drop_index(op.f("ix_job_queue_job_kind"), table_name="job_queue")
    op.drop_table("job_queue")
