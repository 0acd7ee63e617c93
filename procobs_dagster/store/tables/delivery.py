"""Delivery state per (event, sink), kept apart from the insert-only outbox facts."""

import sqlalchemy as sa

from procobs_dagster.store.tables.base import metadata
from procobs_dagster.store.types import JSONDoc, StoredBoolean, StoredUuid, UTCDateTime
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
    sa.Column("dead_after_rejections", sa.Integer, nullable=False, server_default="5"),
    # NULL: transient failures (5xx, 408, 429, network) are retried for as long as it takes.
    sa.Column("dead_after_attempts", sa.Integer),
    sa.Column("backoff_base_seconds", sa.Float, nullable=False, server_default="1"),
    sa.Column("backoff_cap_seconds", sa.Float, nullable=False, server_default="300"),
    sa.Column("ordered", StoredBoolean, nullable=False, server_default=sa.false()),
    # NULL: every event type; else a JSON list of the types this sink receives.
    sa.Column("event_types", JSONDoc),
    sa.Column("enabled", StoredBoolean, nullable=False, server_default=sa.true()),
    sa.Column("created_at", UTCDateTime, nullable=False, server_default=sa.func.now()),
    sa.Column("updated_at", UTCDateTime, nullable=False, server_default=sa.func.now()),
    # True: the webhook may reach link-local and cloud-metadata addresses (refused otherwise).
    sa.Column("allow_link_local", StoredBoolean, nullable=False, server_default=sa.false()),
    sa.CheckConstraint(sql_in("kind", SINK_KINDS), name="kind"),
    sa.CheckConstraint(
        "kind <> 'webhook' OR (url IS NOT NULL AND secret_env IS NOT NULL)",
        name="webhook_has_url_and_secret_env",
    ),
    sa.CheckConstraint("kind <> 'file' OR path IS NOT NULL", name="file_has_path"),
    sa.CheckConstraint("dead_after_rejections >= 1", name="dead_after_rejections"),
    sa.CheckConstraint(
        "dead_after_attempts IS NULL OR dead_after_attempts >= 1", name="dead_after_attempts"
    ),
    sa.CheckConstraint("timeout_seconds > 0", name="timeout"),
    sa.CheckConstraint(
        "backoff_base_seconds > 0 AND backoff_cap_seconds >= backoff_base_seconds",
        name="backoff",
    ),
)

# The partial indexes' predicates (the claim, acknowledgement and ordering queries
# name exactly these states, so the planner can prove each index applies).
CLAIMABLE_ROWS = "state IN ('pending', 'retry')"
UNDELIVERED_ROWS = "state IN ('pending', 'retry', 'delivering')"
OPEN_ROWS = "state <> 'delivered'"
DEAD_ROWS = "state = 'dead'"
# Storage parameters of delivery_state on Postgres (pg_class.reloptions).
DELIVERY_STATE_STORAGE = {
    "fillfactor": 70,
    "autovacuum_vacuum_scale_factor": 0.0,
    "autovacuum_vacuum_threshold": 10000,
}

delivery_state = sa.Table(
    "delivery_state",
    metadata,
    sa.Column("event_id", StoredUuid, sa.ForeignKey("event_outbox.event_id"), primary_key=True),
    sa.Column("sink", sa.Text, primary_key=True),
    # Copied from the outbox so claims and per-correlation ordering need no join.
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("correlation_id", sa.Text, nullable=False),
    sa.Column("state", sa.Text, nullable=False, server_default="pending"),
    # Every claim counts as an attempt, also one whose relay died before it finished.
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    # Attempts the endpoint rejected (4xx other than 408/429): these lead to dead.
    sa.Column("rejections", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_attempt_at", UTCDateTime, nullable=False),
    # The claim: its visibility timeout, who holds it, and the token its acknowledgement
    # must present (a relay that outlived its lease can no longer acknowledge).
    sa.Column("locked_until", UTCDateTime),
    sa.Column("locked_by", sa.Text),
    sa.Column("lock_token", StoredUuid),
    sa.Column("last_error", sa.Text),
    # The most recent errors, oldest first (bounded; see delivery.delivery_state.ERRORS_KEPT).
    sa.Column("errors", JSONDoc),
    sa.Column("delivered_at", UTCDateTime),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.CheckConstraint(sql_in("state", DELIVERY_STATES), name="state"),
    sa.CheckConstraint("attempts >= 0", name="attempts"),
    sa.CheckConstraint("rejections >= 0 AND rejections <= attempts", name="rejections"),
    # pending: not attempted since it was fanned out or redriven; retry: attempted before.
    sa.CheckConstraint("state <> 'pending' OR attempts = 0", name="pending_unattempted"),
    sa.CheckConstraint("state <> 'retry' OR attempts >= 1", name="retry_attempted"),
    sa.CheckConstraint(
        "(state = 'delivering') = (locked_until IS NOT NULL AND lock_token IS NOT NULL)",
        name="lock_iff_delivering",
    ),
    sa.CheckConstraint("(state = 'delivered') = (delivered_at IS NOT NULL)", name="delivered_at"),
    # What a claim scans: due rows of one sink, oldest first.
    sa.Index(
        "ix_delivery_state_claimable",
        "sink",
        "next_attempt_at",
        "seq",
        postgresql_where=sa.text(CLAIMABLE_ROWS),
        sqlite_where=sa.text(CLAIMABLE_ROWS),
    ),
    # Rows not yet delivered, by state, and a claim's rows by its token (what an
    # acknowledgement, a renewal or a release names): the lookup lands on the claim's own
    # rows, however many earlier claims left entries behind since the last vacuum.
    # Delivered rows, the bulk of the table, have no entry here.
    sa.Index(
        "ix_delivery_state_open",
        "sink",
        "state",
        "lock_token",
        postgresql_where=sa.text(OPEN_ROWS),
        sqlite_where=sa.text(OPEN_ROWS),
    ),
    # Per-correlation ordering: is an earlier event of this correlation still undelivered?
    sa.Index(
        "ix_delivery_state_undelivered_correlation",
        "sink",
        "correlation_id",
        "seq",
        postgresql_where=sa.text(UNDELIVERED_ROWS),
        sqlite_where=sa.text(UNDELIVERED_ROWS),
    ),
    # Dead rows in key order: what `relay redrive --all` walks, a batch at a time. Event
    # ids are time-ordered, so a sink's outage leaves its dead rows behind the whole
    # delivered history; walked by the primary key, one batch read all of it.
    sa.Index(
        "ix_delivery_state_dead",
        "event_id",
        "sink",
        postgresql_where=sa.text(DEAD_ROWS),
        sqlite_where=sa.text(DEAD_ROWS),
    ),
    # A queue table: room on each page for a row's next versions, and vacuumed by a
    # fixed count of dead rows, not a fraction of an ever larger table (docs/delivery.md,
    # "How the relay stays fast"; migration 0009 sets the same on existing databases).
    postgresql_with=DELIVERY_STATE_STORAGE,
)

# How far each sink has fanned out over the outbox. On Postgres the position is
# (tx_id, seq) below the transaction-id horizon, so a row that commits late is still
# ahead of the cursor; on SQLite seq alone (rowids are handed out in commit order).
delivery_cursor = sa.Table(
    "delivery_cursor",
    metadata,
    sa.Column("sink", sa.Text, primary_key=True),
    sa.Column("last_tx_id", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("last_seq", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)
