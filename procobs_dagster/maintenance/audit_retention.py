"""Retention of the audit log: rows older than ``audit_days`` move into
``audit_log_archive`` (archived, never deleted: the audit log is the record of every
emitted event and every owner action).

``audit_log`` refuses UPDATE, and DELETE of a row unless ``audit_log_archive`` already
holds an identical copy of it (a trigger, alike on both databases: see
``store/triggers.py``, ``leaves_only_archived``); the archive itself refuses UPDATE and
DELETE. So nobody — this job included — can make an audit row disappear: it can only
move. Each batch claims the oldest rows in ``audit_id`` order (Postgres ``FOR UPDATE SKIP
LOCKED``, so two runs never take the same rows), copies them, then deletes them, in one
transaction; the counts of both are compared. The walk reads only old rows
(``ix_audit_log_recorded_at_audit_id``).
"""

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from procobs_dagster.maintenance._pruning import (
    PruneBatch,
    PruneJob,
    TablePolicy,
    cutoff,
    lock,
    walk,
)
from procobs_dagster.store.batches import DEFAULT_BATCH
from procobs_dagster.store.dialect import among
from procobs_dagster.store.tables import audit_log, audit_log_archive
from procobs_dagster.store.types import UTCDateTime

JOB = "retention: audit log"


def archive_audit_batch(
    conn: Connection,
    policy: TablePolicy,
    *,
    now: dt.datetime,
    after: tuple[dt.datetime, int] | None = None,
    limit: int = DEFAULT_BATCH,
    dry_run: bool = False,
) -> PruneBatch:
    """One batch, in the caller's transaction: move up to ``limit`` audit rows older than
    ``audit_days``, oldest first from position ``after`` ((recorded_at, audit_id) of the
    last row examined), into the archive."""
    if policy.audit_days is None:
        return PruneBatch(last_key=None)
    dialect = conn.dialect.name
    key = audit_log.c.audit_id
    found, last_key = walk(
        conn,
        key,
        after=after,
        limit=limit,
        aged=(audit_log.c.recorded_at, cutoff(now, policy.audit_days)),
    )
    examined = [row.audit_id for row in found]
    if not examined:
        return PruneBatch(last_key=None)
    if dry_run:
        return PruneBatch(last_key=last_key, archived={"audit_log": len(examined)})
    claimed = [
        row.audit_id
        for row in conn.execute(
            lock(sa.select(key).where(among(key, examined, dialect)), audit_log, dry_run)
        )
    ]
    archived = 0
    if claimed:
        where = among(key, claimed, dialect)
        names = [*audit_log.c.keys(), "archived_at"]
        archived = conn.execute(
            audit_log_archive.insert().from_select(
                names, sa.select(*audit_log.c, sa.literal(now, UTCDateTime)).where(where)
            )
        ).rowcount
        deleted = conn.execute(audit_log.delete().where(where)).rowcount
        if archived != deleted:  # the rows are claimed: no other writer could change them
            raise RuntimeError(f"audit_log: archived {archived} rows but deleted {deleted}")
    return PruneBatch(last_key=last_key, archived={"audit_log": archived})


archive_audit_log = PruneJob(
    JOB,
    archive_audit_batch,
    settings=("audit_days",),
    archives=("audit_log",),
)
"""Move audit rows older than ``policy.audit_days`` into ``audit_log_archive``."""
