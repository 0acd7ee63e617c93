"""Archive tables: the same columns as the live ledger tables, plus when they moved.

Built from the live tables so the two can never drift apart. No constraints beyond the
primary key: the archive keeps whatever the live table accepted.
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
    )


process_run_observation_archive = _archive_of(process_run_observation)
process_component_observation_archive = _archive_of(process_component_observation)
process_status_history_archive = _archive_of(process_status_history)
