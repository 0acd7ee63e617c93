"""Workflow engines as a source: every accepted report kept raw, and where each reported
run sits in the ledger (sources/workflow_ledger.py writes both)."""

import sqlalchemy as sa

from procobs_dagster.store.tables.base import BigSerial, metadata
from procobs_dagster.store.types import JSONDoc, StoredBoolean, StoredUuid, UTCDateTime
from procobs_dagster.store.vocabulary import (
    WORKFLOW_EVENT_TYPES,
    WORKFLOW_PLACEMENTS,
    WORKFLOW_SOURCES,
    sql_in,
)

# Insert-only (a trigger refuses UPDATE): what the engine said, as it said it, so that the
# ledger can be derived again after a mapping change (`procobs workflow replay`). One row
# per run, event type and event time: a report sent twice is kept once.
workflow_event = sa.Table(
    "workflow_event",
    metadata,
    sa.Column("event_seq", BigSerial, primary_key=True, autoincrement=True),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("run_key", sa.Text, nullable=False),
    sa.Column("event_type", sa.Text, nullable=False),
    sa.Column("event_time", UTCDateTime, nullable=False),
    sa.Column("parent_run_key", sa.Text),
    sa.Column("received_at", UTCDateTime, nullable=False),
    sa.Column("document", JSONDoc, nullable=False),
    sa.CheckConstraint(sql_in("source", WORKFLOW_SOURCES), name="source"),
    sa.CheckConstraint(sql_in("event_type", WORKFLOW_EVENT_TYPES), name="event_type"),
    sa.UniqueConstraint("source", "run_key", "event_type", "event_time"),
    # Retention walks the old reports oldest first (maintenance/_pruning.py, walk).
    sa.Index(None, "received_at", "event_seq"),
    # A key is never given twice, SQLite included (migration 0013_sqlite_autoincrement).
    sqlite_autoincrement=True,
)

# One row per reported run: what its events say so far (``facts``, folded so that the
# order they arrived in does not matter) and where it sits in the ledger. Held rows wait
# for their parent; ``parent_missing`` marks a run placed on its own because its parent
# never arrived in time. No foreign keys: retention archives ledger rows on its own.
workflow_run = sa.Table(
    "workflow_run",
    metadata,
    sa.Column("source", sa.Text, primary_key=True),
    sa.Column("run_key", sa.Text, primary_key=True),
    sa.Column("parent_run_key", sa.Text),
    sa.Column("placement", sa.Text, nullable=False),
    # The run header this run is (placement 'run') or belongs to ('component').
    sa.Column("process_run_id", StoredUuid),
    sa.Column("component_run_id", StoredUuid),
    sa.Column("parent_missing", StoredBoolean, nullable=False, server_default=sa.false()),
    sa.Column("facts", JSONDoc, nullable=False),
    sa.Column("first_received_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    # Set when retention removed the run's raw reports: its facts are all that is left,
    # so a replay (which folds raw reports) must leave the run as it is.
    sa.Column("raw_pruned_at", UTCDateTime),
    sa.CheckConstraint(sql_in("source", WORKFLOW_SOURCES), name="source"),
    sa.CheckConstraint(sql_in("placement", WORKFLOW_PLACEMENTS), name="placement"),
    sa.CheckConstraint(
        "(placement = 'held') = (process_run_id IS NULL)", name="placed_iff_in_ledger"
    ),
    sa.CheckConstraint(
        "(placement = 'component') = (component_run_id IS NOT NULL)",
        name="component_iff_component_row",
    ),
    sa.CheckConstraint(
        "NOT parent_missing OR (placement = 'run' AND parent_run_key IS NOT NULL)",
        name="parent_missing_is_a_run",
    ),
    sa.Index(None, "source", "parent_run_key"),
    sa.Index(None, "placement", "first_received_at"),
)
