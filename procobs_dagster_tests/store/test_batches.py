"""Batch jobs: one committed transaction per batch in key order, counted and timed, the
statement timeout, and the exclusive lock; on a table of the test's own, so what is
checked is the machinery alone (the jobs built on it are tested in maintenance/ and
delivery/test_redrive.py)."""

import dataclasses
import uuid

import pytest
import sqlalchemy as sa

from procobs_dagster.errors import InvalidInput
from procobs_dagster.ids import uuid7
from procobs_dagster.store.batches import (
    BatchProgress,
    BatchTimeout,
    advisory_key,
    claim,
    open_job,
)
from procobs_dagster.store.types import StoredUuid

probes = sa.Table(
    "batch_probe",
    sa.MetaData(),
    sa.Column("probe_id", StoredUuid, primary_key=True),
    sa.Column("done", sa.Boolean, nullable=False),
)


def make_probes(db, count: int) -> list[uuid.UUID]:
    ids = sorted(uuid7() for _ in range(count))
    with db.begin() as conn:
        probes.create(conn)
        conn.execute(probes.insert(), [{"probe_id": i, "done": False} for i in ids])
    return ids


def done(db) -> list[uuid.UUID]:
    with db.read() as conn:
        return list(
            conn.execute(
                sa.select(probes.c.probe_id).where(probes.c.done).order_by(probes.c.probe_id)
            ).scalars()
        )


@dataclasses.dataclass(frozen=True)
class Marked:
    ids: list[uuid.UUID]

    @property
    def last_key(self) -> uuid.UUID | None:
        return self.ids[-1] if self.ids else None

    def counts(self) -> dict[str, int]:
        return {"marked": len(self.ids)}


@dataclasses.dataclass
class Report:
    marked: list[uuid.UUID] = dataclasses.field(default_factory=list)
    batches: int = 0
    longest_batch_seconds: float = 0.0

    def add(self, batch: Marked, /) -> None:
        self.marked += batch.ids


def mark(limit: int, *, after_batch: dict | None = None):
    """A step marking the next ``limit`` probes done; ``after_batch[n](conn)`` runs inside
    batch ``n`` once its rows are marked."""
    calls = {"n": 0}

    def step(conn, *, after):
        calls["n"] += 1
        query, key = sa.select(probes.c.probe_id), probes.c.probe_id
        postgres = conn.dialect.name == "postgresql"
        rows = claim(conn, query, key, of=probes, after=after, limit=limit, lock=postgres)
        ids = [row.probe_id for row in rows]
        if ids:
            conn.execute(probes.update().where(probes.c.probe_id.in_(ids)).values(done=True))
        (after_batch or {}).get(calls["n"], lambda conn: None)(conn)
        return Marked(ids)

    return step


def test_batches_go_in_key_order_each_committed_counted_and_reported(db):
    ids = make_probes(db, 7)
    seen: list[BatchProgress] = []
    report = Report()
    with open_job(db, "probe", exclusive=False) as job:
        job.run_steps([mark(3)], report, progress=seen.append)
    assert report.marked == ids and done(db) == ids
    assert (report.batches, job.batches) == (3, 3)
    assert [(p.job, p.batch, p.counts) for p in seen] == [
        ("probe", 1, {"marked": 3}),
        ("probe", 2, {"marked": 3}),
        ("probe", 3, {"marked": 1}),
    ]
    assert [p.result.ids for p in seen] == [ids[:3], ids[3:6], ids[6:]]
    assert report.longest_batch_seconds == max(p.seconds for p in seen) > 0


def test_a_failing_batch_is_rolled_back_alone(db):
    ids = make_probes(db, 5)

    def fail(conn) -> None:
        raise RuntimeError("batch 2 fails")

    with open_job(db, "probe", exclusive=False) as job, pytest.raises(RuntimeError):
        job.run_steps([mark(2, after_batch={2: fail})], Report())
    assert done(db) == ids[:2]
    assert job.batches == 1


def test_a_batch_past_the_statement_timeout_is_rolled_back_with_a_one_line_error(postgres_db):
    db = postgres_db
    ids = make_probes(db, 4)

    def stall(conn) -> None:
        conn.execute(sa.select(sa.func.pg_sleep(5)))

    with (
        open_job(db, "probe", exclusive=False, statement_timeout_seconds=0.2) as job,
        pytest.raises(BatchTimeout) as raised,
    ):
        job.run_steps([mark(2, after_batch={2: stall})], Report())
    assert str(raised.value) == (
        "probe: a statement ran past the 0.2 s statement timeout; the batch was rolled back"
    )
    assert done(db) == ids[:2]


def test_an_exclusive_job_runs_once_at_a_time(postgres_db):
    db = postgres_db
    with open_job(db, "probe", exclusive=True) as first:
        assert first is not None
        with open_job(db, "probe", exclusive=True) as second:
            assert second is None
        with open_job(db, "other probe", exclusive=True) as other:
            assert other is not None  # the lock is the job's name's alone
        with open_job(db, "probe", exclusive=False) as shared:
            assert shared is not None  # a job that is not exclusive takes no lock
    with open_job(db, "probe", exclusive=True) as again:
        assert again is not None  # the lock went with the first job
    assert advisory_key("probe") == advisory_key("probe") != advisory_key("other probe")


def test_an_exclusive_job_alone_runs(db):
    with open_job(db, "probe", exclusive=True) as job:
        assert job is not None


@pytest.mark.parametrize("seconds", [0, -1])
def test_the_statement_timeout_must_be_positive(db, seconds):
    with (
        pytest.raises(InvalidInput, match="statement timeout must be positive"),
        open_job(db, "probe", exclusive=False, statement_timeout_seconds=seconds),
    ):
        pass
