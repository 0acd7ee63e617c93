"""Delivery state per event and sink, the sinks configured in the database, fan-out cursors.

Revision ID: 0004_delivery
Revises: 0003_archive
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004_delivery"
down_revision = "0003_archive"
branch_labels = None
depends_on = None

JSON_DOC = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
CLAIMABLE = sa.text("state IN ('pending', 'retry')")


def upgrade() -> None:
    op.create_table(
        "delivery_cursor",
        sa.Column("sink", sa.Text(), nullable=False),
        sa.Column("last_tx_id", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("last_seq", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("sink", name=op.f("pk_delivery_cursor")),
    )
    op.create_table(
        "delivery_sink",
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column("path", sa.Text(), nullable=True),
        sa.Column("secret_env", sa.Text(), nullable=True),
        sa.Column("timeout_seconds", sa.Float(), server_default="10", nullable=False),
        sa.Column("dead_after_rejections", sa.Integer(), server_default="5", nullable=False),
        sa.Column("dead_after_attempts", sa.Integer(), nullable=True),
        sa.Column("backoff_base_seconds", sa.Float(), server_default="1", nullable=False),
        sa.Column("backoff_cap_seconds", sa.Float(), server_default="300", nullable=False),
        sa.Column("ordered", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("event_types", JSON_DOC, nullable=True),
        sa.Column("enabled", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint(
            "backoff_base_seconds > 0 AND backoff_cap_seconds >= backoff_base_seconds",
            name=op.f("ck_delivery_sink_backoff"),
        ),
        sa.CheckConstraint(
            "dead_after_attempts IS NULL OR dead_after_attempts >= 1",
            name=op.f("ck_delivery_sink_dead_after_attempts"),
        ),
        sa.CheckConstraint(
            "dead_after_rejections >= 1", name=op.f("ck_delivery_sink_dead_after_rejections")
        ),
        sa.CheckConstraint(
            "kind <> 'file' OR path IS NOT NULL", name=op.f("ck_delivery_sink_file_has_path")
        ),
        sa.CheckConstraint(
            "kind <> 'webhook' OR (url IS NOT NULL AND secret_env IS NOT NULL)",
            name=op.f("ck_delivery_sink_webhook_has_url_and_secret_env"),
        ),
        sa.CheckConstraint(
            "kind IN ('webhook', 'file', 'null')", name=op.f("ck_delivery_sink_kind")
        ),
        sa.CheckConstraint("timeout_seconds > 0", name=op.f("ck_delivery_sink_timeout")),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_delivery_sink")),
    )
    op.create_table(
        "delivery_state",
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("sink", sa.Text(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("correlation_id", sa.Text(), nullable=False),
        sa.Column("state", sa.Text(), server_default="pending", nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("rejections", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("locked_by", sa.Text(), nullable=True),
        sa.Column("lock_token", sa.Uuid(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("errors", JSON_DOC, nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("attempts >= 0", name=op.f("ck_delivery_state_attempts")),
        sa.CheckConstraint(
            "(state = 'delivered') = (delivered_at IS NOT NULL)",
            name=op.f("ck_delivery_state_delivered_at"),
        ),
        sa.CheckConstraint(
            "(state = 'delivering') = (locked_until IS NOT NULL AND lock_token IS NOT NULL)",
            name=op.f("ck_delivery_state_lock_iff_delivering"),
        ),
        sa.CheckConstraint(
            "rejections >= 0 AND rejections <= attempts",
            name=op.f("ck_delivery_state_rejections"),
        ),
        sa.CheckConstraint(
            "state <> 'pending' OR attempts = 0", name=op.f("ck_delivery_state_pending_unattempted")
        ),
        sa.CheckConstraint(
            "state <> 'retry' OR attempts >= 1", name=op.f("ck_delivery_state_retry_attempted")
        ),
        sa.CheckConstraint(
            "state IN ('pending', 'delivering', 'delivered', 'retry', 'dead')",
            name=op.f("ck_delivery_state_state"),
        ),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["event_outbox.event_id"],
            name=op.f("fk_delivery_state_event_id_event_outbox"),
        ),
        sa.PrimaryKeyConstraint("event_id", "sink", name=op.f("pk_delivery_state")),
    )
    op.create_index(
        "ix_delivery_state_claimable",
        "delivery_state",
        ["sink", "next_attempt_at", "seq"],
        unique=False,
        postgresql_where=CLAIMABLE,
        sqlite_where=CLAIMABLE,
    )
    op.create_index(
        op.f("ix_delivery_state_sink_correlation_id_seq"),
        "delivery_state",
        ["sink", "correlation_id", "seq"],
        unique=False,
    )
    op.create_index(
        op.f("ix_delivery_state_sink_state"), "delivery_state", ["sink", "state"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_delivery_state_sink_state"), table_name="delivery_state")
    op.drop_index(op.f("ix_delivery_state_sink_correlation_id_seq"), table_name="delivery_state")
    op.drop_index(
        "ix_delivery_state_claimable",
        table_name="delivery_state",
        postgresql_where=CLAIMABLE,
        sqlite_where=CLAIMABLE,
    )
    op.drop_table("delivery_state")
    op.drop_table("delivery_sink")
    op.drop_table("delivery_cursor")
