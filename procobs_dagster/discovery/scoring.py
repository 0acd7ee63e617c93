"""Discovery scores: the evidence-based gate and the continuous scores, with their reasons.

Status (docs/design.md, "The verified bar"), from the candidate's traces (see ``evidence``):

* ``verified_candidate`` — one real trace meets the bar: a ``completed`` header, ≥2
  component rows sharing its ``correlation_id``, ``started_at`` and ``ended_at`` set
  (job-backed: ≥2 ``job_queue`` rows sharing a ``run_id``, every one completed and with
  ``started_at`` and ``finished_at``);
* ``observed`` — real traces, none meets the bar;
* ``wired`` — dry runs only: they prove the wiring, never the process;
* ``runtime_missing`` — no trace at all (a ``last_executed`` backfill changes nothing).

Continuous scores, over real traces only (see ``DEFINITIONS``): support, completion
ratio, evidence completeness, fitness against the declared step order, last seen, the
trace variants and the directly-follows relation.

The database does every per-row step in one statement and returns trace *classes*
(candidate x origin x variant x the gate's conditions); combining them here costs time in
the number of classes, not of rows.
"""

import collections
import dataclasses
import datetime as dt
import itertools
import json
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from procobs_dagster.clock import utcnow
from procobs_dagster.discovery.catalog import CandidateSpec, Catalog
from procobs_dagster.discovery.evidence import JOBS, EvidenceQuery
from procobs_dagster.discovery.sql import analytical_settings
from procobs_dagster.errors import UnknownCandidate
from procobs_dagster.store.tables import discovery_score, process_candidate, process_definition

VERIFIED, OBSERVED, WIRED, MISSING = "verified_candidate", "observed", "wired", "runtime_missing"
VARIANTS_SHOWN = 10

DEFINITIONS = {
    "support": "real (non-dry-run) runs of the candidate",
    "completion_ratio": "completed real runs / real runs",
    "evidence_completeness": "components with a non-empty evidence_ref object / components "
    "of real runs (job_queue rows carry no evidence)",
    "fitness": "real runs whose steps, ordered by started_at, are exactly the declared step "
    "codes in the declared order / real runs (declared candidates only)",
    "last_seen_at": "latest ended_at (else started_at) of a real run; never last_executed",
    "variants": "distinct step sequences of real runs, with how many runs followed each",
    "directly_follows": "times step b directly followed step a within a real run",
}


@dataclasses.dataclass(frozen=True)
class Edge:
    source: str
    target: str
    count: int


@dataclasses.dataclass(frozen=True)
class Variant:
    steps: tuple[str, ...]
    count: int
    fits: bool | None  # None: the candidate declares no steps

    def as_dict(self) -> dict[str, Any]:
        return {"steps": list(self.steps), "count": self.count, "fits": self.fits}


@dataclasses.dataclass(frozen=True)
class Trace:
    """One execution of a candidate and how it fares against the bar."""

    run_id: uuid.UUID
    origin: str  # process_run_observation | job_queue
    correlation_id: str | None
    header_status: str | None
    dry_run: bool
    completed: bool
    timed: bool
    steps: int
    seen_at: dt.datetime | None

    @classmethod
    def from_row(cls, row) -> "Trace":
        return cls(
            run_id=row["trace_id"],
            origin=row["origin"],
            correlation_id=row["correlation_id"],
            header_status=row["header_status"],
            dry_run=bool(row["dry_run"]),
            completed=bool(row["completed"]),
            timed=bool(row["timed"]),
            steps=int(row["n_steps"]),
            seen_at=row["seen_at"],
        )

    @property
    def checks(self) -> dict[str, bool]:
        return {
            "completed": self.completed,
            "two_components": self.steps >= 2,
            "timestamps": self.timed,
        }

    @property
    def meets_bar(self) -> bool:
        return not self.dry_run and all(self.checks.values())

    @property
    def missing(self) -> tuple[str, ...]:
        """What this trace lacks to meet the bar, worded for a person."""
        if self.dry_run:
            return ("a dry run never counts",)
        jobs = self.origin == JOBS
        words = []
        if not self.completed:
            words.append(
                "not every job completed"
                if jobs
                else f"header is {self.header_status}, not completed"
            )
        if self.steps < 2:
            noun = "job_queue row" if jobs else "component"
            shared = "shares its run_id" if jobs else f"shares correlation_id {self.correlation_id}"
            plural = "" if self.steps == 1 else "s"
            verb = shared if self.steps == 1 else shared.replace("shares", "share")
            words.append(f"only {self.steps} {noun}{plural} {verb} (needs ≥2)")
        if not self.timed:
            words.append(
                "a job lacks started_at or finished_at"
                if jobs
                else "started_at/ended_at not both set"
            )
        return tuple(words)

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": str(self.run_id),
            "origin": self.origin,
            "correlation_id": self.correlation_id,
            "header_status": self.header_status,
            "dry_run": self.dry_run,
            "steps": self.steps,
            "checks": self.checks,
            "meets_bar": self.meets_bar,
            "missing": list(self.missing),
            "seen_at": _iso(self.seen_at),
        }


@dataclasses.dataclass(frozen=True)
class CandidateScore:
    candidate_code: str
    declared: bool
    source: str | None
    status: str
    support: int
    dry_runs: int
    completed_runs: int
    verified_runs: int
    fitting_runs: int
    completion_ratio: float | None
    evidence_completeness: float | None
    fitness: float | None
    last_seen_at: dt.datetime | None
    # Among the real traces (else the dry ones), one meeting most of the bar's conditions:
    # the proof when all are met. Ties go to the greatest run id (with the ledger's
    # time-ordered UUIDv7 ids, the latest started). None when nothing ran.
    best_trace: Trace | None
    failures: dict[str, int]  # real traces failing each of the bar's conditions
    variants: tuple[Variant, ...]  # most frequent first
    directly_follows: tuple[Edge, ...]
    last_executed: dt.datetime | None  # the platform's backfill: shown, never counted
    definition_code: str | None  # set once the candidate was born

    @property
    def proving_run_id(self) -> uuid.UUID | None:
        return self.best_trace.run_id if self.status == VERIFIED else None

    @property
    def proof_source(self) -> str | None:
        return self.best_trace.origin if self.status == VERIFIED else None

    @property
    def summary(self) -> str:
        """The verdict's reason in a few words (the table's evidence column)."""
        trace = self.best_trace
        if self.status == VERIFIED:
            return (
                f"run {trace.run_id} proved it "
                f"({self.verified_runs}/{self.support} real runs meet the bar)"
            )
        if self.status == OBSERVED:
            return f"nearest run {trace.run_id}: {'; '.join(trace.missing)}"
        if self.status == WIRED:
            return f"dry runs only ({self.dry_runs}): wiring, not a process"
        return "no run recorded" + (
            " (last_executed ignored: a backfill)" if self.last_executed else ""
        )

    @property
    def explanation(self) -> str:
        """Why the candidate has its status, in full sentences."""
        trace = self.best_trace
        if self.status == VERIFIED:
            noun = (
                "jobs share its run_id"
                if trace.origin == JOBS
                else "components share its correlation_id"
            )
            header = "every job completed" if trace.origin == JOBS else "header completed"
            stamps = (
                "started_at and finished_at set"
                if trace.origin == JOBS
                else "started_at and ended_at set"
            )
            return (
                f"verified_candidate: run {trace.run_id} ({trace.origin}) meets the bar: {header}, "
                f"{trace.steps} {noun}, {stamps}. {self.verified_runs} of {self.support} real "
                f"run{'s' if self.support != 1 else ''} meet it."
            )
        if self.status == OBSERVED:
            f = self.failures
            runs = f"{self.support} real run{'s' if self.support != 1 else ''}"
            return (
                f"observed: {runs}, none meets the bar. Nearest: run {trace.run_id} "
                f"({trace.origin}): {'; '.join(trace.missing)}. Across real runs: "
                f"{f['not_completed']} not completed, {f['fewer_than_two_components']} with "
                f"fewer than 2 components, {f['timestamps_missing']} without both timestamps."
            )
        if self.status == WIRED:
            return (
                f"wired: dry runs only ({self.dry_runs}, e.g. run {trace.run_id}); a dry run "
                "proves the wiring, never the process."
            )
        where = "no job_queue run of its job kinds" if self.source == "job" else "no ledger run"
        backfill = (
            f" last_executed {_iso(self.last_executed)} is a backfill, never runtime evidence."
            if self.last_executed
            else ""
        )
        return f"runtime_missing: no run recorded ({where}, no dry run).{backfill}"

    def evidence(self) -> dict[str, Any]:
        """The structured reasons stored with the score."""
        return {
            "best_run": None if self.best_trace is None else self.best_trace.as_dict(),
            "failures": self.failures,
            "variants": [v.as_dict() for v in self.variants[:VARIANTS_SHOWN]],
            "variant_count": len(self.variants),
            "last_executed": _iso(self.last_executed),
        }

    def as_dict(self) -> dict[str, Any]:
        return {
            "candidate_code": self.candidate_code,
            "declared": self.declared,
            "source": self.source,
            "status": self.status,
            "support": self.support,
            "dry_runs": self.dry_runs,
            "completed_runs": self.completed_runs,
            "verified_runs": self.verified_runs,
            "fitting_runs": self.fitting_runs,
            "completion_ratio": self.completion_ratio,
            "evidence_completeness": self.evidence_completeness,
            "fitness": self.fitness,
            "last_seen_at": _iso(self.last_seen_at),
            "proving_run_id": None if self.proving_run_id is None else str(self.proving_run_id),
            "proof_source": self.proof_source,
            **self.evidence(),
            "directly_follows": [dataclasses.asdict(e) for e in self.directly_follows],
            "definition_code": self.definition_code,
            "summary": self.summary,
            "explanation": self.explanation,
        }


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.isoformat()


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
    """Score the declared and discovered candidates (or only ``codes``), reading only."""
    scope = None if codes is None else tuple(codes)
    tallies: dict[str, _Tally] = collections.defaultdict(_Tally)
    with analytical_settings(conn):
        for row in conn.execute(
            EvidenceQuery(conn.dialect.name, catalog, scope).classes()
        ).mappings():
            tallies[row["candidate_code"]].add(row)
    wanted = sorted(
        {c.code for c in catalog.candidates} | set(tallies) if scope is None else set(scope)
    )
    best_ids = tuple(t.best[2] for t in tallies.values())
    best = {}
    if best_ids:
        rows = conn.execute(
            EvidenceQuery(conn.dialect.name, catalog, scope, trace_ids=best_ids).all_traces()
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


def _sync_candidates(
    conn: Connection, catalog: Catalog, scores: Iterable[CandidateScore], at
) -> None:
    """Record every candidate scored: declared ones as the catalog says, discovered ones
    as seen. A last_executed backfill the platform wrote is kept unless the catalog
    states one."""
    rows = []
    for score in scores:
        spec = catalog.get(score.candidate_code)
        rows.append(
            {
                "candidate_code": score.candidate_code,
                "source": spec.source if spec else None,
                "title": spec.title if spec else None,
                "covers": list(spec.covered_codes) if spec else None,
                "expected_steps": [s.model_dump() for s in spec.steps] if spec else None,
                "declared": spec is not None,
                "last_executed": score.last_executed,
                "updated_at": at,
            }
        )
    if rows:
        # Both dialects' own INSERT offers ON CONFLICT … DO UPDATE; the rows go as one
        # multi-row VALUES, one round trip (a list of parameter sets would be one
        # statement per candidate with psycopg2).
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        statement = dialect.insert(process_candidate).values(rows)
        updated = (
            "source",
            "title",
            "covers",
            "expected_steps",
            "declared",
            "last_executed",
            "updated_at",
        )
        conn.execute(
            statement.on_conflict_do_update(
                index_elements=[process_candidate.c.candidate_code],
                set_={name: statement.excluded[name] for name in updated},
            )
        )
    # A candidate dropped from the catalog is no longer declared.
    conn.execute(
        process_candidate.update()
        .where(
            process_candidate.c.declared,
            process_candidate.c.candidate_code.not_in([c.code for c in catalog.candidates]),
        )
        .values(declared=False, updated_at=at)
    )


def store_scores(
    conn: Connection, scores: Sequence[CandidateScore], computed_at: dt.datetime
) -> None:
    if not scores:
        return
    conn.execute(
        discovery_score.insert(),
        [
            {
                "computed_at": computed_at,
                "candidate_code": s.candidate_code,
                "declared": s.declared,
                "status": s.status,
                "support": s.support,
                "dry_runs": s.dry_runs,
                "completed_runs": s.completed_runs,
                "verified_runs": s.verified_runs,
                "fitting_runs": s.fitting_runs,
                "completion_ratio": s.completion_ratio,
                "evidence_completeness": s.evidence_completeness,
                "fitness": s.fitness,
                "last_seen_at": s.last_seen_at,
                "proving_run_id": s.proving_run_id,
                "proof_source": s.proof_source,
                "explanation": s.explanation,
                "evidence": s.evidence(),
                "directly_follows": [dataclasses.asdict(e) for e in s.directly_follows],
            }
            for s in scores
        ],
    )


def score_candidates(
    conn: Connection, catalog: Catalog, now: dt.datetime | None = None
) -> list[CandidateScore]:
    """Score every declared and discovered candidate and store the scores, in the caller's
    transaction. Writes process_candidate and discovery_score, nothing else."""
    computed_at = now or utcnow()
    scores = compute_scores(conn, catalog)
    _sync_candidates(conn, catalog, scores, computed_at)
    store_scores(conn, scores, computed_at)
    return scores


def score_of(conn: Connection, catalog: Catalog, code: str) -> CandidateScore:
    """One candidate's score, computed now; refuses a code nobody declared or ran."""
    score = compute_scores(conn, catalog, [code])[0]
    if not score.declared and score.best_trace is None:
        raise UnknownCandidate(
            f"unknown candidate {code!r}: not in the catalog and no run names it"
        )
    return score


@dataclasses.dataclass(frozen=True)
class Explanation:
    score: CandidateScore
    recent_runs: tuple[Trace, ...]
    expected_steps: tuple[dict, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.score.as_dict(),
            "expected_steps": list(self.expected_steps),
            "recent_runs": [t.as_dict() for t in self.recent_runs],
            "definitions": DEFINITIONS,
        }


def explain(conn: Connection, catalog: Catalog, code: str, runs: int = 10) -> Explanation:
    """One candidate's score with the evidence behind it: its most recent runs (real
    first), each with the bar's three checks."""
    score = score_of(conn, catalog, code)
    query = EvidenceQuery(conn.dialect.name, catalog, (code,))
    recent = tuple(
        Trace.from_row(row) for row in conn.execute(query.recent_traces(runs)).mappings()
    )
    spec = catalog.get(code)
    return Explanation(score, recent, tuple(s.model_dump() for s in spec.steps) if spec else ())
