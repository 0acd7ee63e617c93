"""Counts over the two ledger tables, for dashboards (the Dagster assets) and the demo.

Each function is a handful of grouped queries; the callers only format the result.
"""

import dataclasses
import datetime as dt

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from procobs_dagster.clock import utcnow
from procobs_dagster.store.stats import grouped_counts
from procobs_dagster.store.tables import process_component_observation as components
from procobs_dagster.store.tables import process_run_observation as runs
from procobs_dagster.store.types import UTCDateTime

_IS_DRY = runs.c.source_system == "dry_run"


@dataclasses.dataclass(frozen=True)
class CandidateRuns:
    """The runs of one process candidate; dry runs are counted apart, they prove wiring only."""

    candidate_code: str
    real_runs: int
    completed: int
    dry_runs: int
    last_started: dt.datetime | None


@dataclasses.dataclass(frozen=True)
class RunSummary:
    by_status: dict[tuple[str, bool], int]  # (status, dry run?) -> runs
    by_candidate: list[CandidateRuns]
    newest_real_run_at: dt.datetime | None  # when the ledger last recorded a real run
    # Real runs dated after now (beyond clock skew): not counted as the newest.
    real_runs_from_the_future: int = 0

    def real_runs_in(self, status: str) -> int:
        return self.by_status.get((status, False), 0)

    @property
    def runs(self) -> int:
        return sum(self.by_status.values())

    @property
    def real_runs(self) -> int:
        return sum(n for (_, dry), n in self.by_status.items() if not dry)

    @property
    def dry_runs(self) -> int:
        return self.runs - self.real_runs


@dataclasses.dataclass(frozen=True)
class ComponentSummary:
    by_status: dict[tuple[str, str | None], int]  # (status, role) -> components
    by_dot_code: dict[tuple[str | None, str], int]  # (dot code, status) -> components
    with_evidence: int

    @property
    def components(self) -> int:
        return sum(self.by_status.values())


def runs_by_status(conn: Connection) -> dict[tuple[str, bool], int]:
    """``{(status, dry run?): runs}`` over the whole ledger."""
    return grouped_counts(conn, runs, [runs.c.status, _IS_DRY])


def run_summary(conn: Connection) -> RunSummary:
    by_candidate = conn.execute(
        sa.select(
            runs.c.process_candidate_code,
            sa.func.count().filter(sa.not_(_IS_DRY)),
            sa.func.count().filter(sa.and_(sa.not_(_IS_DRY), runs.c.status == "completed")),
            sa.func.count().filter(_IS_DRY),
            sa.func.max(runs.c.started_at),
        )
        .group_by(runs.c.process_candidate_code)
        .order_by(runs.c.process_candidate_code)
    ).all()
    now = utcnow()
    return RunSummary(
        by_status=runs_by_status(conn),
        by_candidate=[CandidateRuns(*row) for row in by_candidate],
        newest_real_run_at=newest_real_run_at(conn, now),
        real_runs_from_the_future=real_runs_from_the_future(conn, now),
    )


# How far ahead of this clock another writer's clock may be. A run dated further ahead
# was reported with a wrong time (an ingested event, a skewed host).
CLOCK_SKEW = dt.timedelta(minutes=5)


def newest_real_run_at(conn: Connection, now: dt.datetime | None = None) -> dt.datetime | None:
    """When the ledger last recorded a real run (dry runs prove wiring, not activity);
    None while it has none. A run dated after ``now`` (beyond CLOCK_SKEW) is not
    counted: a time in the future proves nothing about now, and trusted it would keep
    every freshness judgement green for as long as that time is ahead."""
    cutoff = (now or utcnow()) + CLOCK_SKEW
    return conn.execute(
        sa.select(sa.func.max(runs.c.created_at)).where(
            sa.not_(_IS_DRY), runs.c.created_at <= sa.literal(cutoff, UTCDateTime)
        )
    ).scalar_one()


def real_runs_from_the_future(conn: Connection, now: dt.datetime | None = None) -> int:
    """Real runs dated after ``now`` (beyond CLOCK_SKEW), which newest_real_run_at
    leaves out."""
    cutoff = (now or utcnow()) + CLOCK_SKEW
    return conn.execute(
        sa.select(sa.func.count()).where(
            sa.not_(_IS_DRY), runs.c.created_at > sa.literal(cutoff, UTCDateTime)
        )
    ).scalar_one()


def component_summary(conn: Connection) -> ComponentSummary:
    c = components.c
    return ComponentSummary(
        by_status=grouped_counts(conn, components, [c.status, c.component_role]),
        by_dot_code=grouped_counts(conn, components, [c.dot_code, c.status]),
        with_evidence=conn.execute(
            sa.select(sa.func.count()).where(c.evidence_ref.is_not(None))
        ).scalar_one(),
    )
