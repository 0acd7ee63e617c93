"""Ledger maintenance: the archive retention moves expired runs (and old audit log rows)
into, and the per-candidate SLAs the stuck sweep judges runs by.

The archive tables are built from the live tables so the two can never drift apart: the
same columns, plus when a row moved. No constraints beyond the primary key: the archive
keeps whatever the live table accepted.
"""

import sqlalchemy as sa

from procobs_dagster.store.tables.base import metadata
from procobs_dagster.store.tables.events import audit_log
from procobs_dagster.store.tables.ledger import (
    process_component_observation,
    process_run_observation,
    process_status_history,
)
from procobs_dagster.store.types import UTCDateTime


def _archive_of(live: sa.Table, *indexed: str) -> sa.Table:
    columns = [
        sa.Column(
            c.name, c.type, primary_key=c.primary_key, nullable=c.nullable, autoincrement=False
        )
        for c in live.columns
    ]
    return sa.Table(
        f"{live.name}_archive",
        metadata,
        *columns,
        sa.Column("archived_at", UTCDateTime, nullable=False),
        sa.Index(None, "archived_at"),
        *(sa.Index(None, column) for column in indexed),
    )


# An archived run is looked up with its components and history, as a live one is (the
# run archive's process_run_id is its primary key, indexed as such). Discovery
# re-summarises the traces of a changed correlation_id from live and archive.
process_run_observation_archive = _archive_of(process_run_observation, "correlation_id")
process_component_observation_archive = _archive_of(
    process_component_observation, "process_run_id", "correlation_id"
)
process_status_history_archive = _archive_of(process_status_history, "process_run_id")
# Append-only like audit_log; an audit row leaves audit_log only into here (the trigger
# of store/triggers.py, audit_log_leaves_only_archived, checks the copy).
audit_log_archive = _archive_of(audit_log, "recorded_at")

# A process candidate whose runs legitimately take longer (or must finish sooner) than
# the stuck sweep's default SLA. No foreign key: candidate codes in the ledger are free text.
stuck_sla_override = sa.Table(
    "stuck_sla_override",
    metadata,
    sa.Column("process_candidate_code", sa.Text, primary_key=True),
    sa.Column("sla_seconds", sa.Integer, nullable=False),
    sa.Column("reason", sa.Text),
    sa.Column("set_by", sa.Text),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.CheckConstraint("sla_seconds > 0", name="sla_seconds_positive"),
)
