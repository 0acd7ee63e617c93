"""Retention of the audit log: old rows move into the archive, identical; the refusal of
UPDATE and DELETE still holds for every other writer, on both databases."""

import pytest
import sqlalchemy as sa

from procobs_dagster.events import audit
from procobs_dagster.maintenance import TablePolicy, archive_audit_log
from procobs_dagster.store.tables import audit_log, audit_log_archive
from procobs_dagster_tests.concurrency import at_once
from procobs_dagster_tests.maintenance.table_helpers import DAY, SECOND, T0, count, rows


def _record(db, at, n=1, **details):
    with db.begin() as conn:
        for i in range(n):
            audit.record(
                conn,
                actor="tester",
                action="test.action",
                subject=f"s{i}",
                details={"i": i, **details},
                at=at,
            )


def _live(db) -> list[dict]:
    with db.read() as conn:
        return [dict(r) for r in conn.execute(sa.select(audit_log).order_by("audit_id")).mappings()]


def _archived(db) -> list[dict]:
    with db.read() as conn:
        return [
            {k: v for k, v in r.items() if k != "archived_at"}
            for r in conn.execute(sa.select(audit_log_archive).order_by("audit_id")).mappings()
        ]


def test_rows_past_the_age_move_into_the_archive_unchanged(db):
    _record(db, T0, 3, nested={"a": [1, 2]})
    _record(db, T0 + 10 * DAY, 2)
    original = _live(db)
    assert TablePolicy().audit_days == 365

    early = archive_audit_log(db, now=T0 + 365 * DAY)  # exactly the age: not older
    assert early.archived == {"audit_log": 0}

    report = archive_audit_log(db, now=T0 + 365 * DAY + SECOND, batch=2)
    assert report.archived == {"audit_log": 3} and report.batches == 2
    assert _archived(db) == original[:3]
    assert _live(db) == original[3:]


def test_a_plain_delete_or_update_is_still_refused(db):
    _record(db, T0, 2)
    [first, second] = _live(db)
    for statement in (
        audit_log.delete(),
        audit_log.delete().where(audit_log.c.audit_id == first["audit_id"]),
        audit_log.update().values(actor="someone else"),
    ):
        with pytest.raises(sa.exc.DatabaseError, match="append-only"), db.begin() as conn:
            conn.execute(statement)
    assert _live(db) == [first, second]


def test_a_delete_is_refused_unless_an_identical_copy_is_archived(db):
    """Copying a different row under the same id into the archive does not open the way:
    the trigger compares every column."""
    _record(db, T0)
    [row] = _live(db)
    forged = {**row, "details": {"i": "forged"}, "archived_at": T0}
    with pytest.raises(sa.exc.DatabaseError, match="append-only"), db.begin() as conn:
        conn.execute(audit_log_archive.insert(), forged)
        conn.execute(audit_log.delete())
    assert _live(db) == [row] and _archived(db) == []


def test_the_archive_refuses_update_and_delete(db):
    _record(db, T0)
    archive_audit_log(db, now=T0 + 400 * DAY)
    for statement in (audit_log_archive.delete(), audit_log_archive.update().values(actor="x")):
        with pytest.raises(sa.exc.DatabaseError, match="append-only"), db.begin() as conn:
            conn.execute(statement)
    assert count(db, audit_log_archive) == 1


def test_dry_run_counts_and_writes_nothing(db):
    _record(db, T0, 5)
    before = rows(db)
    dry = archive_audit_log(db, now=T0 + 400 * DAY, batch=2, dry_run=True)
    assert rows(db) == before
    assert dry.archived == archive_audit_log(db, now=T0 + 400 * DAY, batch=2).archived
    assert dry.archived == {"audit_log": 5}


def test_a_failure_after_a_batch_keeps_that_batch_and_a_rerun_finishes(db):
    _record(db, T0, 5)
    original = _live(db)

    def fail_after_first_batch(progress) -> None:
        raise RuntimeError("injected")

    with pytest.raises(RuntimeError, match="injected"):
        archive_audit_log(db, now=T0 + 400 * DAY, batch=2, progress=fail_after_first_batch)
    assert _archived(db) == original[:2] and _live(db) == original[2:]
    assert archive_audit_log(db, now=T0 + 400 * DAY, batch=2).archived == {"audit_log": 3}
    assert _archived(db) == original


def test_forever_archives_nothing(db):
    _record(db, T0)
    report = archive_audit_log(db, TablePolicy(audit_days=None), now=T0 + 9000 * DAY)
    assert report.archived == {"audit_log": 0} and count(db, audit_log) == 1


def test_two_audit_retentions_at_once_archive_each_row_once(postgres_db):
    db = postgres_db
    _record(db, T0, 40)
    original = _live(db)
    reports = at_once(lambda: archive_audit_log(db, now=T0 + 400 * DAY, batch=3), copies=2)
    assert sum(r.archived["audit_log"] for r in reports) == 40
    assert _archived(db) == original and _live(db) == []
