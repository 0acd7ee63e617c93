"""Discovery scores: the evidence-based gate and the continuous scores, with their reasons.

Status (docs/design.md, "The verified bar"), from the candidate's traces (see ``evidence``):

* ``verified_candidate`` — one real trace meets the bar: a ``completed`` header, ≥2
  component rows sharing its ``correlation_id``, ``started_at`` and ``ended_at`` set
  (job-backed: ≥2 ``job_queue`` rows sharing a ``run_id``, every one completed and with
  ``started_at`` and ``finished_at``);
* ``observed`` — real traces, none meets the bar;
* ``wired`` — dry runs only: they prove the wiring, never the process;
* ``runtime_missing`` — no trace at all (a ``last_executed`` backfill changes nothing).

Continuous scores, over real traces only (see ``results.SCORE_DEFINITIONS``): support,
completion ratio, evidence completeness, fitness against the declared step order, last
seen, the trace variants and the directly-follows relation.

The scoring reads trace *classes* (candidate x origin x variant x the gate's conditions):
the stored ones (see ``trace_classes``), kept current with the summaries, or — while
changes are queued — the traces grouped in one statement (their stored summaries, and
for what changed since, the ledger: see ``summaries``); combining them here costs time
in the number of classes, not of rows.
"""

import collections
import contextlib
import dataclasses
import datetime as dt
import itertools
import json
import uuid
from collections.abc import Iterable, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from procobs_dagster import limits
from procobs_dagster.discovery.catalog import CandidateSpec, Catalog
from procobs_dagster.discovery.evidence import among
from procobs_dagster.discovery.results import (
    MISSING,
    OBSERVED,
    VERIFIED,
    WIRED,
    CandidateScore,
    Edge,
    Trace,
    Variant,
)
from procobs_dagster.discovery.sql import analytical_settings
from procobs_dagster.discovery.summaries import (
    current_traces,
    scoring_state,
    stored_are_current,
    trace_class_rows,
)
from procobs_dagster.errors import UnknownCandidate
from procobs_dagster.store.tables import process_candidate, process_definition


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


@dataclasses.dataclass
class _Tally:
    """What one candidate's trace classes add up to."""

    support: int = 0
    dry_runs: int = 0
    completed_runs: int = 0
    verified_runs: int = 0
    not_completed: int = 0
    too_few: int = 0
    untimed: int = 0
    components: int = 0
    with_evidence: int = 0
    last_seen_at: dt.datetime | None = None
    variants: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    best: tuple | None = None  # (rank, origin, trace id)

    def add(self, row) -> None:
        n = int(row["traces"])
        met = row["completed"] + row["timed"] + row["enough_steps"]
        # Best first: real before dry, most conditions met, then the greatest run id.
        rank = (not row["dry_run"], met, row["representative"])
        if self.best is None or rank > self.best[0]:
            self.best = (rank, row["origin"], uuid.UUID(row["representative"]))
        if row["dry_run"]:
            self.dry_runs += n
            return
        self.support += n
        self.completed_runs += n * row["completed"]
        self.verified_runs += n * (met == 3)
        self.not_completed += n * (not row["completed"])
        self.too_few += n * (not row["enough_steps"])
        self.untimed += n * (not row["timed"])
        self.components += int(row["components"] or 0)
        self.with_evidence += int(row["components_with_evidence"] or 0)
        if self.last_seen_at is None or row["last_seen_at"] > self.last_seen_at:
            self.last_seen_at = row["last_seen_at"]
        self.variants[tuple(json.loads(row["variant"]) if row["variant"] else ())] += n


def _status(tally: _Tally) -> str:
    if tally.verified_runs:
        return VERIFIED
    if tally.support:
        return OBSERVED
    return WIRED if tally.dry_runs else MISSING


def _follows(variants: Iterable[Variant]) -> tuple[Edge, ...]:
    edges: collections.Counter = collections.Counter()
    for variant in variants:
        for pair in itertools.pairwise(variant.steps):
            edges[pair] += variant.count
    return tuple(Edge(a, b, n) for (a, b), n in sorted(edges.items()))


def _score(
    code: str, spec: CandidateSpec | None, tally: _Tally, best: Trace | None, last_executed, born
) -> CandidateScore:
    expected = spec.step_codes if spec else None
    variants = tuple(
        Variant(steps, n, None if expected is None else steps == expected)
        for steps, n in sorted(tally.variants.items(), key=lambda item: (-item[1], item[0]))
    )
    fitting = sum(v.count for v in variants if v.fits)
    return CandidateScore(
        candidate_code=code,
        declared=spec is not None,
        source=spec.source if spec else None,
        status=_status(tally),
        support=tally.support,
        dry_runs=tally.dry_runs,
        completed_runs=tally.completed_runs,
        verified_runs=tally.verified_runs,
        fitting_runs=fitting,
        completion_ratio=_ratio(tally.completed_runs, tally.support),
        evidence_completeness=_ratio(tally.with_evidence, tally.components),
        fitness=_ratio(fitting, tally.support) if spec else None,
        last_seen_at=tally.last_seen_at,
        best_trace=best,
        failures={
            "not_completed": tally.not_completed,
            "fewer_than_two_components": tally.too_few,
            "timestamps_missing": tally.untimed,
        },
        variants=variants,
        directly_follows=_follows(variants),
        last_executed=last_executed,
        definition_code=born,
    )


def compute_scores(
    conn: Connection, catalog: Catalog, codes: Sequence[str] | None = None
) -> list[CandidateScore]:
    """Score the declared and discovered candidates (or only ``codes``), reading only:
    from the stored trace summaries and, for what changed since, the ledger."""
    scope = None if codes is None else tuple(codes)
    tallies: dict[str, _Tally] = collections.defaultdict(_Tally)
    current = scoring_state(conn)
    traces = current_traces(conn, catalog, scope, current)
    # The stored classes are a few rows: only grouping the traces needs the settings.
    grouping = (
        contextlib.nullcontext()
        if stored_are_current(current, catalog)
        else analytical_settings(conn)
    )
    with grouping:
        for row in conn.execute(trace_class_rows(catalog, traces, current, scope)).mappings():
            tallies[row["candidate_code"]].add(row)
    wanted = sorted(
        {c.code for c in catalog.candidates} | set(tallies) if scope is None else set(scope)
    )
    best_ids = tuple(t.best[2] for t in tallies.values())
    best = {}
    if best_ids:
        rows = conn.execute(
            sa.select(traces).where(among(traces.c.trace_id, best_ids, conn.dialect.name))
        ).mappings()
        best = {(r["candidate_code"], r["origin"], r["trace_id"]): Trace.from_row(r) for r in rows}
    last_executed = dict(
        conn.execute(
            sa.select(process_candidate.c.candidate_code, process_candidate.c.last_executed).where(
                process_candidate.c.candidate_code.in_(wanted)
            )
        ).all()
    )
    born = dict(
        conn.execute(
            sa.select(
                process_definition.c.candidate_code, process_definition.c.definition_code
            ).where(process_definition.c.candidate_code.in_(wanted))
        ).all()
    )
    scores = []
    for code in wanted:
        spec, tally = catalog.get(code), tallies.get(code, _Tally())
        trace = None if tally.best is None else best[(code, tally.best[1], tally.best[2])]
        stamp = spec.last_executed if spec and spec.last_executed else last_executed.get(code)
        scores.append(_score(code, spec, tally, trace, stamp, born.get(code)))
    return scores


def score_of(conn: Connection, catalog: Catalog, code: str) -> CandidateScore:
    """One candidate's score, computed now; refuses a code nobody declared or ran."""
    score = compute_scores(conn, catalog, [code])[0]
    if not score.declared and score.best_trace is None:
        raise UnknownCandidate(
            f"unknown candidate {limits.shown(code)}: not in the catalog and no run names it"
        )
    return score
