"""Process candidates, discovery scores and birth records.

Revision ID: 0006_discovery
Revises: 0005_dossier
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from procobs_dagster.store.triggers import append_only, drop_append_only

revision = "0006_discovery"
down_revision = "0005_dossier"
branch_labels = None
depends_on = None

JSON_DOC = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
BIG_SERIAL = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
# Birth records are facts: never rewritten, never removed.
BIRTH_REGISTRY_REFUSES = ("UPDATE", "DELETE")


def upgrade() -> None:
    op.create_table(
        "discovery_score",
        sa.Column("score_id", BIG_SERIAL, autoincrement=True, nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("candidate_code", sa.Text(), nullable=False),
        sa.Column("declared", sa.Boolean(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("support", sa.Integer(), nullable=False),
        sa.Column("dry_runs", sa.Integer(), nullable=False),
        sa.Column("completed_runs", sa.Integer(), nullable=False),
        sa.Column("verified_runs", sa.Integer(), nullable=False),
        sa.Column("fitting_runs", sa.Integer(), nullable=False),
        sa.Column("completion_ratio", sa.Float(), nullable=True),
        sa.Column("evidence_completeness", sa.Float(), nullable=True),
        sa.Column("fitness", sa.Float(), nullable=True),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("proving_run_id", sa.Uuid(), nullable=True),
        sa.Column("proof_source", sa.Text(), nullable=True),
        sa.Column("explanation", sa.Text(), nullable=False),
        sa.Column("evidence", JSON_DOC, nullable=False),
        sa.Column("directly_follows", JSON_DOC, nullable=False),
        sa.CheckConstraint(
            "status IN ('runtime_missing', 'wired', 'observed', 'verified_candidate')",
            name=op.f("ck_discovery_score_status"),
        ),
        sa.CheckConstraint(
            "status = CASE WHEN verified_runs > 0 THEN 'verified_candidate' WHEN support > 0 THEN 'observed' WHEN dry_runs > 0 THEN 'wired' ELSE 'runtime_missing' END",
            name=op.f("ck_discovery_score_status_from_counts"),
        ),
        sa.CheckConstraint(
            "(status = 'verified_candidate') = (proving_run_id IS NOT NULL)",
            name=op.f("ck_discovery_score_proof_iff_verified"),
        ),
        sa.CheckConstraint(
            "(proving_run_id IS NULL) = (proof_source IS NULL) AND (proof_source IS NULL OR proof_source IN ('process_run_observation', 'job_queue'))",
            name=op.f("ck_discovery_score_proof_source"),
        ),
        sa.CheckConstraint(
            "dry_runs >= 0 AND verified_runs >= 0 AND verified_runs <= completed_runs AND completed_runs <= support AND fitting_runs >= 0 AND fitting_runs <= support",
            name=op.f("ck_discovery_score_counts"),
        ),
        sa.CheckConstraint(
            "completion_ratio IS NULL OR completion_ratio BETWEEN 0 AND 1",
            name=op.f("ck_discovery_score_completion_ratio"),
        ),
        sa.CheckConstraint(
            "evidence_completeness IS NULL OR evidence_completeness BETWEEN 0 AND 1",
            name=op.f("ck_discovery_score_evidence_completeness"),
        ),
        sa.CheckConstraint(
            "fitness IS NULL OR fitness BETWEEN 0 AND 1", name=op.f("ck_discovery_score_fitness")
        ),
        sa.PrimaryKeyConstraint("score_id", name=op.f("pk_discovery_score")),
    )
    op.create_index(
        op.f("ix_discovery_score_candidate_code_computed_at"),
        "discovery_score",
        ["candidate_code", "computed_at"],
        unique=False,
    )
    op.create_index(
        op.f("ix_discovery_score_computed_at"), "discovery_score", ["computed_at"], unique=False
    )
    op.create_table(
        "process_candidate",
        sa.Column("candidate_code", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=True),
        sa.Column("title", sa.Text(), nullable=True),
        sa.Column("covers", JSON_DOC, nullable=True),
        sa.Column("expected_steps", JSON_DOC, nullable=True),
        sa.Column("declared", sa.Boolean(), nullable=False),
        sa.Column("last_executed", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "source IS NULL OR source IN ('dot', 'job', 'workflow')",
            name=op.f("ck_process_candidate_source"),
        ),
        sa.CheckConstraint(
            "NOT declared OR source IS NOT NULL",
            name=op.f("ck_process_candidate_declared_has_source"),
        ),
        sa.PrimaryKeyConstraint("candidate_code", name=op.f("pk_process_candidate")),
    )
    op.create_table(
        "process_definition",
        sa.Column("definition_code", sa.Text(), nullable=False),
        sa.Column("candidate_code", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("approved_by", sa.Text(), nullable=False),
        sa.CheckConstraint(
            "length(trim(approved_by)) > 0", name=op.f("ck_process_definition_approved_by")
        ),
        sa.PrimaryKeyConstraint("definition_code", name=op.f("pk_process_definition")),
        sa.UniqueConstraint("candidate_code", name=op.f("uq_process_definition_candidate_code")),
    )
    op.create_table(
        "birth_registry",
        sa.Column("birth_id", BIG_SERIAL, autoincrement=True, nullable=False),
        sa.Column("definition_code", sa.Text(), nullable=False),
        sa.Column("candidate_code", sa.Text(), nullable=False),
        sa.Column("proving_run_id", sa.Uuid(), nullable=False),
        sa.Column("proof_source", sa.Text(), nullable=False),
        sa.Column("approved_by", sa.Text(), nullable=False),
        sa.Column("born_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("evidence", JSON_DOC, nullable=False),
        sa.CheckConstraint(
            "proof_source IN ('process_run_observation', 'job_queue')",
            name=op.f("ck_birth_registry_proof_source"),
        ),
        sa.CheckConstraint(
            "length(trim(approved_by)) > 0", name=op.f("ck_birth_registry_approved_by")
        ),
        sa.ForeignKeyConstraint(
            ["definition_code"],
            ["process_definition.definition_code"],
            name=op.f("fk_birth_registry_definition_code_process_definition"),
        ),
        sa.PrimaryKeyConstraint("birth_id", name=op.f("pk_birth_registry")),
        sa.UniqueConstraint("definition_code", name=op.f("uq_birth_registry_definition_code")),
    )
    dialect = op.get_context().dialect.name
    for statement in append_only("birth_registry", dialect, BIRTH_REGISTRY_REFUSES):
        op.execute(statement)


def downgrade() -> None:
    dialect = op.get_context().dialect.name
    for statement in drop_append_only("birth_registry", dialect, BIRTH_REGISTRY_REFUSES):
        op.execute(statement)
    op.drop_table("birth_registry")
    op.drop_table("process_definition")
    op.drop_table("process_candidate")
    op.drop_index(op.f("ix_discovery_score_computed_at"), table_name="discovery_score")
    op.drop_index(
        op.f("ix_discovery_score_candidate_code_computed_at"), table_name="discovery_score"
    )
    op.drop_table("discovery_score")
