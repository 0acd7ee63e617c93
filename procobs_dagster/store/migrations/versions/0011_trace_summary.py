"""Incremental discovery: per-trace summaries, their classes' counts, the queue of changed ledger keys the triggers
fill, and the summaries' state (docs/discovery.md, "Trace summaries").

The summaries start empty and the state says they were never built, so the first scoring
after this upgrade builds them in full; until then a read-only scoring computes every trace
from the ledger, as before.

Revision ID: 0011_trace_summary
Revises: 0010_retention_all
"""

import sqlalchemy as sa
from alembic import op

from procobs_dagster.store.triggers import drop_trace_change_triggers, trace_change_triggers

revision = "0011_trace_summary"
down_revision = "0010_retention_all"
branch_labels = None
depends_on = None

BIG_SERIAL = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
ARCHIVES = ("process_run_observation_archive", "process_component_observation_archive")


def upgrade() -> None:
    op.create_table(
        "discovery_trace_summary",
        sa.Column("trace_id", sa.Uuid(), nullable=False),
        sa.Column("origin", sa.Text(), nullable=False),
        sa.Column("candidate_code", sa.Text(), nullable=False),
        sa.Column("correlation_id", sa.Text(), nullable=True),
        sa.Column("header_status", sa.Text(), nullable=True),
        sa.Column("dry_run", sa.SmallInteger(), nullable=False),
        sa.Column("completed", sa.SmallInteger(), nullable=False),
        sa.Column("timed", sa.SmallInteger(), nullable=False),
        sa.Column("n_steps", sa.Integer(), nullable=False),
        sa.Column("n_evidence", sa.Integer(), nullable=True),
        sa.Column("variant", sa.Text(), nullable=True),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "origin IN ('process_run_observation', 'job_queue')",
            name=op.f("ck_discovery_trace_summary_origin"),
        ),
        sa.CheckConstraint(
            "dry_run IN (0, 1) AND completed IN (0, 1) AND timed IN (0, 1)",
            name=op.f("ck_discovery_trace_summary_flags"),
        ),
        sa.CheckConstraint(
            "n_steps >= 0 AND (n_evidence IS NULL OR n_evidence BETWEEN 0 AND n_steps)",
            name=op.f("ck_discovery_trace_summary_counts"),
        ),
        sa.PrimaryKeyConstraint(
            "trace_id", "origin", "candidate_code", name=op.f("pk_discovery_trace_summary")
        ),
    )
    op.create_index(
        op.f("ix_discovery_trace_summary_correlation_id"),
        "discovery_trace_summary",
        ["correlation_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_discovery_trace_summary_candidate_code"),
        "discovery_trace_summary",
        ["candidate_code"],
        unique=False,
    )
    op.create_table(
        "discovery_trace_class",
        sa.Column("class_key", sa.Text(), nullable=False),
        sa.Column("candidate_code", sa.Text(), nullable=False),
        sa.Column("origin", sa.Text(), nullable=False),
        sa.Column("variant", sa.Text(), nullable=True),
        sa.Column("dry_run", sa.SmallInteger(), nullable=False),
        sa.Column("completed", sa.SmallInteger(), nullable=False),
        sa.Column("timed", sa.SmallInteger(), nullable=False),
        sa.Column("enough_steps", sa.SmallInteger(), nullable=False),
        sa.Column("traces", sa.BigInteger(), nullable=False),
        sa.Column("components", sa.BigInteger(), nullable=False),
        sa.Column("components_with_evidence", sa.BigInteger(), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("representative", sa.Text(), nullable=False),
        sa.CheckConstraint(
            "origin IN ('process_run_observation', 'job_queue')",
            name=op.f("ck_discovery_trace_class_origin"),
        ),
        sa.CheckConstraint(
            "traces > 0 AND components >= 0 AND components_with_evidence BETWEEN 0 AND components",
            name=op.f("ck_discovery_trace_class_counts"),
        ),
        sa.PrimaryKeyConstraint("class_key", name=op.f("pk_discovery_trace_class")),
    )
    op.create_index(
        op.f("ix_discovery_trace_class_candidate_code"),
        "discovery_trace_class",
        ["candidate_code"],
        unique=False,
    )
    op.create_table(
        "discovery_trace_change",
        sa.Column("change_id", BIG_SERIAL, autoincrement=True, nullable=False),
        sa.Column("correlation_id", sa.Text(), nullable=True),
        sa.Column("run_id", sa.Uuid(), nullable=True),
        sa.CheckConstraint(
            "correlation_id IS NOT NULL OR run_id IS NOT NULL",
            name=op.f("ck_discovery_trace_change_has_key"),
        ),
        sa.PrimaryKeyConstraint("change_id", name=op.f("pk_discovery_trace_change")),
    )
    op.create_table(
        "discovery_summary_state",
        sa.Column("state_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("job_coverage", sa.Text(), nullable=True),
        sa.Column("built_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("refreshed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("state_id = 1", name=op.f("ck_discovery_summary_state_singleton")),
        sa.PrimaryKeyConstraint("state_id", name=op.f("pk_discovery_summary_state")),
    )
    op.execute("INSERT INTO discovery_summary_state (state_id) VALUES (1)")
    for archive in ARCHIVES:
        op.create_index(
            op.f(f"ix_{archive}_correlation_id"), archive, ["correlation_id"], unique=False
        )
    for statement in trace_change_triggers(op.get_context().dialect.name):
        op.execute(statement)


def downgrade() -> None:
    for statement in drop_trace_change_triggers(op.get_context().dialect.name):
        op.execute(statement)
    for archive in ARCHIVES:
        op.drop_index(op.f(f"ix_{archive}_correlation_id"), table_name=archive)
    op.drop_table("discovery_summary_state")
    op.drop_table("discovery_trace_change")
    op.drop_index(
        op.f("ix_discovery_trace_class_candidate_code"), table_name="discovery_trace_class"
    )
    op.drop_table("discovery_trace_class")
    op.drop_index(
        op.f("ix_discovery_trace_summary_candidate_code"), table_name="discovery_trace_summary"
    )
    op.drop_index(
        op.f("ix_discovery_trace_summary_correlation_id"), table_name="discovery_trace_summary"
    )
    op.drop_table("discovery_trace_summary")
