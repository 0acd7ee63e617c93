"""Workflow engines as a source: raw workflow events and where each reported run sits.

Revision ID: 0007_workflow
Revises: 0006_discovery
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from procobs_dagster.store.triggers import append_only, drop_append_only

revision = "0007_workflow"
down_revision = "0006_discovery"
branch_labels = None
depends_on = None

JSON_DOC = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
BIG_SERIAL = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "workflow_event",
        sa.Column("event_seq", BIG_SERIAL, autoincrement=True, nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("run_key", sa.Text(), nullable=False),
        sa.Column("event_type", sa.Text(), nullable=False),
        sa.Column("event_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("parent_run_key", sa.Text(), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("document", JSON_DOC, nullable=False),
        sa.CheckConstraint(
            "source IN ('openlineage', 'dagster')", name=op.f("ck_workflow_event_source")
        ),
        sa.CheckConstraint(
            "event_type IN ('START', 'RUNNING', 'COMPLETE', 'ABORT', 'FAIL', 'OTHER')",
            name=op.f("ck_workflow_event_event_type"),
        ),
        sa.PrimaryKeyConstraint("event_seq", name=op.f("pk_workflow_event")),
        sa.UniqueConstraint(
            "source",
            "run_key",
            "event_type",
            "event_time",
            name=op.f("uq_workflow_event_source_run_key_event_type_event_time"),
        ),
    )
    op.create_table(
        "workflow_run",
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("run_key", sa.Text(), nullable=False),
        sa.Column("parent_run_key", sa.Text(), nullable=True),
        sa.Column("placement", sa.Text(), nullable=False),
        sa.Column("process_run_id", sa.Uuid(), nullable=True),
        sa.Column("component_run_id", sa.Uuid(), nullable=True),
        sa.Column("parent_missing", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("facts", JSON_DOC, nullable=False),
        sa.Column("first_received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "source IN ('openlineage', 'dagster')", name=op.f("ck_workflow_run_source")
        ),
        sa.CheckConstraint(
            "placement IN ('held', 'run', 'component')", name=op.f("ck_workflow_run_placement")
        ),
        sa.CheckConstraint(
            "(placement = 'held') = (process_run_id IS NULL)",
            name=op.f("ck_workflow_run_placed_iff_in_ledger"),
        ),
        sa.CheckConstraint(
            "(placement = 'component') = (component_run_id IS NOT NULL)",
            name=op.f("ck_workflow_run_component_iff_component_row"),
        ),
        sa.CheckConstraint(
            "NOT parent_missing OR (placement = 'run' AND parent_run_key IS NOT NULL)",
            name=op.f("ck_workflow_run_parent_missing_is_a_run"),
        ),
        sa.PrimaryKeyConstraint("source", "run_key", name=op.f("pk_workflow_run")),
    )
    op.create_index(
        op.f("ix_workflow_run_source_parent_run_key"),
        "workflow_run",
        ["source", "parent_run_key"],
        unique=False,
    )
    op.create_index(
        op.f("ix_workflow_run_placement_first_received_at"),
        "workflow_run",
        ["placement", "first_received_at"],
        unique=False,
    )
    dialect = op.get_context().dialect.name
    for statement in append_only("workflow_event", dialect):
        op.execute(statement)


def downgrade() -> None:
    dialect = op.get_context().dialect.name
    for statement in drop_append_only("workflow_event", dialect):
        op.execute(statement)
    op.drop_index(op.f("ix_workflow_run_placement_first_received_at"), table_name="workflow_run")
    op.drop_index(op.f("ix_workflow_run_source_parent_run_key"), table_name="workflow_run")
    op.drop_table("workflow_run")
    op.drop_table("workflow_event")
