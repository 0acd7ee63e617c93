"""Mission dossier snapshots, artifacts and baselines.

Revision ID: 0005_dossier
Revises: 0004_delivery
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_dossier"
down_revision = "0004_delivery"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dossier_snapshot",
        sa.Column("snapshot_id", sa.Uuid(), nullable=False),
        sa.Column("feature_slug", sa.Text(), nullable=False),
        sa.Column("mission_type", sa.Text(), nullable=False),
        sa.Column("manifest_version", sa.Text(), nullable=False),
        sa.Column("step_id", sa.Text(), nullable=True),
        sa.Column("root_path", sa.Text(), nullable=False),
        sa.Column("parity_hash", sa.Text(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("required_count", sa.Integer(), nullable=False),
        sa.Column("required_present", sa.Integer(), nullable=False),
        sa.Column("required_missing", sa.Integer(), nullable=False),
        sa.Column("optional_count", sa.Integer(), nullable=False),
        sa.Column("optional_present", sa.Integer(), nullable=False),
        sa.Column("completeness", sa.Text(), nullable=False),
        sa.Column("full_scan", sa.Boolean(), nullable=False),
        sa.Column("hashed_files", sa.Integer(), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "completeness IN ('complete', 'incomplete', 'unknown')",
            name=op.f("ck_dossier_snapshot_completeness"),
        ),
        sa.CheckConstraint(
            "parity_hash LIKE 'sha256:%'", name=op.f("ck_dossier_snapshot_parity_hash")
        ),
        sa.CheckConstraint(
            "required_present + required_missing = required_count",
            name=op.f("ck_dossier_snapshot_required_counts"),
        ),
        sa.PrimaryKeyConstraint("snapshot_id", name=op.f("pk_dossier_snapshot")),
    )
    op.create_index(
        op.f("ix_dossier_snapshot_feature_slug_computed_at"),
        "dossier_snapshot",
        ["feature_slug", "computed_at"],
        unique=False,
    )
    op.create_table(
        "dossier_artifact",
        sa.Column(
            "artifact_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("snapshot_id", sa.Uuid(), nullable=False),
        sa.Column("artifact_key", sa.Text(), nullable=False),
        sa.Column("artifact_class", sa.Text(), nullable=False),
        sa.Column("relative_path", sa.Text(), nullable=True),
        sa.Column("path_pattern", sa.Text(), nullable=False),
        sa.Column("content_sha256", sa.Text(), nullable=True),
        sa.Column("size_bytes", sa.BigInteger(), nullable=True),
        sa.Column("mtime_ns", sa.BigInteger(), nullable=True),
        sa.Column("wp_id", sa.Text(), nullable=True),
        sa.Column("step_id", sa.Text(), nullable=True),
        sa.Column("required_status", sa.Text(), nullable=False),
        sa.Column("blocking", sa.Boolean(), nullable=False),
        sa.Column("present", sa.Boolean(), nullable=False),
        sa.Column("reason_code", sa.Text(), nullable=True),
        sa.Column("reason_detail", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "artifact_class IN ('input', 'workflow', 'output', 'evidence', 'policy', 'runtime')",
            name=op.f("ck_dossier_artifact_artifact_class"),
        ),
        sa.CheckConstraint(
            "reason_code IS NULL OR reason_code IN ('not_found', 'unreadable', 'invalid_format', 'deleted_after_scan')",
            name=op.f("ck_dossier_artifact_reason_code"),
        ),
        sa.CheckConstraint(
            "required_status IN ('required', 'optional')",
            name=op.f("ck_dossier_artifact_required_status"),
        ),
        sa.CheckConstraint(
            "(present AND content_sha256 IS NOT NULL AND reason_code IS NULL) OR (NOT present AND reason_code IS NOT NULL)",
            name=op.f("ck_dossier_artifact_present_or_reason"),
        ),
        sa.ForeignKeyConstraint(
            ["snapshot_id"],
            ["dossier_snapshot.snapshot_id"],
            name=op.f("fk_dossier_artifact_snapshot_id_dossier_snapshot"),
        ),
        sa.PrimaryKeyConstraint("artifact_id", name=op.f("pk_dossier_artifact")),
        sa.UniqueConstraint(
            "snapshot_id", "artifact_key", name=op.f("uq_dossier_artifact_snapshot_id_artifact_key")
        ),
    )
    op.create_index(
        op.f("ix_dossier_artifact_snapshot_id_relative_path"),
        "dossier_artifact",
        ["snapshot_id", "relative_path"],
        unique=False,
    )
    op.create_table(
        "dossier_baseline",
        sa.Column("feature_slug", sa.Text(), nullable=False),
        sa.Column("mission_type", sa.Text(), nullable=False),
        sa.Column("manifest_version", sa.Text(), nullable=False),
        sa.Column("snapshot_id", sa.Uuid(), nullable=False),
        sa.Column("parity_hash", sa.Text(), nullable=False),
        sa.Column("captured_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("captured_by", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["snapshot_id"],
            ["dossier_snapshot.snapshot_id"],
            name=op.f("fk_dossier_baseline_snapshot_id_dossier_snapshot"),
        ),
        sa.PrimaryKeyConstraint(
            "feature_slug", "mission_type", "manifest_version", name=op.f("pk_dossier_baseline")
        ),
    )


def downgrade() -> None:

    op.drop_table("dossier_baseline")
    op.drop_index(
        op.f("ix_dossier_artifact_snapshot_id_relative_path"), table_name="dossier_artifact"
    )
    op.drop_table("dossier_artifact")
    op.drop_index(
        op.f("ix_dossier_snapshot_feature_slug_computed_at"), table_name="dossier_snapshot"
    )
    op.drop_table("dossier_snapshot")
