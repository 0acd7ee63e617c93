"""The stuck sweep: a run still in flight long after it started is stuck (docs/design.md,
"Retention and the sweeps").

A run in flight (observed, started, step_started, step_completed: every status the
lifecycle lets become ``stuck``) whose ``started_at`` is older than its SLA, and which has
no ``ended_at``, becomes ``stuck`` through the ledger's compare-and-set; the sweep (its
id, time, the SLA applied and where it came from) is merged into evidence_ref under
``stuck_sweep`` and the move is in the status history. A run that never started (no
``started_at``) is not judged. A run that completed meanwhile is left alone; a late real
outcome of a stuck run is accepted (the lifecycle allows stuck → completed/failed/cancelled).

The SLA is :data:`DEFAULT_STUCK_SLA_SECONDS` unless the run's process candidate has an
override (``stuck_sla_override``, set with :func:`set_sla`); the caller may replace the
default for one sweep (``procobs sweep stuck --sla SECONDS``), overrides still win.

An override outside the bounds (stored by an older procobs, or by hand) is not used, and
its candidate's runs are not judged at all: the candidate was meant to have an SLA other
than the default, and judging its runs by the default could hand out verdicts its owner
never wanted. The sweep reports the row (and how to fix it) and judges every other run.

Postgres: the sweep holds an advisory lock for its whole run (a second sweep does nothing)
and each batch runs under a statement timeout (it cannot hang). SQLite: see ``store.batches``.
"""

import dataclasses
import datetime as dt
import functools
import logging
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from procobs_dagster import limits
from procobs_dagster.ledger._subjects import resolve_time
from procobs_dagster.ledger.lifecycle import allowed_from
from procobs_dagster.maintenance._sweep import Sweep, SweepBatch, SweepReport, run_sweep
from procobs_dagster.records import UnusableRow
from procobs_dagster.store.batches import (
    DEFAULT_BATCH,
    DEFAULT_STATEMENT_TIMEOUT_SECONDS,
    Progress,
    claim,
)
from procobs_dagster.store.dialect import upsert
from procobs_dagster.store.engine import Database
from procobs_dagster.store.tables import process_run_observation as runs
from procobs_dagster.store.tables import stuck_sla_override
from procobs_dagster.store.types import UTCDateTime

log = logging.getLogger(__name__)

DEFAULT_STUCK_SLA_SECONDS = 6 * 3600
MAX_SLA_SECONDS = limits.MAX_SECONDS


@dataclasses.dataclass(frozen=True)
class SlaOverride:
    process_candidate_code: str
    sla_seconds: int
    reason: str | None
    set_by: str | None
    updated_at: dt.datetime

    def as_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "updated_at": self.updated_at.isoformat()}


def _usable_seconds(seconds: object) -> bool:
    return limits.number_problem(seconds, 1, MAX_SLA_SECONDS, integer=True) is None


def _check_seconds(seconds: int, what: str) -> int:
    return limits.check_count(seconds, what, minimum=1, maximum=MAX_SLA_SECONDS)


_FIX_SLA = (
    f"fix it with `procobs sweep sla set CANDIDATE SECONDS` (1 to {MAX_SLA_SECONDS}) or "
    "`procobs sweep sla clear CANDIDATE`; its runs are not judged until then"
)


def unusable_sla(override: SlaOverride) -> UnusableRow | None:
    """Why a stored override cannot be judged by (None when it can)."""
    if _usable_seconds(override.sla_seconds):
        return None
    return UnusableRow(
        "stuck_sla_override",
        override.process_candidate_code,
        f"sla_seconds {limits.shown(override.sla_seconds)} is outside 1 to {MAX_SLA_SECONDS}",
        _FIX_SLA,
    )


def set_sla(
    conn: Connection,
    candidate_code: str,
    sla_seconds: int,
    *,
    reason: str | None = None,
    actor: str | None = None,
    at: dt.datetime | None = None,
) -> SlaOverride:
    """Give a process candidate its own stuck SLA (replacing an earlier one)."""
    values = {
        "process_candidate_code": limits.check_identifier(candidate_code, "candidate code"),
        "sla_seconds": _check_seconds(sla_seconds, "SLA"),
        "reason": limits.check_optional_text(reason, "reason"),
        "set_by": limits.check_optional_name(actor, "actor"),
        "updated_at": resolve_time(at, "at"),
    }
    conn.execute(
        upsert(conn.dialect.name, stuck_sla_override, values, key=["process_candidate_code"])
    )
    return SlaOverride(**values)


def clear_sla(conn: Connection, candidate_code: str) -> bool:
    """Drop a candidate's override (it gets the default again); False if it had none."""
    deleted = conn.execute(
        stuck_sla_override.delete().where(
            stuck_sla_override.c.process_candidate_code == candidate_code
        )
    )
    return deleted.rowcount == 1


def list_slas(conn: Connection) -> list[SlaOverride]:
    rows = conn.execute(
        sa.select(stuck_sla_override).order_by(stuck_sla_override.c.process_candidate_code)
    ).mappings()
    return [SlaOverride(**row) for row in rows]


def _overdue(
    now: dt.datetime, default_seconds: int, overrides: dict[str, int], unjudged: Sequence[str]
):
    """Runs whose started_at is older than their SLA at ``now`` (none of the ``unjudged``
    candidates). One clause per distinct SLA, comparing against a cutoff computed here:
    exact, and the same on both databases."""
    code, started = runs.c.process_candidate_code, runs.c.started_at

    def older_than(seconds: int):
        return started < sa.literal(now - dt.timedelta(seconds=seconds), UTCDateTime)

    codes_by_sla: dict[int, list[str]] = defaultdict(list)
    for candidate, seconds in overrides.items():
        codes_by_sla[seconds].append(candidate)
    by_default = older_than(default_seconds)
    if overrides or unjudged:
        by_default = sa.and_(code.not_in([*overrides, *unjudged]), by_default)
    return sa.or_(
        by_default,
        *(sa.and_(code.in_(codes), older_than(s)) for s, codes in codes_by_sla.items()),
    )


def _stuck_runs(
    conn: Connection,
    *,
    sweep: Sweep,
    after,
    limit: int,
    default_seconds: int,
    overrides: dict[str, int],
    unjudged: Sequence[str] = (),
) -> SweepBatch:
    query = sa.select(
        runs.c.process_run_id, runs.c.status, runs.c.process_candidate_code, runs.c.started_at
    ).where(
        runs.c.status.in_(allowed_from("stuck")),
        runs.c.ended_at.is_(None),
        _overdue(sweep.now, default_seconds, overrides, unjudged),
    )
    rows = claim(
        conn, query, runs.c.process_run_id, of=runs, after=after, limit=limit, deleting=False
    )
    if not rows:
        return SweepBatch(last_key=None)
    candidates = []
    for row in rows:
        override = overrides.get(row.process_candidate_code)
        details = {
            "sla_seconds": default_seconds if override is None else override,
            "sla_source": "default" if override is None else "candidate",
            "started_at": row.started_at.isoformat(),
            "overdue_seconds": int((sweep.now - row.started_at).total_seconds()),
        }
        candidates.append(("run", row.process_run_id, row.process_run_id, row.status, details))
    return sweep.judge(
        conn,
        rows[-1].process_run_id,
        candidates,
        lambda d: (
            f"stuck sweep: started {d['overdue_seconds']} s ago, "
            f"SLA {d['sla_seconds']} s ({d['sla_source']})"
        ),
    )


def sweep_stuck(
    db: Database,
    *,
    default_sla_seconds: int = DEFAULT_STUCK_SLA_SECONDS,
    now: dt.datetime | None = None,
    batch: int = DEFAULT_BATCH,
    progress: Progress | None = None,
    statement_timeout_seconds: float = DEFAULT_STATEMENT_TIMEOUT_SECONDS,
) -> SweepReport:
    """Mark every overdue run in flight as stuck, one committed batch at a time.

    ``now`` is when runs are judged (default: now). Returns a report with every run moved;
    ``lock_acquired`` is False (and nothing was done) when another stuck sweep is running.
    Overrides outside the bounds are in ``report.unusable`` (and logged); their
    candidates' runs are left unjudged.
    """
    _check_seconds(default_sla_seconds, "default SLA")
    with db.read() as conn:
        stored = list_slas(conn)
    overrides: dict[str, int] = {}
    unjudged: list[str] = []
    unusable: list[UnusableRow] = []
    for override in stored:
        problem = unusable_sla(override)
        if problem is None:
            overrides[override.process_candidate_code] = override.sla_seconds
        else:
            unjudged.append(override.process_candidate_code)
            unusable.append(problem)
            log.warning("stuck sweep: %s", problem)
    step = functools.partial(
        _stuck_runs, default_seconds=default_sla_seconds, overrides=overrides, unjudged=unjudged
    )
    report = run_sweep(
        db,
        "stuck",
        [step],
        now=now,
        settings={"default_sla_seconds": default_sla_seconds, "sla_overrides": len(overrides)},
        batch=batch,
        progress=progress,
        statement_timeout_seconds=statement_timeout_seconds,
    )
    report.unusable = unusable
    return report
