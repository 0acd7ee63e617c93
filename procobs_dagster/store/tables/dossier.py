"""Mission dossier snapshots, their indexed artifacts, and baselines per namespace."""

import sqlalchemy as sa

from procobs_dagster.store.tables.base import BigSerial, metadata
from procobs_dagster.store.types import UTCDateTime
from procobs_dagster.store.vocabulary import (
    ARTIFACT_CLASSES,
    COMPLETENESS,
    MISSING_REASONS,
    REQUIRED_STATUSES,
    sql_in,
)

dossier_snapshot = sa.Table(
    "dossier_snapshot",
    metadata,
    sa.Column("snapshot_id", sa.Uuid, primary_key=True),
    sa.Column("feature_slug", sa.Text, nullable=False),
    sa.Column("mission_type", sa.Text, nullable=False),
    sa.Column("manifest_version", sa.Text, nullable=False),
    sa.Column("step_id", sa.Text),
    sa.Column("root_path", sa.Text, nullable=False),
    sa.Column("parity_hash", sa.Text, nullable=False),
    sa.Column("total", sa.Integer, nullable=False),
    sa.Column("required_count", sa.Integer, nullable=False),
    sa.Column("required_present", sa.Integer, nullable=False),
    sa.Column("required_missing", sa.Integer, nullable=False),
    sa.Column("optional_count", sa.Integer, nullable=False),
    sa.Column("optional_present", sa.Integer, nullable=False),
    sa.Column("completeness", sa.Text, nullable=False),
    sa.Column("full_scan", sa.Boolean, nullable=False),
    sa.Column("hashed_files", sa.Integer, nullable=False),
    sa.Column("computed_at", UTCDateTime, nullable=False),
    sa.CheckConstraint("parity_hash LIKE 'sha256:%'", name="parity_hash"),
    sa.CheckConstraint(sql_in("completeness", COMPLETENESS), name="completeness"),
    sa.CheckConstraint(
        "required_present + required_missing = required_count", name="required_counts"
    ),
    sa.Index(None, "feature_slug", "computed_at"),
)

dossier_artifact = sa.Table(
    "dossier_artifact",
    metadata,
    sa.Column("artifact_id", BigSerial, primary_key=True, autoincrement=True),
    sa.Column(
        "snapshot_id", sa.Uuid, sa.ForeignKey("dossier_snapshot.snapshot_id"), nullable=False
    ),
    sa.Column("artifact_key", sa.Text, nullable=False),
    sa.Column("artifact_class", sa.Text, nullable=False),
    sa.Column("relative_path", sa.Text),
    sa.Column("path_pattern", sa.Text, nullable=False),
    sa.Column("content_sha256", sa.Text),
    sa.Column("size_bytes", sa.BigInteger),
    sa.Column("mtime_ns", sa.BigInteger),
    sa.Column("wp_id", sa.Text),
    sa.Column("step_id", sa.Text),
    sa.Column("required_status", sa.Text, nullable=False),
    sa.Column("blocking", sa.Boolean, nullable=False),
    sa.Column("present", sa.Boolean, nullable=False),
    sa.Column("reason_code", sa.Text),
    sa.Column("reason_detail", sa.Text),
    sa.CheckConstraint(sql_in("artifact_class", ARTIFACT_CLASSES), name="artifact_class"),
    sa.CheckConstraint(sql_in("required_status", REQUIRED_STATUSES), name="required_status"),
    sa.CheckConstraint(
        f"reason_code IS NULL OR {sql_in('reason_code', MISSING_REASONS)}", name="reason_code"
    ),
    sa.CheckConstraint(
        "(present AND content_sha256 IS NOT NULL AND reason_code IS NULL)"
        " OR (NOT present AND reason_code IS NOT NULL)",
        name="present_or_reason",
    ),
    sa.UniqueConstraint("snapshot_id", "artifact_key"),
    sa.Index(None, "snapshot_id", "relative_path"),
)

dossier_baseline = sa.Table(
    "dossier_baseline",
    metadata,
    sa.Column("feature_slug", sa.Text, primary_key=True),
    sa.Column("mission_type", sa.Text, primary_key=True),
    sa.Column("manifest_version", sa.Text, primary_key=True),
    sa.Column(
        "snapshot_id", sa.Uuid, sa.ForeignKey("dossier_snapshot.snapshot_id"), nullable=False
    ),
    sa.Column("parity_hash", sa.Text, nullable=False),
    sa.Column("captured_at", UTCDateTime, nullable=False),
    sa.Column("captured_by", sa.Text),
)
