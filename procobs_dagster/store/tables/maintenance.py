"""Ledger maintenance: the archive retention moves expired runs into, and the per-candidate
SLAs the stuck sweep judges runs by.

The archive tables are built from the live tables so the two can never drift apart: the
same columns, plus when a row moved. No constraints beyond the primary key: the archive
keeps whatever the live table accepted.
"""

import sqlalchemy as sa

from procobs_dagster.store.tables.base import metadata
from procobs_dagster.store.tables.ledger import (
    process_component_observation,
    process_run_observation,
    process_status_history,
)
from procobs_dagster.store.types import UTCDateTime


def _archive_of(live: sa.Table) -> sa.Table:
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
        # An archived run is looked up with its components and history, as a live one is.
        sa.Index(None, "process_run_id"),
        # Discovery re-summarises the traces of a changed correlation_id from both tables.
        *([sa.Index(None, "correlation_id")] if "correlation_id" in live.c else []),
    )


process_run_observation_archive = _archive_of(process_run_observation)
process_component_observation_archive = _archive_of(process_component_observation)
process_status_history_archive = _archive_of(process_status_history)

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
