"""A minimal platform job queue on ``job_queue``, as the demo's job-backed process uses it.

Jobs of one pipeline share a ``run_id``. A worker takes the pipeline's jobs in their
order, claiming each with a guarded update (``WHERE status = 'queued'``), runs it, and
records the outcome (completed or failed with ``last_error``), each in its own short
transaction. This is
the platform side that discovery scores job-backed candidates from; procobs itself only
reads job_queue.
"""

import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from procobs_dagster.clock import utcnow
from procobs_dagster.errors import LostRace, NotFound
from procobs_dagster.ids import uuid7
from procobs_dagster.store.engine import Database
from procobs_dagster.store.tables import job_queue

Handler = Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]]


def enqueue(db: Database, run_id: uuid.UUID, kinds: Sequence[str], payload: dict) -> None:
    """Queue one job per kind, in order, all sharing ``run_id`` and ``payload``."""
    now = utcnow()
    with db.begin() as conn:
        conn.execute(
            job_queue.insert(),
            [
                {
                    "job_id": uuid7(),
                    "job_kind": kind,
                    "run_id": run_id,
                    "correlation_id": str(run_id),
                    "payload": payload,
                    "enqueued_at": now,
                }
                for kind in kinds
            ],
        )


def _claim(db: Database, run_id: uuid.UUID, kind: str):
    j = job_queue.c
    with db.begin() as conn:
        job = conn.execute(
            sa.select(j.job_id, j.payload)
            .where(j.run_id == run_id, j.job_kind == kind, j.status == "queued")
            .limit(1)
        ).first()
        if job is None:
            return None
        claimed = conn.execute(
            job_queue.update()
            .where(j.job_id == job.job_id, j.status == "queued")
            .values(status="running", started_at=utcnow(), attempts=j.attempts + 1)
        ).rowcount
        if claimed != 1:
            raise LostRace(f"job {job.job_id} was claimed by another worker")
        return job


def _finish(db: Database, job_id: uuid.UUID, status: str, error: str | None = None) -> None:
    with db.begin() as conn:
        conn.execute(
            job_queue.update()
            .where(job_queue.c.job_id == job_id, job_queue.c.status == "running")
            .values(status=status, finished_at=utcnow(), last_error=error)
        )


def work(db: Database, run_id: uuid.UUID, handlers: Mapping[str, Handler]) -> dict[str, Any]:
    """Run the run's queued job of each kind, in the order of ``handlers``; each handler
    gets the job's payload and the results so far. A failing job is recorded failed and
    its error re-raised."""
    results: dict[str, Any] = {}
    for kind, handler in handlers.items():
        job = _claim(db, run_id, kind)
        if job is None:
            raise NotFound(f"run {run_id} has no queued {kind} job")
        try:
            results[kind] = handler(job.payload, results)
        except Exception as exc:
            _finish(db, job.job_id, "failed", f"{type(exc).__name__}: {exc}"[:500])
            raise
        _finish(db, job.job_id, "completed")
    return results
