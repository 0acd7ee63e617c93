"""Ledger maintenance: archive tables for retention, per-candidate SLAs for the stuck sweep.

Revision ID: 0003_archive
Revises: 0002_events
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003_archive"
down_revision = "0002_events"
branch_labels = None
depends_on = None

JSON_DOC = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "process_component_observation_archive",
        sa.Column("component_run_id", sa.Uuid(), autoincrement=False, nullable=False),
        sa.Column("process_run_id", sa.Uuid(), autoincrement=False, nullable=True),
        sa.Column("parent_run_id", sa.Uuid(), autoincrement=False, nullable=True),
        sa.Column("correlation_id", sa.Text(), autoincrement=False, nullable=False),
        sa.Column("dot_code", sa.Text(), autoincrement=False, nullable=True),
        sa.Column("component_role", sa.Text(), autoincrement=False, nullable=True),
        sa.Column("event_code", sa.Text(), autoincrement=False, nullable=True),
        sa.Column("queue_job_id", sa.Uuid(), autoincrement=False, nullable=True),
        sa.Column("standalone", sa.Boolean(), autoincrement=False, nullable=False),
        sa.Column("status", sa.Text(), autoincrement=False, nullable=False),
        sa.Column("source_system", sa.Text(), autoincrement=False, nullable=False),
        sa.Column("idempotency_key", sa.Text(), autoincrement=False, nullable=True),
        sa.Column("input_ref", sa.Text(), autoincrement=False, nullable=True),
        sa.Column("output_ref", sa.Text(), autoincrement=False, nullable=True),
        sa.Column("error_ref", sa.Text(), autoincrement=False, nullable=True),
        sa.Column("evidence_ref", JSON_DOC, autoincrement=False, nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), autoincrement=False, nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), autoincrement=False, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), autoincrement=False, nullable=False),
        sa.Column("archived_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint(
            "component_run_id", name=op.f("pk_process_component_observation_archive")
        ),
    )
    op.create_index(
        op.f("ix_process_component_observation_archive_archived_at"),
        "process_component_observation_archive",
        ["archived_at"],
        unique=False,
    )
    op.create_index(
        op.f("ix_process_component_observation_archive_process_run_id"),
        "process_component_observation_archive",
        ["process_run_id"],
        unique=False,
    )
    op.create_table(
        "process_run_observation_archive",
        sa.Column("process_run_id", sa.Uuid(), autoincrement=False, nullable=False),
        sa.Column("process_candidate_code", sa.Text(), autoincrement=False, nullable=False),
        sa.Column("process_definition_code", sa.Text(), autoincrement=False, nullable=True),
        sa.Column("correlation_id", sa.Text(), autoincrement=False, nullable=False),
        sa.Column("parent_run_id", sa.Uuid(), autoincrement=False, nullable=True),
        sa.Column("status", sa.Text(), autoincrement=False, nullable=False),
        sa.Column("source_system", sa.Text(), autoincrement=False, nullable=False),
        sa.Column("idempotency_key", sa.Text(), autoincrement=False, nullable=True),
        sa.Column("input_ref", sa.Text(), autoincrement=False, nullable=True),
        sa.Column("output_ref", sa.Text(), autoincrement=False, nullable=True),
        sa.Column("error_ref", sa.Text(), autoincrement=False, nullable=True),
        sa.Column("evidence_ref", JSON_DOC, autoincrement=False, nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), autoincrement=False, nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), autoincrement=False, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), autoincrement=False, nullable=False),
        sa.Column("archived_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("process_run_id", name=op.f("pk_process_run_observation_archive")),
    )
    op.create_index(
        op.f("ix_process_run_observation_archive_archived_at"),
        "process_run_observation_archive",
        ["archived_at"],
        unique=False,
    )
    op.create_index(
        op.f("ix_process_run_observation_archive_process_run_id"),
        "process_run_observation_archive",
        ["process_run_id"],
        unique=False,
    )
    op.create_table(
        "process_status_history_archive",
        sa.Column(
            "history_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=False,
            nullable=False,
        ),
        sa.Column("subject_kind", sa.Text(), autoincrement=False, nullable=False),
        sa.Column("subject_id", sa.Uuid(), autoincrement=False, nullable=False),
        sa.Column("process_run_id", sa.Uuid(), autoincrement=False, nullable=True),
        sa.Column("from_status", sa.Text(), autoincrement=False, nullable=True),
        sa.Column("to_status", sa.Text(), autoincrement=False, nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), autoincrement=False, nullable=False),
        sa.Column("reason", sa.Text(), autoincrement=False, nullable=True),
        sa.Column("actor", sa.Text(), autoincrement=False, nullable=True),
        sa.Column("archived_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("history_id", name=op.f("pk_process_status_history_archive")),
    )
    op.create_index(
        op.f("ix_process_status_history_archive_archived_at"),
        "process_status_history_archive",
        ["archived_at"],
        unique=False,
    )
    op.create_index(
        op.f("ix_process_status_history_archive_process_run_id"),
        "process_status_history_archive",
        ["process_run_id"],
        unique=False,
    )

    op.create_table(
        "stuck_sla_override",
        sa.Column("process_candidate_code", sa.Text(), nullable=False),
        sa.Column("sla_seconds", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("set_by", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "sla_seconds > 0", name=op.f("ck_stuck_sla_override_sla_seconds_positive")
        ),
        sa.PrimaryKeyConstraint("process_candidate_code", name=op.f("pk_stuck_sla_override")),
    )


def downgrade() -> None:

    op.drop_table("stuck_sla_override")
    op.drop_index(
        op.f("ix_process_status_history_archive_process_run_id"),
        table_name="process_status_history_archive",
    )
    op.drop_index(
        op.f("ix_process_status_history_archive_archived_at"),
        table_name="process_status_history_archive",
    )
    op.drop_table("process_status_history_archive")
    op.drop_index(
        op.f("ix_process_run_observation_archive_process_run_id"),
        table_name="process_run_observation_archive",
    )
    op.drop_index(
        op.f("ix_process_run_observation_archive_archived_at"),
        table_name="process_run_observation_archive",
    )
    op.drop_table("process_run_observation_archive")
    op.drop_index(
        op.f("ix_process_component_observation_archive_process_run_id"),
        table_name="process_component_observation_archive",
    )
    op.drop_index(
        op.f("ix_process_component_observation_archive_archived_at"),
        table_name="process_component_observation_archive",
    )
    op.drop_table("process_component_observation_archive")
