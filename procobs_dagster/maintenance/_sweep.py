"""What the stuck and orphan sweeps share: judging candidates through the ledger's
compare-and-set under the sweep's exclusive lock, and the report.

A sweep claims a batch of candidates in key order (on Postgres ``FOR UPDATE SKIP
LOCKED``: a run a writer is completing right now is not waited for, and it is no longer a
candidate once that writer commits) and moves each with ``expect=`` the status it read.
A row that changed anyway is left alone and counted; nothing a sweep did is ever written
over a real outcome, and a late real outcome still overrides the sweep's verdict.
"""

import dataclasses
import datetime as dt
import functools
import time
import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy.engine import Connection

from procobs_dagster import ledger, limits
from procobs_dagster.errors import LostRace
from procobs_dagster.ids import uuid7
from procobs_dagster.ledger._subjects import resolve_time
from procobs_dagster.records import UnusableRow
from procobs_dagster.store.batches import Progress, open_job
from procobs_dagster.store.engine import Database

_TRANSITION = {"run": ledger.transition_run, "component": ledger.transition_component}


@dataclasses.dataclass(frozen=True)
class SweepVerdict:
    """One row a sweep moved."""

    subject_kind: str  # "run" | "component"
    subject_id: uuid.UUID
    process_run_id: uuid.UUID | None
    from_status: str
    to_status: str
    details: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {
            **dataclasses.asdict(self),
            "subject_id": str(self.subject_id),
            "process_run_id": None if self.process_run_id is None else str(self.process_run_id),
        }


@dataclasses.dataclass
class SweepReport:
    verdict: str  # "stuck" | "orphan"
    sweep_id: uuid.UUID
    now: dt.datetime
    settings: dict[str, Any]
    # False when another sweep of the same kind held the lock: this one did nothing.
    lock_acquired: bool = True
    verdicts: list[SweepVerdict] = dataclasses.field(default_factory=list)
    # Candidates whose status changed between the claim and the compare-and-set.
    left_alone: int = 0
    batches: int = 0
    longest_batch_seconds: float = 0.0
    seconds: float = 0.0
    # Stored settings the sweep could not use (and so left their subjects unjudged).
    unusable: list[UnusableRow] = dataclasses.field(default_factory=list)

    def add(self, batch: "SweepBatch") -> None:
        self.verdicts.extend(batch.verdicts)
        self.left_alone += batch.left_alone

    def as_dict(self) -> dict[str, Any]:
        return {
            **dataclasses.asdict(self),
            "sweep_id": str(self.sweep_id),
            "now": self.now.isoformat(),
            "verdicts": [v.as_dict() for v in self.verdicts],
            "unusable": [u.as_dict() for u in self.unusable],
        }


@dataclasses.dataclass(frozen=True)
class SweepBatch:
    last_key: uuid.UUID | None
    verdicts: tuple[SweepVerdict, ...] = ()
    left_alone: int = 0

    def counts(self) -> dict[str, int]:
        return {"moved": len(self.verdicts), "left_alone": self.left_alone}


@dataclasses.dataclass(frozen=True)
class Sweep:
    """One sweep in progress: which verdict it hands out, its id and its time."""

    verdict: str  # the status it moves rows to: "stuck" | "orphan"
    sweep_id: uuid.UUID
    now: dt.datetime

    @property
    def actor(self) -> str:
        return f"procobs sweep {self.verdict}"

    def judge(
        self,
        conn: Connection,
        last_key: uuid.UUID,
        candidates: list[tuple[str, uuid.UUID, uuid.UUID | None, str, dict[str, Any]]],
        reason: Callable[[dict[str, Any]], str],
    ) -> SweepBatch:
        """Move each ``(kind, subject_id, process_run_id, status read, details)`` to the
        verdict through the ledger's compare-and-set on the status read. The sweep and
        ``details`` go into evidence_ref (under ``<verdict>_sweep``) and the history."""
        verdicts, left_alone = [], 0
        for kind, subject_id, process_run_id, status, details in candidates:
            evidence = {"sweep_id": str(self.sweep_id), "swept_at": self.now.isoformat()}
            try:
                _TRANSITION[kind](
                    conn,
                    subject_id,
                    self.verdict,
                    expect=status,
                    at=self.now,
                    reason=reason(details),
                    actor=self.actor,
                    evidence={f"{self.verdict}_sweep": {**evidence, **details}},
                )
            except LostRace:
                left_alone += 1
                continue
            verdicts.append(
                SweepVerdict(kind, subject_id, process_run_id, status, self.verdict, details)
            )
        return SweepBatch(last_key, tuple(verdicts), left_alone)


def run_sweep(
    db: Database,
    verdict: str,
    steps: list[Callable[..., SweepBatch]],
    *,
    now: dt.datetime | None,
    settings: dict[str, Any],
    batch: int,
    progress: Progress | None,
    statement_timeout_seconds: float,
) -> SweepReport:
    """Run each ``step(conn, sweep, after=…, limit=…)`` in batches under the sweep's
    exclusive lock; a sweep that finds the lock taken reports ``lock_acquired=False``."""
    limits.check_batch(batch)
    sweep = Sweep(verdict, uuid7(), resolve_time(now, "now"))
    report = SweepReport(verdict, sweep.sweep_id, sweep.now, settings)
    began = time.perf_counter()
    with open_job(
        db, sweep.actor, exclusive=True, statement_timeout_seconds=statement_timeout_seconds
    ) as job:
        if job is None:
            report.lock_acquired = False
            return report
        job.run_steps(
            [functools.partial(step, sweep=sweep, limit=batch) for step in steps],
            report,
            progress=progress,
        )
    report.seconds = time.perf_counter() - began
    return report
