"""Event registry, transactional outbox, audit log and the emission settings."""

import sqlalchemy as sa

from procobs_dagster.store.sql import current_txid
from procobs_dagster.store.tables.base import BigSerial, metadata
from procobs_dagster.store.types import JSONDoc, StoredBoolean, StoredUuid, UTCDateTime
from procobs_dagster.store.vocabulary import (
    EVENT_FAMILIES,
    EVENT_LANES,
    EVENT_STREAMS,
    SEVERITIES,
    sql_in,
)

event_type_registry = sa.Table(
    "event_type_registry",
    metadata,
    sa.Column("event_type", sa.Text, primary_key=True),
    sa.Column("family", sa.Text, nullable=False),
    sa.Column("stream", sa.Text, nullable=False),
    sa.Column("lane", sa.Text, nullable=False),
    sa.Column("severity", sa.Text, nullable=False),
    # Every type is born inactive; activation is an owner action (docs/design.md, "Event
    # types and the activation gate").
    sa.Column("active", StoredBoolean, nullable=False, server_default=sa.false()),
    sa.Column("schema_version", sa.Integer, nullable=False, server_default="1"),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("updated_at", UTCDateTime),
    sa.Column("updated_by", sa.Text),
    sa.CheckConstraint(sql_in("family", EVENT_FAMILIES), name="family"),
    sa.CheckConstraint(sql_in("stream", EVENT_STREAMS), name="stream"),
    sa.CheckConstraint(sql_in("lane", EVENT_LANES), name="lane"),
    sa.CheckConstraint(sql_in("severity", SEVERITIES), name="severity"),
    sa.Index(None, "family"),
)

# Insert-only facts, written in the transaction of the change that caused them. Delivery
# state lives in its own table; a trigger refuses UPDATE here.
event_outbox = sa.Table(
    "event_outbox",
    metadata,
    sa.Column("seq", BigSerial, primary_key=True, autoincrement=True),
    sa.Column("event_id", StoredUuid, nullable=False, unique=True),
    # Writing transaction (Postgres): the commit-safe watermark for cursors.
    sa.Column("tx_id", sa.BigInteger, server_default=current_txid()),
    sa.Column(
        "event_type",
        sa.Text,
        sa.ForeignKey("event_type_registry.event_type"),
        nullable=False,
    ),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("subject", sa.Text),
    sa.Column("correlation_id", sa.Text, nullable=False),
    sa.Column("causation_id", sa.Text),
    sa.Column("process_run_id", StoredUuid),
    sa.Column("schema_version", sa.Integer, nullable=False),
    sa.Column("occurred_at", UTCDateTime, nullable=False),
    sa.Column("recorded_at", UTCDateTime, nullable=False, server_default=sa.func.now()),
    sa.Column("safe_payload", JSONDoc, nullable=False),
    sa.Index(None, "correlation_id"),
    sa.Index(None, "event_type"),
    sa.Index(None, "tx_id", "seq"),
    # Retention walks the old rows oldest first (maintenance/_pruning.py, walk).
    sa.Index(None, "recorded_at", "seq"),
    # A key is never given twice, SQLite included (migration 0013_sqlite_autoincrement).
    sqlite_autoincrement=True,
)

# Durable log of every emitted event and every owner action (who, when, what). Append-only.
audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("audit_id", BigSerial, primary_key=True, autoincrement=True),
    sa.Column("recorded_at", UTCDateTime, nullable=False),
    sa.Column("actor", sa.Text, nullable=False),
    sa.Column("action", sa.Text, nullable=False),
    sa.Column("event_id", StoredUuid),
    sa.Column("event_type", sa.Text),
    sa.Column("correlation_id", sa.Text),
    sa.Column("subject", sa.Text),
    sa.Column("details", JSONDoc),
    sa.Index(None, "action"),
    sa.Index(None, "event_type"),
    sa.Index(None, "correlation_id"),
    # Retention walks the old rows oldest first (maintenance/_pruning.py, walk).
    sa.Index(None, "recorded_at", "audit_id"),
    # A key is never given twice, SQLite included (migration 0013_sqlite_autoincrement).
    sqlite_autoincrement=True,
)


def _singleton(name: str, flag: str, default: bool) -> sa.Table:
    """A one-row settings table; a setting is named ``table.flag``."""
    return sa.Table(
        name,
        metadata,
        sa.Column("singleton", StoredBoolean, primary_key=True, server_default=sa.true()),
        sa.Column(
            flag, StoredBoolean, nullable=False, server_default=sa.true() if default else sa.false()
        ),
        sa.Column("updated_at", UTCDateTime),
        sa.Column("updated_by", sa.Text),
        sa.CheckConstraint("singleton", name="one_row"),
    )


# While on, everything the DOT wrapper records is a dry run.
process_dot_runtime = _singleton("process_dot_runtime", "dry_run_only", default=False)
# The emission kill switch: off keeps the outbox empty even for active types.
piece_event_runtime = _singleton("piece_event_runtime", "emit_enabled", default=True)
