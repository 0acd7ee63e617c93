"""What discovery hands back: a candidate's score, its traces and variants, and the
explanation behind it. Plain dataclasses, no database access."""

import dataclasses
import datetime as dt
import uuid
from typing import Any

from procobs_dagster.discovery.evidence import JOBS

VERIFIED, OBSERVED, WIRED, MISSING = "verified_candidate", "observed", "wired", "runtime_missing"
VARIANTS_SHOWN = 10

SCORE_DEFINITIONS = {
    "support": "real (non-dry-run) runs of the candidate",
    "completion_ratio": "completed real runs / real runs",
    "evidence_completeness": "components with a non-empty evidence_ref object / components "
    "of real runs (job_queue rows carry no evidence)",
    "fitness": "real runs whose steps, ordered by started_at, are exactly the declared step "
    "codes in the declared order / real runs (declared candidates only)",
    "last_seen_at": "latest end (else start, else recorded) time of a real trace; "
    "never last_executed",
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
            "definitions": SCORE_DEFINITIONS,
        }
