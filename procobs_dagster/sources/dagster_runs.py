"""Dagster's own runs as a workflow source (``source = 'dagster'``).

Every run of every job a Dagster instance knows becomes a workflow-engine run of the
ledger, the way an OpenLineage run does (``workflow_runs``, ``workflow_ledger``):

- a run → a run header of job ``dagster/<location>`` / ``<job>``, so its candidate is
  ``PROC-CAND:workflow:dagster/<location>/<job>`` unless the catalog covers the job;
  ``<location>`` is the code location the run was launched from, ``in_process`` for a run
  started outside any (``execute_in_process``, ``dg.materialize`` from a script);
- RUN_START → START, RUN_SUCCESS → COMPLETE, RUN_FAILURE → FAIL (with Dagster's message),
  RUN_CANCELED → ABORT; the job's snapshot id identifies the code that ran;
- each step → a component of its run: job ``<job>.<step key>``; STEP_START → START,
  STEP_SUCCESS → COMPLETE, STEP_FAILURE → FAIL (with the error that caused it);
- each asset materialisation of a step → evidence of the step: the asset key (with the
  partition, if any) and the row count its metadata reports (``dagster/row_count``, else
  ``row_count``);
- a re-execution → a nested run of the run it re-executes (``parent_run_id``).

**Reading.** :func:`read` follows the run status changes of the instance's event log in
storage order, from a :class:`Position` (the sensor's cursor): a run's start is recorded
when it starts; when it ends, the records of its steps are read — their times are their
own — and then its end. A reading stops at ``budget`` records (plus at most one page of a
run's records, so that every reading moves on); a run whose records do not fit is taken up
again where it stopped.

**procobs's own runs** — every run of procobs's code location — are left out, unless
``observe_own``; then they are recorded with :func:`ledger.tracking.unannounced`: in the
ledger, without a single event, so that recording them can never start another of
procobs's runs (docs/workflow-sources.md, "Why there is no loop").

Nothing here imports Dagster: defs/sources/event_log.py turns Dagster's records into the
plain values below, and the raw report kept of each is the plain JSON :func:`parse` reads.
"""

import dataclasses
import datetime as dt
import enum
import json
import logging
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

from procobs_dagster.discovery.catalog import Catalog
from procobs_dagster.errors import InvalidInput
from procobs_dagster.ledger import tracking
from procobs_dagster.limits import MAX_JSON_INTEGER, MAX_TEXT_LENGTH
from procobs_dagster.sources import workflow_ledger
from procobs_dagster.sources.workflow_ledger import RecordReport
from procobs_dagster.sources.workflow_runs import (
    EventKind,
    JobRef,
    ParentRef,
    WorkflowEvent,
    bounded_text,
)
from procobs_dagster.store.engine import Database

log = logging.getLogger(__name__)

SOURCE = "dagster"
IN_PROCESS = "in_process"  # the location of a run started outside any code location
ROW_COUNT_KEYS = ("dagster/row_count", "row_count")
MAX_COUNT = 2**63 - 1
# The same bounds as an OpenLineage job's: namespace (dagster/<location>) and name.
MAX_NAMESPACE, MAX_NAME = 200, 1000
RUN_RECORDS_PAGE = 500
SETTLE_BATCH = 100


class RunChangeKind(enum.StrEnum):
    START = "RUN_START"
    SUCCESS = "RUN_SUCCESS"
    FAILURE = "RUN_FAILURE"
    CANCELED = "RUN_CANCELED"


class StepRecordKind(enum.StrEnum):
    START = "STEP_START"
    SUCCESS = "STEP_SUCCESS"
    FAILURE = "STEP_FAILURE"
    MATERIALIZATION = "ASSET_MATERIALIZATION"


_KINDS = {
    RunChangeKind.START: EventKind.START,
    RunChangeKind.SUCCESS: EventKind.COMPLETE,
    RunChangeKind.FAILURE: EventKind.FAIL,
    RunChangeKind.CANCELED: EventKind.ABORT,
    StepRecordKind.START: EventKind.START,
    StepRecordKind.SUCCESS: EventKind.COMPLETE,
    StepRecordKind.FAILURE: EventKind.FAIL,
    StepRecordKind.MATERIALIZATION: EventKind.OTHER,
}


# --- Dagster's records, as plain values --------------------------------------------------


@dataclasses.dataclass(frozen=True)
class DagsterRun:
    """A run as the instance keeps it. ``location``: the code location it was launched
    from (None: none); ``parent``: the run it re-executes, while that is in the instance."""

    run_id: str
    job_name: str
    location: str | None = None
    snapshot_id: str | None = None
    parent: "DagsterRun | None" = None

    @property
    def job(self) -> JobRef:
        return JobRef(f"{SOURCE}/{self.location or IN_PROCESS}", self.job_name)

    def as_json(self) -> dict[str, Any]:
        doc = {
            "run_id": self.run_id,
            "job_name": self.job_name,
            "location": self.location,
            "snapshot_id": self.snapshot_id,
        }
        if self.parent is not None:
            doc["parent"] = self.parent.as_json()
        return doc

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> "DagsterRun":
        parent = doc.get("parent")
        return cls(
            run_id=doc["run_id"],
            job_name=doc["job_name"],
            location=doc.get("location"),
            snapshot_id=doc.get("snapshot_id"),
            parent=None if parent is None else cls.from_json(parent),
        )


@dataclasses.dataclass(frozen=True)
class RunChange:
    """A run status change of the event log; ``run`` is None when the run is no longer in
    the instance (deleted)."""

    storage_id: int
    kind: RunChangeKind
    at: dt.datetime
    run: DagsterRun | None
    message: str | None = None


@dataclasses.dataclass(frozen=True)
class Materialization:
    asset_key: str  # as Dagster writes it: the path joined by "/"
    partition: str | None = None
    row_count: int | None = None

    @property
    def dataset(self) -> str:
        return self.asset_key if self.partition is None else f"{self.asset_key}[{self.partition}]"

    def as_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class StepRecord:
    """A record of one of a run's steps: its start, success or failure (``error``: what
    caused it), or an asset it materialised."""

    storage_id: int
    kind: StepRecordKind
    step_key: str
    at: dt.datetime
    error: str | None = None
    materialization: Materialization | None = None


@dataclasses.dataclass(frozen=True)
class RecordsPage:
    """A page of a run's step records; ``cursor``: where the next one starts (Dagster's)."""

    records: tuple[StepRecord, ...]
    cursor: str | None
    has_more: bool


class EventLog(Protocol):
    """The instance's event log, read as plain values (defs/sources/event_log.py)."""

    def run_changes(self, after: int, limit: int) -> Sequence[RunChange]:
        """Run status changes stored after ``after``, in storage order, at most ``limit``."""
        ...

    def run_records(self, run_id: str, cursor: str | None, limit: int) -> RecordsPage:
        """The run's step records after ``cursor`` (None: from its first), in storage order."""
        ...


@dataclasses.dataclass(frozen=True)
class ProcobsLocation:
    """procobs's own code location: its name and its jobs' names.

    A run launched from a code location is procobs's when it is this one. A run started
    outside any location cannot be told by it: it is procobs's when its job has the name
    of one of procobs's jobs (the implicit asset job ``__ASSET_JOB`` among them)."""

    name: str
    job_names: frozenset[str]

    def owns(self, run: DagsterRun) -> bool:
        if run.location is not None:
            return run.location == self.name
        return run.job_name in self.job_names


# --- where the sensor is -----------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Position:
    """The sensor's cursor: ``after`` is the storage id of the last run status change
    handled; ``reading`` (a storage id) names a run end whose run's step records were read
    up to ``records`` (Dagster's cursor) when the last reading stopped."""

    after: int = -1
    reading: int | None = None
    records: str | None = None

    def encode(self) -> str:
        return json.dumps(dataclasses.asdict(self), separators=(",", ":"))

    @classmethod
    def decode(cls, cursor: str | None) -> "Position":
        if not cursor:
            return cls()
        try:
            doc = json.loads(cursor)
            position = cls(**doc)
        except (ValueError, TypeError):
            raise InvalidInput(
                f"dagster runs cursor {cursor[:80]!r} is not one this sensor wrote"
            ) from None
        # Bounded, for a cursor set by hand (dagster sensor cursor --set): a storage id
        # past 64 bits reached the event log's query (an OverflowError on SQLite).
        ids = [(position.after, -1)]
        if position.reading is not None:
            ids.append((position.reading, 0))
        if not all(
            type(value) is int and least <= value <= MAX_JSON_INTEGER for value, least in ids
        ) or not (
            position.records is None
            or (isinstance(position.records, str) and len(position.records) <= MAX_TEXT_LENGTH)
        ):
            raise InvalidInput(f"dagster runs cursor {cursor[:80]!r} is not one this sensor wrote")
        return position


@dataclasses.dataclass
class Reading:
    """What one reading found: the reports of other locations' runs (``announced``) and
    of procobs's own (``unannounced``, only with ``observe_own``), where to go on, and
    counts of what was read and left out."""

    position: Position
    announced: list[WorkflowEvent] = dataclasses.field(default_factory=list)
    unannounced: list[WorkflowEvent] = dataclasses.field(default_factory=list)
    records: int = 0  # Dagster records read
    runs: int = 0  # run status changes recorded
    own_left_out: int = 0  # procobs's own, not observed
    gone: int = 0  # of runs no longer in the instance
    refused: int = 0  # of runs whose names procobs does not accept
    caught_up: bool = False

    @property
    def reports(self) -> int:
        return len(self.announced) + len(self.unannounced)


def read(
    event_log: EventLog,
    position: Position,
    *,
    budget: int,
    procobs: ProcobsLocation,
    observe_own: bool = False,
) -> Reading:
    """The reports of the runs whose status changed after ``position``, as far as
    ``budget`` records go (see the module doc)."""
    reading = Reading(position=position)
    changes = event_log.run_changes(position.after, budget)
    reading.records = len(changes)
    for index, change in enumerate(changes):
        run = change.run
        if run is None:
            reading.gone += 1
        elif (problem := _refused(run)) is not None:
            log.warning("dagster run %s left out: %s", run.run_id, problem)
            reading.refused += 1
        elif procobs.owns(run) and not observe_own:
            reading.own_left_out += 1
        else:
            reports = reading.unannounced if procobs.owns(run) else reading.announced
            if change.kind is not RunChangeKind.START:
                resume = position.records if position.reading == change.storage_id else None
                if not _read_steps(
                    event_log, change, resume, reading, reports, budget, first=index == 0
                ):
                    return reading
            reports.append(parse(run_document(change, procobs)))
            reading.runs += 1
        reading.position = Position(change.storage_id)
    reading.caught_up = len(changes) < budget
    return reading


def _read_steps(
    event_log: EventLog,
    change: RunChange,
    cursor: str | None,
    reading: Reading,
    reports: list[WorkflowEvent],
    budget: int,
    *,
    first: bool,
) -> bool:
    """Add the reports of the steps of the run that ``change`` ends, from ``cursor`` on;
    False when the budget ran out first (``reading.position`` then says where to resume).
    The first run of a reading always reads a page, so every reading moves on."""
    run = change.run
    pages = 0
    while True:
        left = budget - reading.records
        if left <= 0 and (pages or not first):
            reading.position = Position(reading.position.after, change.storage_id, cursor)
            return False
        page = _whole_page(event_log, run.run_id, cursor, max(1, min(left, RUN_RECORDS_PAGE)))
        pages += 1
        reading.records += len(page.records)
        reports.extend(parse(doc) for doc in step_documents(run, page.records))
        cursor = page.cursor
        if not page.has_more:
            return True


def _whole_page(event_log: EventLog, run_id: str, cursor: str | None, limit: int) -> RecordsPage:
    """A page of the run's records that does not split the materialisations a step
    reported at one instant: those are one report (a report is identified by its run,
    kind and time), so a page ending inside them ends before them instead — or, when
    they fill the page, right after them."""
    page = event_log.run_records(run_id, cursor, limit)
    if not page.has_more or not page.records:
        return page
    tail = _same_instant(reversed(page.records))
    if tail == 0:
        return page
    if tail < len(page.records):
        return event_log.run_records(run_id, cursor, len(page.records) - tail)
    while page.has_more:
        limit *= 2
        page = event_log.run_records(run_id, cursor, limit)
        group = _same_instant(page.records)
        if group < len(page.records):
            return event_log.run_records(run_id, cursor, group)
    return page


def _same_instant(records: Iterable[StepRecord]) -> int:
    """How many materialisations lead ``records`` that a step reported at one instant."""
    count, first = 0, None
    for record in records:
        if record.kind is not StepRecordKind.MATERIALIZATION:
            break
        key = (record.step_key, record.at)
        if first is not None and key != first:
            break
        first, count = key, count + 1
    return count


def _refused(run: DagsterRun) -> str | None:
    """Why procobs does not accept the run's names, if it does not (they become candidate
    codes and dot codes: bounded, no control characters)."""
    if len(run.job.namespace) > MAX_NAMESPACE:
        return f"location longer than {MAX_NAMESPACE - len(SOURCE) - 1} characters"
    if len(run.job_name) > MAX_NAME or not run.job_name.strip():
        return "job name empty or too long"
    for value in (run.job.namespace, run.job_name):
        if any(unicodedata.category(ch) == "Cc" for ch in value):
            return f"{value[:80]!r} contains a control character"
    return None


# --- reports -----------------------------------------------------------------------------


def run_document(change: RunChange, procobs: ProcobsLocation) -> dict[str, Any]:
    """The report kept raw of a run status change. The run it re-executes is named only
    when that run is recorded under the same rule as this one: procobs's own runs name
    none (they are never held for a parent), and another location's run does not name a
    run of procobs's."""
    run = change.run
    parent = run.parent
    if parent is not None and (procobs.owns(run) or procobs.owns(parent)):
        run = dataclasses.replace(run, parent=None)
    return {
        "record": "run",
        "storage_id": change.storage_id,
        "event_type": change.kind.value,
        "at": change.at.isoformat(),
        "run": run.as_json(),
        "message": bounded_text(change.message),
    }


def step_documents(run: DagsterRun, records: Sequence[StepRecord]) -> list[dict[str, Any]]:
    """The reports kept raw of a run's step records: one per start, success and failure,
    one per step and instant for its materialisations."""
    owner = dataclasses.replace(run, parent=None).as_json()
    documents: list[dict[str, Any]] = []
    grouped: dict[tuple[str, dt.datetime], dict[str, Any]] = {}
    for record in records:
        if record.kind is StepRecordKind.MATERIALIZATION:
            key = (record.step_key, record.at)
            if key in grouped:
                grouped[key]["materializations"].append(record.materialization.as_json())
                continue
        document = {
            "record": "step",
            "storage_id": record.storage_id,
            "event_type": record.kind.value,
            "at": record.at.isoformat(),
            "run": owner,
            "step_key": record.step_key,
            "error": bounded_text(record.error),
            "materializations": (
                [record.materialization.as_json()] if record.materialization else []
            ),
        }
        if record.kind is StepRecordKind.MATERIALIZATION:
            grouped[(record.step_key, record.at)] = document
        documents.append(document)
    return documents


def parse(document: Mapping[str, Any]) -> WorkflowEvent:
    """The workflow-engine report a kept document stands for (also what ``procobs workflow
    replay --source dagster`` reads)."""
    run = DagsterRun.from_json(document["run"])
    at = dt.datetime.fromisoformat(document["at"])
    if document["record"] == "run":
        kind = _KINDS[RunChangeKind(document["event_type"])]
        parent = run.parent
        return WorkflowEvent(
            source=SOURCE,
            run_key=run.run_id,
            kind=kind,
            event_time=at,
            job=run.job,
            parent=None if parent is None else ParentRef(parent.run_id, parent.job),
            whole_workflow=True,
            code={"dagster_job_snapshot_id": run.snapshot_id} if run.snapshot_id else {},
            error=document.get("message") if kind in (EventKind.FAIL, EventKind.ABORT) else None,
            document=document,
        )
    step_key = document["step_key"]
    return WorkflowEvent(
        source=SOURCE,
        run_key=f"{run.run_id}/{step_key}",
        kind=_KINDS[StepRecordKind(document["event_type"])],
        event_time=at,
        job=JobRef(run.job.namespace, f"{run.job_name}.{step_key}"),
        parent=ParentRef(run.run_id, run.job),
        outputs=_outputs(document.get("materializations") or []),
        error=document.get("error"),
        document=document,
    )


def _outputs(materializations: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, int]]:
    outputs: dict[str, dict[str, int]] = {}
    for doc in materializations:
        materialization = Materialization(**doc)
        count = materialization.row_count
        outputs[materialization.dataset] = (
            {"row_count": count} if count is not None and 0 <= count <= MAX_COUNT else {}
        )
    return outputs


def row_count(metadata: Mapping[str, Any]) -> int | None:
    """The row count a materialisation's metadata reports (plain values by key), if any."""
    for key in ROW_COUNT_KEYS:
        value = metadata.get(key)
        if type(value) is int and 0 <= value <= MAX_COUNT:
            return value
    return None


def reported_by_dagster(correlation_id: str) -> bool:
    """Is this the correlation_id of a run or step this source recorded?"""
    return correlation_id.startswith(workflow_ledger.correlation_id(SOURCE, ""))


# --- recording ---------------------------------------------------------------------------


def record(
    db: Database,
    reading: Reading,
    *,
    catalog: Catalog,
    parent_grace: dt.timedelta = workflow_ledger.DEFAULT_PARENT_GRACE,
) -> RecordReport:
    """Record a reading in one transaction: other locations' runs as every source's are,
    procobs's own without an event; then place the Dagster runs held longer than
    ``parent_grace`` for a parent that was never recorded (a re-execution of a run
    deleted, or passed over by a cursor set by hand)."""

    def work(conn) -> RecordReport:
        report = workflow_ledger.record(conn, reading.announced, catalog=catalog)
        with tracking.unannounced():
            report.add(workflow_ledger.record(conn, reading.unannounced, catalog=catalog))
        report.add(
            workflow_ledger.settle_held(
                conn, catalog=catalog, grace=parent_grace, limit=SETTLE_BATCH, source=SOURCE
            )
        )
        return report

    return workflow_ledger.in_transaction(db, work)
