"""Building runs at chosen times, and snapshots of the live and archive tables."""

import datetime as dt

import sqlalchemy as sa

from procobs_dagster import ledger
from procobs_dagster.ledger import RunRecord
from procobs_dagster.store.tables import (
    process_component_observation,
    process_component_observation_archive,
    process_run_observation,
    process_run_observation_archive,
    process_status_history,
    process_status_history_archive,
)

T0 = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
HOUR = dt.timedelta(hours=1)
CANDIDATE = "PROC-CAND:maintenance"

LIVE = (process_run_observation, process_component_observation, process_status_history)
ARCHIVE = (
    process_run_observation_archive,
    process_component_observation_archive,
    process_status_history_archive,
)


def make_run(
    conn,
    status: str = "completed",
    *,
    started: dt.datetime = T0,
    ended: dt.datetime | None = None,
    parent: RunRecord | None = None,
    components: int = 2,
    candidate: str = CANDIDATE,
) -> RunRecord:
    """A run started at ``started`` with ``components`` completed components, then moved
    to ``status`` at ``ended`` (default: an hour after it started)."""
    run, _ = ledger.start_run(
        conn,
        candidate_code=candidate,
        parent_run_id=None if parent is None else parent.process_run_id,
        at=started,
    )
    for _ in range(components):
        component, _ = ledger.record_component(conn, process_run_id=run.process_run_id, at=started)
        ledger.transition_component(
            conn, component.component_run_id, "completed", at=started + dt.timedelta(minutes=1)
        )
    if status != "started":
        run = ledger.transition_run(conn, run.process_run_id, status, at=ended or started + HOUR)
    return run


def _rows(conn, table: sa.Table) -> dict:
    key = table.primary_key.columns.values()[0]
    return {
        row[key.name]: {k: v for k, v in row.items() if k != "archived_at"}
        for row in conn.execute(sa.select(table)).mappings()
    }


def snapshot(db) -> dict[str, dict]:
    """Every row of the live and the archive ledger tables, by table name and key."""
    with db.read() as conn:
        return {table.name: _rows(conn, table) for table in LIVE + ARCHIVE}


def live_and_archived(snap: dict[str, dict]) -> dict[str, dict]:
    """Live and archive rows per live table, merged: what retention must never lose."""
    merged = {}
    for live, archive in zip(LIVE, ARCHIVE, strict=True):
        both = snap[live.name].keys() & snap[archive.name].keys()
        assert not both, f"{live.name}: rows both live and archived: {sorted(both)[:3]}"
        merged[live.name] = {**snap[live.name], **snap[archive.name]}
    return merged


def run_ids(snap: dict[str, dict], table: sa.Table = process_run_observation) -> set:
    return set(snap[table.name])
