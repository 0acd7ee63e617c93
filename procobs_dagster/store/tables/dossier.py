"""Mission dossier: snapshots, the immutable artifact sets they point to, and baselines.

A scan writes one ``dossier_snapshot`` row. Its artifact rows live in a content-addressed
``dossier_artifact_set`` (``rows_digest`` is unique): a scan that finds exactly what an
earlier one found points at the existing set instead of writing every row again, so an
unchanged rescan of a large folder writes one row. Snapshots, sets and artifacts are
facts: triggers refuse UPDATE on them.
"""

import sqlalchemy as sa

from procobs_dagster.store.tables.base import BigSerial, metadata
from procobs_dagster.store.types import StoredBoolean, StoredUuid, UTCDateTime
from procobs_dagster.store.vocabulary import (
    ARTIFACT_CLASSES,
    COMPLETENESS,
    MISSING_REASONS,
    REQUIRED_STATUSES,
    sql_in,
)

dossier_artifact_set = sa.Table(
    "dossier_artifact_set",
    metadata,
    sa.Column("artifact_set_id", StoredUuid, primary_key=True),
    # sha256 over the set's rows in canonical form (dossier/records.py, rows_digest).
    sa.Column("rows_digest", sa.Text, nullable=False, unique=True),
    sa.Column("artifact_count", sa.Integer, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.CheckConstraint("length(rows_digest) = 64", name="rows_digest"),
    sa.CheckConstraint("artifact_count >= 0", name="artifact_count"),
)

dossier_artifact = sa.Table(
    "dossier_artifact",
    metadata,
    sa.Column("artifact_id", BigSerial, primary_key=True, autoincrement=True),
    sa.Column(
        "artifact_set_id",
        StoredUuid,
        sa.ForeignKey("dossier_artifact_set.artifact_set_id"),
        nullable=False,
    ),
    sa.Column("artifact_key", sa.Text, nullable=False),
    sa.Column("artifact_class", sa.Text, nullable=False),
    # NULL only for the not_found placeholder of a required entry that matched nothing.
    sa.Column("relative_path", sa.Text),
    sa.Column("path_pattern", sa.Text, nullable=False),
    sa.Column("content_sha256", sa.Text),
    sa.Column("size_bytes", sa.BigInteger),
    sa.Column("mtime_ns", sa.BigInteger),
    sa.Column("ctime_ns", sa.BigInteger),
    sa.Column("wp_id", sa.Text),
    sa.Column("step_id", sa.Text),
    sa.Column("required_status", sa.Text, nullable=False),
    sa.Column("blocking", StoredBoolean, nullable=False),
    sa.Column("present", StoredBoolean, nullable=False),
    sa.Column("reason_code", sa.Text),
    sa.Column("reason_detail", sa.Text),
    sa.CheckConstraint(sql_in("artifact_class", ARTIFACT_CLASSES), name="artifact_class"),
    sa.CheckConstraint(sql_in("required_status", REQUIRED_STATUSES), name="required_status"),
    sa.CheckConstraint(
        f"reason_code IS NULL OR {sql_in('reason_code', MISSING_REASONS)}", name="reason_code"
    ),
    sa.CheckConstraint(
        "(present AND content_sha256 IS NOT NULL AND size_bytes IS NOT NULL"
        " AND mtime_ns IS NOT NULL AND ctime_ns IS NOT NULL AND reason_code IS NULL)"
        " OR (NOT present AND content_sha256 IS NULL AND reason_code IS NOT NULL)",
        name="present_or_reason",
    ),
    sa.CheckConstraint(
        "(relative_path IS NULL AND reason_code IS NOT NULL AND reason_code = 'not_found')"
        " OR (relative_path IS NOT NULL AND (reason_code IS NULL OR reason_code <> 'not_found'))",
        name="placeholder",
    ),
    sa.CheckConstraint(
        "content_sha256 IS NULL OR length(content_sha256) = 64", name="content_sha256"
    ),
    sa.CheckConstraint("size_bytes IS NULL OR size_bytes >= 0", name="size_bytes"),
    # Blocking only means something for a required artifact (dossier/manifest.py).
    sa.CheckConstraint("NOT blocking OR required_status = 'required'", name="blocking"),
    # NULLs are distinct: placeholders (NULL path) are kept unique by the index below.
    sa.UniqueConstraint("artifact_set_id", "relative_path"),
    sa.Index(
        "ux_dossier_artifact_placeholder_key",
        "artifact_set_id",
        "artifact_key",
        unique=True,
        postgresql_where=sa.text("relative_path IS NULL"),
        sqlite_where=sa.text("relative_path IS NULL"),
    ),
)

dossier_snapshot = sa.Table(
    "dossier_snapshot",
    metadata,
    sa.Column("snapshot_id", StoredUuid, primary_key=True),
    sa.Column("feature_slug", sa.Text, nullable=False),
    sa.Column("mission_type", sa.Text, nullable=False),
    sa.Column("manifest_version", sa.Text, nullable=False),
    # sha256 of what the manifest declares (dossier/manifest.py); NULL without a manifest.
    sa.Column("manifest_digest", sa.Text),
    sa.Column("step_id", sa.Text),
    sa.Column("root_path", sa.Text, nullable=False),
    # What the scan listed (dossier/fingerprint.py); NULL when a file could not be read,
    # so the next scan of the folder reads again instead of reusing this one's rows.
    sa.Column("scan_fingerprint", sa.Text),
    sa.Column(
        "artifact_set_id",
        StoredUuid,
        sa.ForeignKey("dossier_artifact_set.artifact_set_id"),
        nullable=False,
    ),
    sa.Column("parity_hash", sa.Text, nullable=False),
    sa.Column("total", sa.Integer, nullable=False),
    sa.Column("required_count", sa.Integer, nullable=False),
    sa.Column("required_present", sa.Integer, nullable=False),
    sa.Column("required_missing", sa.Integer, nullable=False),
    sa.Column("optional_count", sa.Integer, nullable=False),
    sa.Column("optional_present", sa.Integer, nullable=False),
    sa.Column("completeness", sa.Text, nullable=False),
    sa.Column("full_scan", StoredBoolean, nullable=False),
    sa.Column("hashed_files", sa.Integer, nullable=False),
    sa.Column("started_at", UTCDateTime, nullable=False),
    sa.Column("computed_at", UTCDateTime, nullable=False),
    sa.CheckConstraint(
        "parity_hash LIKE 'sha256:%' AND length(parity_hash) = 71", name="parity_hash"
    ),
    sa.CheckConstraint(sql_in("completeness", COMPLETENESS), name="completeness"),
    sa.CheckConstraint(
        "(manifest_digest IS NULL AND mission_type = '(none)')"
        " OR (length(manifest_digest) = 64 AND mission_type <> '(none)')",
        name="manifest_digest",
    ),
    sa.CheckConstraint(
        "scan_fingerprint IS NULL OR length(scan_fingerprint) = 64", name="scan_fingerprint"
    ),
    sa.CheckConstraint(
        "required_present >= 0 AND required_missing >= 0 AND optional_present >= 0"
        " AND hashed_files >= 0",
        name="counts_not_negative",
    ),
    sa.CheckConstraint(
        "required_present + required_missing = required_count", name="required_counts"
    ),
    sa.CheckConstraint(
        "optional_present <= optional_count AND total = required_count + optional_count",
        name="total_counts",
    ),
    sa.CheckConstraint("computed_at >= started_at", name="computed_after_start"),
    # The target of dossier_baseline's composite foreign key.
    sa.UniqueConstraint(
        "snapshot_id",
        "feature_slug",
        "mission_type",
        "manifest_version",
        name="uq_dossier_snapshot_namespace",
    ),
    # A feature's snapshots newest first (the dossier's order, and retention's probe for
    # the N-th newer one, index-only with the tiebreak in the index).
    sa.Index(None, "feature_slug", "computed_at", "snapshot_id"),
    # Retention: the newest snapshot of a feature's root folder (what a rescan reuses), and
    # whether an artifact set is still referenced once a snapshot is pruned.
    sa.Index(None, "feature_slug", "root_path", "computed_at"),
    sa.Index(None, "artifact_set_id"),
)

# One baseline per namespace. The composite foreign key makes the database refuse a
# baseline that points at a snapshot of another feature, mission type or manifest version.
dossier_baseline = sa.Table(
    "dossier_baseline",
    metadata,
    sa.Column("feature_slug", sa.Text, primary_key=True),
    sa.Column("mission_type", sa.Text, primary_key=True),
    sa.Column("manifest_version", sa.Text, primary_key=True),
    sa.Column("snapshot_id", StoredUuid, nullable=False),
    sa.Column("captured_at", UTCDateTime, nullable=False),
    sa.Column("captured_by", sa.Text),
    sa.ForeignKeyConstraint(
        ["snapshot_id", "feature_slug", "mission_type", "manifest_version"],
        [
            "dossier_snapshot.snapshot_id",
            "dossier_snapshot.feature_slug",
            "dossier_snapshot.mission_type",
            "dossier_snapshot.manifest_version",
        ],
    ),
)
