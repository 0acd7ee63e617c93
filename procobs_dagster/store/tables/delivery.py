"""Delivery state per (event, sink), kept apart from the insert-only outbox facts."""

import sqlalchemy as sa

from procobs_dagster.store.tables.base import metadata
from procobs_dagster.store.types import JSONDoc, UTCDateTime
from procobs_dagster.store.vocabulary import DELIVERY_STATES, SINK_KINDS, sql_in

# Sinks configured in the database (the YAML file is the other way). A secret is never
# stored: only the name of the environment variable that holds it.
delivery_sink = sa.Table(
    "delivery_sink",
    metadata,
    sa.Column("name", sa.Text, primary_key=True),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("url", sa.Text),
    sa.Column("path", sa.Text),
    sa.Column("secret_env", sa.Text),
    sa.Column("timeout_seconds", sa.Float, nullable=False, server_default="10"),
    sa.Column("max_attempts", sa.Integer, nullable=False, server_default="8"),
    sa.Column("ordered", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("event_types", JSONDoc),
    sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("created_at", UTCDateTime, nullable=False, server_default=sa.func.now()),
    sa.CheckConstraint(sql_in("kind", SINK_KINDS), name="kind"),
    sa.CheckConstraint("kind <> 'webhook' OR url IS NOT NULL", name="webhook_has_url"),
    sa.CheckConstraint("kind <> 'file' OR path IS NOT NULL", name="file_has_path"),
    sa.CheckConstraint("max_attempts >= 1", name="max_attempts"),
    sa.CheckConstraint("timeout_seconds > 0", name="timeout"),
)

delivery_state = sa.Table(
    "delivery_state",
    metadata,
    sa.Column("event_id", sa.Uuid, sa.ForeignKey("event_outbox.event_id"), primary_key=True),
    sa.Column("sink", sa.Text, primary_key=True),
    # Copied from the outbox so claims and per-correlation ordering need no join.
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("correlation_id", sa.Text, nullable=False),
    sa.Column("state", sa.Text, nullable=False, server_default="pending"),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_attempt_at", UTCDateTime, nullable=False),
    sa.Column("locked_until", UTCDateTime),
    sa.Column("locked_by", sa.Text),
    sa.Column("last_error", sa.Text),
    sa.Column("errors", JSONDoc),
    sa.Column("delivered_at", UTCDateTime),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.CheckConstraint(sql_in("state", DELIVERY_STATES), name="state"),
    sa.CheckConstraint("attempts >= 0", name="attempts"),
    sa.CheckConstraint(
        "(state = 'delivering') = (locked_until IS NOT NULL)", name="lock_iff_delivering"
    ),
    sa.CheckConstraint("(state = 'delivered') = (delivered_at IS NOT NULL)", name="delivered_at"),
    sa.Index(
        "ix_delivery_state_claimable",
        "sink",
        "next_attempt_at",
        postgresql_where=sa.text("state IN ('pending', 'retry')"),
        sqlite_where=sa.text("state IN ('pending', 'retry')"),
    ),
    sa.Index(None, "sink", "state"),
    sa.Index(None, "correlation_id", "seq"),
)

# How far each sink has fanned out over the outbox (the commit-safe watermark).
delivery_cursor = sa.Table(
    "delivery_cursor",
    metadata,
    sa.Column("sink", sa.Text, primary_key=True),
    sa.Column("last_tx_id", sa.BigInteger),
    sa.Column("last_seq", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)
