"""Mission dossier: snapshots, content-addressed artifact sets, artifacts, baselines.

Revision ID: 0005_dossier
Revises: 0004_delivery
"""

import sqlalchemy as sa
from alembic import op

from procobs_dagster.store.triggers import append_only, drop_append_only

revision = "0005_dossier"
down_revision = "0004_delivery"
branch_labels = None
depends_on = None

# Facts: UPDATE is refused; retention may still DELETE old snapshots.
APPEND_ONLY = ("dossier_artifact_set", "dossier_artifact", "dossier_snapshot")


def upgrade() -> None:
    op.create_table(
        "dossier_artifact_set",
        sa.Column("artifact_set_id", sa.Uuid(), nullable=False),
        sa.Column("rows_digest", sa.Text(), nullable=False),
        sa.Column("artifact_count", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "artifact_count >= 0", name=op.f("ck_dossier_artifact_set_artifact_count")
        ),
        sa.CheckConstraint(
            "length(rows_digest) = 64", name=op.f("ck_dossier_artifact_set_rows_digest")
        ),
        sa.PrimaryKeyConstraint("artifact_set_id", name=op.f("pk_dossier_artifact_set")),
        sa.UniqueConstraint("rows_digest", name=op.f("uq_dossier_artifact_set_rows_digest")),
    )
    op.create_table(
        "dossier_artifact",
        sa.Column(
            "artifact_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("artifact_set_id", sa.Uuid(), nullable=False),
        sa.Column("artifact_key", sa.Text(), nullable=False),
        sa.Column("artifact_class", sa.Text(), nullable=False),
        sa.Column("relative_path", sa.Text(), nullable=True),
        sa.Column("path_pattern", sa.Text(), nullable=False),
        sa.Column("content_sha256", sa.Text(), nullable=True),
        sa.Column("size_bytes", sa.BigInteger(), nullable=True),
        sa.Column("mtime_ns", sa.BigInteger(), nullable=True),
        sa.Column("ctime_ns", sa.BigInteger(), nullable=True),
        sa.Column("wp_id", sa.Text(), nullable=True),
        sa.Column("step_id", sa.Text(), nullable=True),
        sa.Column("required_status", sa.Text(), nullable=False),
        sa.Column("blocking", sa.Boolean(), nullable=False),
        sa.Column("present", sa.Boolean(), nullable=False),
        sa.Column("reason_code", sa.Text(), nullable=True),
        sa.Column("reason_detail", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "(relative_path IS NULL AND reason_code IS NOT NULL AND reason_code = 'not_found') OR (relative_path IS NOT NULL AND (reason_code IS NULL OR reason_code <> 'not_found'))",
            name=op.f("ck_dossier_artifact_placeholder"),
        ),
        sa.CheckConstraint(
            "NOT blocking OR required_status = 'required'",
            name=op.f("ck_dossier_artifact_blocking"),
        ),
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
            "(present AND content_sha256 IS NOT NULL AND size_bytes IS NOT NULL AND mtime_ns IS NOT NULL AND ctime_ns IS NOT NULL AND reason_code IS NULL) OR (NOT present AND content_sha256 IS NULL AND reason_code IS NOT NULL)",
            name=op.f("ck_dossier_artifact_present_or_reason"),
        ),
        sa.CheckConstraint(
            "content_sha256 IS NULL OR length(content_sha256) = 64",
            name=op.f("ck_dossier_artifact_content_sha256"),
        ),
        sa.CheckConstraint(
            "size_bytes IS NULL OR size_bytes >= 0", name=op.f("ck_dossier_artifact_size_bytes")
        ),
        sa.ForeignKeyConstraint(
            ["artifact_set_id"],
            ["dossier_artifact_set.artifact_set_id"],
            name=op.f("fk_dossier_artifact_artifact_set_id_dossier_artifact_set"),
        ),
        sa.PrimaryKeyConstraint("artifact_id", name=op.f("pk_dossier_artifact")),
        sa.UniqueConstraint(
            "artifact_set_id",
            "relative_path",
            name=op.f("uq_dossier_artifact_artifact_set_id_relative_path"),
        ),
    )
    op.create_index(
        "ux_dossier_artifact_placeholder_key",
        "dossier_artifact",
        ["artifact_set_id", "artifact_key"],
        unique=True,
        postgresql_where=sa.text("relative_path IS NULL"),
        sqlite_where=sa.text("relative_path IS NULL"),
    )
    op.create_table(
        "dossier_snapshot",
        sa.Column("snapshot_id", sa.Uuid(), nullable=False),
        sa.Column("feature_slug", sa.Text(), nullable=False),
        sa.Column("mission_type", sa.Text(), nullable=False),
        sa.Column("manifest_version", sa.Text(), nullable=False),
        sa.Column("manifest_digest", sa.Text(), nullable=True),
        sa.Column("step_id", sa.Text(), nullable=True),
        sa.Column("root_path", sa.Text(), nullable=False),
        sa.Column("scan_fingerprint", sa.Text(), nullable=True),
        sa.Column("artifact_set_id", sa.Uuid(), nullable=False),
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
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "completeness IN ('complete', 'incomplete', 'unknown')",
            name=op.f("ck_dossier_snapshot_completeness"),
        ),
        sa.CheckConstraint(
            "parity_hash LIKE 'sha256:%' AND length(parity_hash) = 71",
            name=op.f("ck_dossier_snapshot_parity_hash"),
        ),
        sa.CheckConstraint(
            "(manifest_digest IS NULL AND mission_type = '(none)') OR (length(manifest_digest) = 64 AND mission_type <> '(none)')",
            name=op.f("ck_dossier_snapshot_manifest_digest"),
        ),
        sa.CheckConstraint(
            "scan_fingerprint IS NULL OR length(scan_fingerprint) = 64",
            name=op.f("ck_dossier_snapshot_scan_fingerprint"),
        ),
        sa.CheckConstraint(
            "computed_at >= started_at", name=op.f("ck_dossier_snapshot_computed_after_start")
        ),
        sa.CheckConstraint(
            "optional_present <= optional_count AND total = required_count + optional_count",
            name=op.f("ck_dossier_snapshot_total_counts"),
        ),
        sa.CheckConstraint(
            "required_present + required_missing = required_count",
            name=op.f("ck_dossier_snapshot_required_counts"),
        ),
        sa.CheckConstraint(
            "required_present >= 0 AND required_missing >= 0 AND optional_present >= 0 AND hashed_files >= 0",
            name=op.f("ck_dossier_snapshot_counts_not_negative"),
        ),
        sa.ForeignKeyConstraint(
            ["artifact_set_id"],
            ["dossier_artifact_set.artifact_set_id"],
            name=op.f("fk_dossier_snapshot_artifact_set_id_dossier_artifact_set"),
        ),
        sa.PrimaryKeyConstraint("snapshot_id", name=op.f("pk_dossier_snapshot")),
        sa.UniqueConstraint(
            "snapshot_id",
            "feature_slug",
            "mission_type",
            "manifest_version",
            name="uq_dossier_snapshot_namespace",
        ),
    )
    op.create_index(
        op.f("ix_dossier_snapshot_feature_slug_computed_at"),
        "dossier_snapshot",
        ["feature_slug", "computed_at"],
        unique=False,
    )
    op.create_table(
        "dossier_baseline",
        sa.Column("feature_slug", sa.Text(), nullable=False),
        sa.Column("mission_type", sa.Text(), nullable=False),
        sa.Column("manifest_version", sa.Text(), nullable=False),
        sa.Column("snapshot_id", sa.Uuid(), nullable=False),
        sa.Column("captured_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("captured_by", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["snapshot_id", "feature_slug", "mission_type", "manifest_version"],
            [
                "dossier_snapshot.snapshot_id",
                "dossier_snapshot.feature_slug",
                "dossier_snapshot.mission_type",
                "dossier_snapshot.manifest_version",
            ],
            name=op.f("fk_dossier_baseline_snapshot_id_dossier_snapshot"),
        ),
        sa.PrimaryKeyConstraint(
            "feature_slug", "mission_type", "manifest_version", name=op.f("pk_dossier_baseline")
        ),
    )
    dialect = op.get_context().dialect.name
    for table in APPEND_ONLY:
        for statement in append_only(table, dialect):
            op.execute(statement)


def downgrade() -> None:
    dialect = op.get_context().dialect.name
    for table in APPEND_ONLY:
        for statement in drop_append_only(table, dialect):
            op.execute(statement)

    op.drop_table("dossier_baseline")
    op.drop_index(
        op.f("ix_dossier_snapshot_feature_slug_computed_at"), table_name="dossier_snapshot"
    )
    op.drop_table("dossier_snapshot")
    op.drop_index("ux_dossier_artifact_placeholder_key", table_name="dossier_artifact")
    op.drop_table("dossier_artifact")
    op.drop_table("dossier_artifact_set")
