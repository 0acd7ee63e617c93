"""Retention for every growing table (docs/operations/sizing.md): the audit log's archive
and the guarded DELETE that lets a row leave audit_log only into it, the indexes the
retention walks need, and workflow_run.raw_pruned_at.

Revision ID: 0010_retention_all
Revises: 0009_relay_scale
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from procobs_dagster.store.triggers import (
    append_only,
    drop_append_only,
    drop_leaves_only_archived,
    leaves_only_archived,
)

revision = "0010_retention_all"
down_revision = "0009_relay_scale"
branch_labels = None
depends_on = None

JSON_DOC = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
AUDIT_COLUMNS = (
    "audit_id",
    "recorded_at",
    "actor",
    "action",
    "event_id",
    "event_type",
    "correlation_id",
    "subject",
    "details",
)
# (table, columns): retention walks the old rows of a table oldest first on these
# (maintenance/_pruning.py, walk), and probes what keeps a snapshot.
INDEXES = [
    ("event_outbox", ["recorded_at", "seq"]),
    ("audit_log", ["recorded_at", "audit_id"]),
    ("workflow_event", ["received_at", "event_seq"]),
    ("discovery_score", ["computed_at", "score_id"]),
    ("dossier_snapshot", ["feature_slug", "root_path", "computed_at"]),
    ("dossier_snapshot", ["artifact_set_id"]),
]


# (table, columns before, columns now): an index that gains the tiebreak key, so
# retention's probe for the N-th newer row reads the index alone.
WIDENED = [
    (
        "dossier_snapshot",
        ["feature_slug", "computed_at"],
        ["feature_slug", "computed_at", "snapshot_id"],
    ),
    (
        "discovery_score",
        ["candidate_code", "computed_at"],
        ["candidate_code", "computed_at", "score_id"],
    ),
]


def _index_name(table: str, columns: list[str]) -> str:
    return f"ix_{table}_{'_'.join(columns)}"


def upgrade() -> None:
    op.create_table(
        "audit_log_archive",
        sa.Column("audit_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=True),
        sa.Column("event_type", sa.Text(), nullable=True),
        sa.Column("correlation_id", sa.Text(), nullable=True),
        sa.Column("subject", sa.Text(), nullable=True),
        sa.Column("details", JSON_DOC, nullable=True),
        sa.Column("archived_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("audit_id", name=op.f("pk_audit_log_archive")),
    )
    op.create_index(
        op.f("ix_audit_log_archive_archived_at"), "audit_log_archive", ["archived_at"], unique=False
    )
    op.create_index(
        op.f("ix_audit_log_archive_recorded_at"), "audit_log_archive", ["recorded_at"], unique=False
    )
    for table, columns in INDEXES:
        op.create_index(op.f(_index_name(table, columns)), table, columns, unique=False)
    for table, before, now in WIDENED:
        op.create_index(op.f(_index_name(table, now)), table, now, unique=False)
        op.drop_index(op.f(_index_name(table, before)), table_name=table)
    op.add_column(
        "workflow_run", sa.Column("raw_pruned_at", sa.DateTime(timezone=True), nullable=True)
    )
    dialect = op.get_context().dialect.name
    statements = [
        *append_only("audit_log_archive", dialect, ("UPDATE", "DELETE")),
        *drop_append_only("audit_log", dialect, ("DELETE",)),
        *leaves_only_archived("audit_log", AUDIT_COLUMNS, dialect),
    ]
    for statement in statements:
        op.execute(statement)


def downgrade() -> None:
    dialect = op.get_context().dialect.name
    statements = [
        *drop_leaves_only_archived("audit_log", dialect),
        *append_only("audit_log", dialect, ("DELETE",)),
        *drop_append_only("audit_log_archive", dialect, ("UPDATE", "DELETE")),
    ]
    for statement in statements:
        op.execute(statement)
    op.drop_column("workflow_run", "raw_pruned_at")
    for table, before, now in reversed(WIDENED):
        op.create_index(op.f(_index_name(table, before)), table, before, unique=False)
        op.drop_index(op.f(_index_name(table, now)), table_name=table)
    for table, columns in reversed(INDEXES):
        op.drop_index(op.f(_index_name(table, columns)), table_name=table)
    op.drop_index(op.f("ix_audit_log_archive_recorded_at"), table_name="audit_log_archive")
    op.drop_index(op.f("ix_audit_log_archive_archived_at"), table_name="audit_log_archive")
    op.drop_table("audit_log_archive")
