"""Integrity rules of the ledger as SQL a monitor runs against the live tables.

The database enforces several of these with CHECK constraints as rows are written; the
queries prove them for the data as it is — rows restored from a backup, loaded before a
constraint existed, or written around procobs. Each rule selects the ids of the rows that
break it, so a report can name them.
"""

import dataclasses
from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from procobs_dagster.store.tables import process_component_observation as components
from procobs_dagster.store.tables import process_run_observation as runs
from procobs_dagster.store.types import JSONDoc
from procobs_dagster.store.vocabulary import TERMINAL_STATUSES


def _no_evidence(column: sa.Column) -> sa.ColumnElement[bool]:
    # An empty object is no evidence either.
    return sa.or_(column.is_(None), column == sa.literal({}, JSONDoc))


def _components_off_their_run_correlation() -> sa.Select:
    return (
        sa.select(components.c.component_run_id)
        .join(runs, runs.c.process_run_id == components.c.process_run_id)
        .where(components.c.correlation_id != runs.c.correlation_id)
    )


def _anonymous_components() -> sa.Select:
    return sa.select(components.c.component_run_id).where(
        components.c.process_run_id.is_(None),
        sa.not_(components.c.standalone),
        components.c.status != "orphan",
    )


def _terminal_runs_without_ended_at() -> sa.Select:
    return sa.select(runs.c.process_run_id).where(
        runs.c.status.in_(TERMINAL_STATUSES), runs.c.ended_at.is_(None)
    )


def _completed_real_runs_without_evidence() -> sa.Select:
    evidenced_component = sa.exists().where(
        components.c.process_run_id == runs.c.process_run_id,
        sa.not_(_no_evidence(components.c.evidence_ref)),
    )
    return sa.select(runs.c.process_run_id).where(
        runs.c.status == "completed",
        runs.c.source_system != "dry_run",
        _no_evidence(runs.c.evidence_ref),
        sa.not_(evidenced_component),
    )


@dataclasses.dataclass(frozen=True)
class IntegrityRule:
    name: str
    table: str  # the table whose rows the rule is about
    description: str
    offenders: Callable[[], sa.Select]  # ids of the rows that break the rule


@dataclasses.dataclass(frozen=True)
class IntegrityReport:
    rule: IntegrityRule
    violations: int
    sample: tuple[str, ...]  # the first offending ids, in id order

    @property
    def passed(self) -> bool:
        return self.violations == 0


RULES = (
    IntegrityRule(
        "components_share_run_correlation",
        "process_component_observation",
        "Every component carries its run's correlation_id.",
        _components_off_their_run_correlation,
    ),
    IntegrityRule(
        "no_anonymous_components",
        "process_component_observation",
        "Every component belongs to a run, is explicitly standalone, or is an orphan.",
        _anonymous_components,
    ),
    IntegrityRule(
        "terminal_runs_have_ended_at",
        "process_run_observation",
        "Every completed, failed or cancelled run has ended_at set.",
        _terminal_runs_without_ended_at,
    ),
    IntegrityRule(
        "completed_real_runs_have_evidence",
        "process_run_observation",
        "Every completed real (non-dry-run) run has evidence on its header or on one of "
        "its components.",
        _completed_real_runs_without_evidence,
    ),
)


def check_rule(conn: Connection, rule: IntegrityRule, sample_size: int = 10) -> IntegrityReport:
    offenders = rule.offenders().subquery()
    (key,) = offenders.c
    count = conn.execute(sa.select(sa.func.count()).select_from(offenders)).scalar_one()
    sample = conn.execute(sa.select(key).order_by(key).limit(sample_size)).scalars()
    return IntegrityReport(rule, count, tuple(str(value) for value in sample))
