"""Process candidates, discovery scores and birth records.

Revision ID: 0006_discovery
Revises: 0005_dossier
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0006_discovery"
down_revision = "0005_dossier"
branch_labels = None
depends_on = None

JSON_DOC = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "discovery_score",
        sa.Column(
            "score_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("candidate_code", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("support", sa.Integer(), nullable=False),
        sa.Column("dry_runs", sa.Integer(), nullable=False),
        sa.Column("completion_ratio", sa.Float(), nullable=True),
        sa.Column("evidence_completeness", sa.Float(), nullable=True),
        sa.Column("fitness", sa.Float(), nullable=True),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("proving_run_id", sa.Uuid(), nullable=True),
        sa.Column("explanation", sa.Text(), nullable=False),
        sa.Column("directly_follows", JSON_DOC, nullable=True),
        sa.CheckConstraint(
            "status <> 'verified_candidate' OR proving_run_id IS NOT NULL",
            name=op.f("ck_discovery_score_verified_has_proof"),
        ),
        sa.CheckConstraint(
            "status IN ('runtime_missing', 'wired', 'observed', 'verified_candidate')",
            name=op.f("ck_discovery_score_status"),
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
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("title", sa.Text(), nullable=True),
        sa.Column("covers", JSON_DOC, nullable=True),
        sa.Column("expected_steps", JSON_DOC, nullable=True),
        sa.Column("declared", sa.Boolean(), nullable=False),
        sa.Column("last_executed", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "source IN ('dot', 'job', 'workflow')", name=op.f("ck_process_candidate_source")
        ),
        sa.PrimaryKeyConstraint("candidate_code", name=op.f("pk_process_candidate")),
    )
    op.create_table(
        "process_definition",
        sa.Column("definition_code", sa.Text(), nullable=False),
        sa.Column("candidate_code", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("approved_by", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("definition_code", name=op.f("pk_process_definition")),
        sa.UniqueConstraint("candidate_code", name=op.f("uq_process_definition_candidate_code")),
    )
    op.create_table(
        "birth_registry",
        sa.Column(
            "birth_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("definition_code", sa.Text(), nullable=False),
        sa.Column("candidate_code", sa.Text(), nullable=False),
        sa.Column("proving_run_id", sa.Uuid(), nullable=False),
        sa.Column("approved_by", sa.Text(), nullable=False),
        sa.Column("born_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("evidence", JSON_DOC, nullable=False),
        sa.ForeignKeyConstraint(
            ["definition_code"],
            ["process_definition.definition_code"],
            name=op.f("fk_birth_registry_definition_code_process_definition"),
        ),
        sa.PrimaryKeyConstraint("birth_id", name=op.f("pk_birth_registry")),
        sa.UniqueConstraint("definition_code", name=op.f("uq_birth_registry_definition_code")),
    )


def downgrade() -> None:

    op.drop_table("birth_registry")
    op.drop_table("process_definition")
    op.drop_table("process_candidate")
    op.drop_index(op.f("ix_discovery_score_computed_at"), table_name="discovery_score")
    op.drop_index(
        op.f("ix_discovery_score_candidate_code_computed_at"), table_name="discovery_score"
    )
    op.drop_table("discovery_score")
