"""Workflow runs as an engine reports them, and what all the reports of one run say.

A workflow engine reports each run of a job in several events — START, RUNNING, COMPLETE,
FAIL, ABORT, OTHER — delivered at least once and in any order. A source (OpenLineage, the
Dagster runs sensor) maps each report into a :class:`WorkflowEvent`; the reports of one run
fold into :class:`RunFacts`. The fold is a join: associative, commutative and idempotent,
so the facts depend on which reports arrived, never on their order or repetition. Every
field takes the value of one well-defined report — the earliest or latest by its *stamp*,
(event time, the kind's place in a run's life) — or accumulates (a flag, a minimum).

Nothing here touches a database; ``workflow_ledger`` writes the facts to the ledger.
"""

import dataclasses
import datetime as dt
import enum
import json
from collections.abc import Iterable, Mapping
from typing import Any

from procobs_dagster.clock import ensure_utc
from procobs_dagster.errors import InvalidInput


class EventKind(enum.StrEnum):
    START = "START"
    RUNNING = "RUNNING"
    COMPLETE = "COMPLETE"
    ABORT = "ABORT"
    FAIL = "FAIL"
    OTHER = "OTHER"


# What a terminal report makes of the run in the ledger.
OUTCOMES = {EventKind.COMPLETE: "completed", EventKind.FAIL: "failed", EventKind.ABORT: "cancelled"}
# Two reports of one run at the same time: the one later in a run's life counts as later.
_RANK = {
    EventKind.START: 0,
    EventKind.RUNNING: 1,
    EventKind.OTHER: 2,
    EventKind.COMPLETE: 3,
    EventKind.FAIL: 4,
    EventKind.ABORT: 5,
}
# Evidence stays bounded however many datasets a run reports: the first ones by name.
MAX_OUTPUTS = 200

Stamp = tuple[dt.datetime, int]


@dataclasses.dataclass(frozen=True, order=True)
class JobRef:
    """A job as the engine names it: unique ``name`` within ``namespace``."""

    namespace: str
    name: str

    @property
    def ref(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclasses.dataclass(frozen=True)
class ParentRef:
    """The run a report names as the one that spawned it."""

    run_key: str
    job: JobRef


@dataclasses.dataclass(frozen=True)
class WorkflowEvent:
    """One report of a run, mapped by its source.

    ``outputs`` maps each dataset the run wrote (``<namespace>/<name>``) to what the report
    counted of it (``row_count``, ``size_bytes``, ``file_count``; possibly nothing);
    ``code`` holds what identifies the code that ran, one entry per kind of identification;
    ``whole_workflow`` is the engine saying the run is a workflow of its own (an Airflow
    DAG, a Spark application, a dbt invocation), not a step of one. ``document`` is the
    report as received, kept raw."""

    source: str
    run_key: str
    kind: EventKind
    event_time: dt.datetime
    job: JobRef
    parent: ParentRef | None = None
    whole_workflow: bool = False
    outputs: Mapping[str, Mapping[str, int]] = dataclasses.field(default_factory=dict)
    code: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    error: str | None = None
    document: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", EventKind(self.kind))
        object.__setattr__(self, "event_time", ensure_utc(self.event_time, "event time"))
        if self.parent is not None and self.parent.run_key == self.run_key:
            raise InvalidInput(f"run {self.run_key} names itself as its parent")

    @property
    def stamp(self) -> Stamp:
        return (self.event_time, _RANK[self.kind])


@dataclasses.dataclass(frozen=True)
class Outcome:
    """How the earliest terminal report says the run ended."""

    status: str  # completed | failed | cancelled
    at: dt.datetime
    error: str | None
    stamp: Stamp


@dataclasses.dataclass(frozen=True)
class RunFacts:
    """What the reports of one run say together (see the module doc)."""

    source: str
    run_key: str
    job: JobRef
    job_stamp: Stamp
    parent: ParentRef | None
    parent_stamp: Stamp | None
    whole_workflow: bool
    first_time: dt.datetime
    outcome: Outcome | None
    # Every ending reported: more than one means the reports contradict each other.
    outcomes_reported: frozenset[str]
    outputs: Mapping[str, tuple[Stamp, Mapping[str, int]]]
    code: Mapping[str, tuple[Stamp, Any]]

    @classmethod
    def of(cls, event: WorkflowEvent) -> "RunFacts":
        stamp = event.stamp
        outcome = None
        if event.kind in OUTCOMES:
            outcome = Outcome(OUTCOMES[event.kind], event.event_time, event.error, stamp)
        return cls(
            source=event.source,
            run_key=event.run_key,
            job=event.job,
            job_stamp=stamp,
            parent=event.parent,
            parent_stamp=stamp if event.parent is not None else None,
            whole_workflow=event.whole_workflow,
            first_time=event.event_time,
            outcome=outcome,
            outcomes_reported=frozenset({outcome.status} if outcome else ()),
            outputs=_bounded({ref: (stamp, dict(stats)) for ref, stats in event.outputs.items()}),
            code={key: (stamp, value) for key, value in event.code.items()},
        )

    def merge(self, other: "RunFacts") -> "RunFacts":
        if (self.source, self.run_key) != (other.source, other.run_key):
            raise InvalidInput(f"facts of run {self.run_key} merged with run {other.run_key}")
        job, job_stamp = min((self.job_stamp, self.job), (other.job_stamp, other.job))[::-1]
        parents = [(s.parent_stamp, s.parent.run_key, s.parent) for s in (self, other) if s.parent]
        parent_stamp, _, parent = min(parents, key=lambda p: p[:2]) if parents else (None,) * 3
        outcomes = [o for o in (self.outcome, other.outcome) if o is not None]
        return dataclasses.replace(
            self,
            job=job,
            job_stamp=job_stamp,
            parent=parent,
            parent_stamp=parent_stamp,
            whole_workflow=self.whole_workflow or other.whole_workflow,
            first_time=min(self.first_time, other.first_time),
            outcome=min(outcomes, key=lambda o: o.stamp) if outcomes else None,
            outcomes_reported=self.outcomes_reported | other.outcomes_reported,
            outputs=_bounded(_latest(self.outputs, other.outputs)),
            code=_latest(self.code, other.code),
        )

    @property
    def contradicted(self) -> bool:
        return len(self.outcomes_reported) > 1

    def evidence(self) -> dict[str, Any]:
        """The run's evidence for the ledger: the datasets it wrote with what was counted
        of them, the rows written in all, and what identifies its code. Empty when the
        reports show nothing — then a completion raises process.evidence.missing."""
        evidence: dict[str, Any] = {}
        if self.outputs:
            outputs = {ref: dict(stats) for ref, (_, stats) in sorted(self.outputs.items())}
            evidence["outputs"] = outputs
            rows = [s["row_count"] for s in outputs.values() if "row_count" in s]
            if rows:
                evidence["rows_touched"] = sum(rows)
        if self.code:
            evidence["code"] = {key: value for key, (_, value) in sorted(self.code.items())}
        return evidence

    # --- kept in workflow_run.facts -----------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "run_key": self.run_key,
            "job": [self.job.namespace, self.job.name],
            "job_stamp": _stamp_json(self.job_stamp),
            "parent": (
                None
                if self.parent is None
                else [self.parent.run_key, self.parent.job.namespace, self.parent.job.name]
            ),
            "parent_stamp": _stamp_json(self.parent_stamp),
            "whole_workflow": self.whole_workflow,
            "first_time": self.first_time.isoformat(),
            "outcome": (
                None
                if self.outcome is None
                else {
                    "status": self.outcome.status,
                    "at": self.outcome.at.isoformat(),
                    "error": self.outcome.error,
                    "stamp": _stamp_json(self.outcome.stamp),
                }
            ),
            "outcomes_reported": sorted(self.outcomes_reported),
            "outputs": {ref: [_stamp_json(s), dict(v)] for ref, (s, v) in self.outputs.items()},
            "code": {key: [_stamp_json(s), v] for key, (s, v) in self.code.items()},
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> "RunFacts":
        parent = doc["parent"]
        outcome = doc["outcome"]
        return cls(
            source=doc["source"],
            run_key=doc["run_key"],
            job=JobRef(*doc["job"]),
            job_stamp=_stamp(doc["job_stamp"]),
            parent=None if parent is None else ParentRef(parent[0], JobRef(*parent[1:])),
            parent_stamp=_stamp(doc["parent_stamp"]),
            whole_workflow=doc["whole_workflow"],
            first_time=dt.datetime.fromisoformat(doc["first_time"]),
            outcome=(
                None
                if outcome is None
                else Outcome(
                    outcome["status"],
                    dt.datetime.fromisoformat(outcome["at"]),
                    outcome["error"],
                    _stamp(outcome["stamp"]),
                )
            ),
            outcomes_reported=frozenset(doc["outcomes_reported"]),
            outputs={ref: (_stamp(s), v) for ref, (s, v) in doc["outputs"].items()},
            code={key: (_stamp(s), v) for key, (s, v) in doc["code"].items()},
        )


def fold(events: Iterable[WorkflowEvent]) -> RunFacts:
    """The facts of one run's reports (at least one)."""
    facts = None
    for event in events:
        one = RunFacts.of(event)
        facts = one if facts is None else facts.merge(one)
    if facts is None:
        raise InvalidInput("a run's facts need at least one report")
    return facts


def _latest(a: Mapping, b: Mapping) -> dict:
    """Per key, the value with the latest stamp (a last-writer-wins map). Two reports of
    one run never share a stamp; should they, the greater value wins, so that the result
    still does not depend on the order."""
    merged = dict(a)
    for key, (stamp, value) in b.items():
        if key not in merged or (merged[key][0], _order(merged[key][1])) < (stamp, _order(value)):
            merged[key] = (stamp, value)
    return merged


def _order(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _bounded(outputs: dict) -> dict:
    if len(outputs) <= MAX_OUTPUTS:
        return outputs
    return {ref: outputs[ref] for ref in sorted(outputs)[:MAX_OUTPUTS]}


def _stamp_json(stamp: Stamp | None) -> list | None:
    return None if stamp is None else [stamp[0].isoformat(), stamp[1]]


def _stamp(doc: list | None) -> Stamp | None:
    return None if doc is None else (dt.datetime.fromisoformat(doc[0]), doc[1])
