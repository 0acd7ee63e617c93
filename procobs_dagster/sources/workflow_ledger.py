"""Reported workflow runs into the ledger (``source_system = 'workflow_engine'``).

**Where a run goes.** A run whose reports name no parent is a process run header: its
candidate is the declared workflow candidate covering its job, else
``PROC-CAND:workflow:<namespace>/<name>``; its correlation_id is ``<source>:<run key>``.
A run whose reports name a parent P waits (*held*) until P is in the ledger, then:

* if the engine says the run is a whole workflow (``whole_workflow``: an Airflow DAG, a
  Spark application, a dbt invocation), it is a **nested run**: a header of its own, with
  ``parent_run_id`` = the header P is or belongs to;
* otherwise it is a **component** (role ``step``, ``dot_code`` = its job's name) of the
  header P is or belongs to, sharing that header's correlation_id — a step of a step
  counts as a step of the same run.

A held run whose parent has not arrived ``grace`` after it did is placed as a run of its
own, flagged ``parent_missing`` in workflow_run (:func:`settle_held`); should the parent
arrive later, the run is linked to it as a nested run. A run stays where it was first
placed.

**What it says.** Every decision is taken from the run's folded facts, so the rows end the
same whatever order the reports arrived in: ``started_at`` is the earliest time reported
(moved earlier when an earlier report arrives late), the earliest terminal report ends the
row through the ledger's guarded transitions (COMPLETE → completed, FAIL → failed with its
error, ABORT → cancelled; START, RUNNING and OTHER end nothing), evidence is what the
reports show (``RunFacts.evidence``), and a component reported after its run ended is
still recorded (``late_report``). A completion with no evidence raises
process.evidence.missing, as from any source. Terminal states are never left: of two
contradicting outcomes, the one applied first stays (the other is in the raw reports).
"""

import dataclasses
import datetime as dt
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from procobs_dagster import ledger
from procobs_dagster.clock import utcnow
from procobs_dagster.discovery.catalog import Catalog
from procobs_dagster.errors import InvalidInput, NotFound, ProcobsError
from procobs_dagster.ledger import amend, tracking
from procobs_dagster.ledger.lifecycle import is_terminal
from procobs_dagster.limits import shown
from procobs_dagster.maintenance import BatchProgress
from procobs_dagster.sources import workflow_store as store
from procobs_dagster.sources.workflow_runs import ParentRef, RunFacts, WorkflowEvent, fold
from procobs_dagster.sources.workflow_store import COMPONENT, HELD, RUN, ReportedRun
from procobs_dagster.store.engine import Database
from procobs_dagster.store.vocabulary import WORKFLOW_SOURCES

log = logging.getLogger(__name__)

SOURCE_SYSTEM = "workflow_engine"
CANDIDATE_PREFIX = "PROC-CAND:workflow:"
DEFAULT_PARENT_GRACE = dt.timedelta(minutes=15)
# Postgres: deadlock detected, serialization failure. Each aborts one transaction, which
# is then worth running again from the start.
_RETRYABLE = ("40P01", "40001")
RETRY_ATTEMPTS = 5

T = TypeVar("T")


@dataclasses.dataclass
class RecordReport:
    """What recording reports did (``as_dict`` for JSON)."""

    events: int = 0
    duplicates: int = 0
    runs_placed: int = 0
    components_placed: int = 0
    parent_missing: int = 0
    linked_late: int = 0
    ended: int = 0
    contradicted: int = 0
    archived: int = 0

    def as_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)

    def add(self, other: "RecordReport") -> None:
        for field in dataclasses.fields(self):
            setattr(self, field.name, getattr(self, field.name) + getattr(other, field.name))


@dataclasses.dataclass
class _Context:
    catalog: Catalog
    now: dt.datetime
    report: RecordReport


def candidate_code(catalog: Catalog, facts: RunFacts) -> str:
    return catalog.workflow_candidate(facts.job.ref) or f"{CANDIDATE_PREFIX}{facts.job.ref}"


def correlation_id(source: str, run_key: str) -> str:
    return f"{source}:{run_key}"


def _actor(source: str) -> str:
    return f"workflow:{source}"


# --- recording ---------------------------------------------------------------------------


def _check_sources(events: Sequence[WorkflowEvent]) -> None:
    """Every report names a source the raw tables take (their CHECK holds the same
    vocabulary), checked before anything is written: a new engine's reports need its name
    in WORKFLOW_SOURCES, by a migration, not a constraint error half-way through a batch."""
    for event in events:
        if event.source not in WORKFLOW_SOURCES:
            raise InvalidInput(
                f"workflow source {shown(event.source)} is unknown: procobs keeps reports of "
                f"{', '.join(WORKFLOW_SOURCES)} (a new engine's name is added to "
                "WORKFLOW_SOURCES in store/vocabulary.py, with a migration)"
            )


def record(
    conn: Connection,
    events: Sequence[WorkflowEvent],
    *,
    catalog: Catalog,
    received_at: dt.datetime | None = None,
) -> RecordReport:
    """Keep each report raw and bring the ledger up to date with it, in the caller's
    transaction. A report kept before (same run, type and time) changes nothing."""
    _check_sources(events)
    ctx = _Context(catalog, utcnow(), RecordReport())
    received_at = received_at or ctx.now
    for event in events:
        known = _lock_and_load(conn, event.source, event.run_key, event.parent)
        if not store.store_event(conn, event, received_at):
            ctx.report.duplicates += 1
            continue
        ctx.report.events += 1
        previous = None if known is None else known.facts
        facts = RunFacts.of(event) if previous is None else previous.merge(RunFacts.of(event))
        if facts == previous and known.first_received_at <= received_at:
            continue  # a report that adds nothing (kept raw all the same)
        run = store.save_facts(conn, known, facts, received_at=received_at, now=ctx.now)
        _reconcile(conn, run, ctx, previous=previous)
    return ctx.report


def settle_held(
    conn: Connection,
    *,
    catalog: Catalog,
    grace: dt.timedelta = DEFAULT_PARENT_GRACE,
    now: dt.datetime | None = None,
    limit: int = 500,
    source: str | None = None,
) -> RecordReport:
    """Place the runs held longer than ``grace`` for a parent that has not arrived: each
    becomes a run of its own, flagged ``parent_missing`` (one whose parent did arrive
    meanwhile is placed under it). At most ``limit`` runs, oldest first; of ``source``
    only, when given."""
    ctx = _Context(catalog, now or utcnow(), RecordReport())
    for held_source, run_key in store.held_since(conn, ctx.now - grace, limit, source):
        named = store.load_run(conn, held_source, run_key).facts.parent
        run = _lock_and_load(conn, held_source, run_key, named)
        if run.placement == HELD:
            _reconcile(conn, run, ctx, parent_gone=True)
    return ctx.report


@dataclasses.dataclass
class ReplayReport:
    runs: int = 0
    events: int = 0
    unreadable: int = 0
    batches: int = 0
    recorded: RecordReport = dataclasses.field(default_factory=RecordReport)

    def as_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "recorded": self.recorded.as_dict()}


def replay(
    db: Database,
    *,
    source: str,
    parse: Callable[[Mapping[str, Any]], WorkflowEvent | None],
    catalog: Catalog,
    batch: int = 500,
    progress: Callable[[BatchProgress], None] | None = None,
) -> ReplayReport:
    """Derive the facts of every reported run of ``source`` again from its raw reports,
    with ``parse`` as the mapping is now, and bring the ledger forward to them.

    Runs are taken ``batch`` at a time in run-key order, each batch in a transaction of
    its own, so a long replay holds no lock for long and can be stopped and run again:
    replaying twice changes nothing the first did not. What the ledger cannot take back
    (where a run was placed, an outcome) stays; anything a report now adds is added."""
    report = ReplayReport()
    after = ""
    while True:
        started = time.monotonic()

        def one_batch(conn: Connection, after=after) -> tuple[list[str], RecordReport, int, int]:
            keys = store.run_keys_after(conn, source, after, batch)
            return (keys, *_replay_runs(conn, source, keys, parse, catalog))

        keys, recorded, events, unreadable = in_transaction(db, one_batch)
        if not keys:
            return report
        after = keys[-1]
        report.batches += 1
        report.runs += len(keys)
        report.events += events
        report.unreadable += unreadable
        report.recorded.add(recorded)
        if progress is not None:
            progress(
                BatchProgress(
                    "workflow replay",
                    report.batches,
                    {"runs": len(keys), "events": events, "unreadable": unreadable},
                    time.monotonic() - started,
                )
            )


def _replay_runs(
    conn: Connection,
    source: str,
    keys: Sequence[str],
    parse: Callable[[Mapping[str, Any]], WorkflowEvent | None],
    catalog: Catalog,
) -> tuple[RecordReport, int, int]:
    ctx = _Context(catalog, utcnow(), RecordReport())
    reports: dict[str, list[tuple[Mapping[str, Any], dt.datetime]]] = {}
    for run_key, document, received_at in store.raw_events(conn, source, keys):
        reports.setdefault(run_key, []).append((document, received_at))
    events = unreadable = 0
    for run_key in keys:
        try:
            parsed = [parse(document) for document, _ in reports[run_key]]
        # A mapping that no longer reads an old report leaves its run as it was; the
        # others are replayed all the same.
        except (ProcobsError, KeyError, TypeError, ValueError) as exc:
            log.warning("workflow replay: run %s left as it was: %s", run_key, exc)
            unreadable += 1
            continue
        parsed = [event for event in parsed if event is not None]
        if not parsed:
            unreadable += 1
            continue
        facts = fold(parsed)
        known = _lock_and_load(conn, source, run_key, facts.parent)
        received_at = min(at for _, at in reports[run_key])
        run = store.save_facts(conn, known, facts, received_at=received_at, now=ctx.now)
        _reconcile(conn, run, ctx)  # judged afresh: the ledger may lag the new mapping
        events += len(parsed)
    return ctx.report, events, unreadable


def in_transaction(db: Database, work: Callable[[Connection], T]) -> T:
    """Run ``work`` in a transaction of its own, again from the start when Postgres
    aborted it to break a deadlock (two batches locking the same runs in other orders)."""
    for attempt in range(1, RETRY_ATTEMPTS + 1):
        try:
            with db.begin() as conn:
                return work(conn)
        except sa.exc.DBAPIError as exc:
            code = getattr(exc.orig, "pgcode", None)
            if code not in _RETRYABLE or attempt == RETRY_ATTEMPTS:
                raise
            log.info("workflow: transaction aborted (%s), running it again", code)
            time.sleep(0.01 * attempt)
    raise AssertionError("unreachable")


# --- placing and advancing ---------------------------------------------------------------


def _lock_and_load(
    conn: Connection, source: str, run_key: str, named_parent: ParentRef | None
) -> ReportedRun | None:
    """Take the key locks a decision about the run needs — the parent's first, then its
    own, the order every writer takes them in — and read its row under them. A report that
    does not name the parent its run's earlier reports named takes that parent's lock after
    its own: the one exception to the order, paid for by a deadlock retry when it meets a
    writer going the other way."""
    if named_parent is not None:
        store.lock_key(conn, source, named_parent.run_key)
    store.lock_key(conn, source, run_key)
    run = store.load_run(conn, source, run_key)
    known_parent = None if run is None else run.facts.parent
    if known_parent is not None and known_parent != named_parent:
        store.lock_key(conn, source, known_parent.run_key)
    return run


def _reconcile(
    conn: Connection,
    run: ReportedRun,
    ctx: _Context,
    *,
    previous: RunFacts | None = None,
    parent_gone: bool = False,
) -> None:
    """Bring the ledger to what ``run``'s facts say (the caller holds its key lock).
    ``previous``: the facts the ledger already reflects (None: judge every field afresh)."""
    if run.placement == HELD:
        run, created = _place(conn, run, ctx, parent_gone=parent_gone)
        if run.placement == HELD:
            return
        _advance(conn, run, ctx, previous=None, fresh=created)
        _adopt_children(conn, run, ctx)
        return
    _advance(conn, run, ctx, previous=previous, fresh=False)
    if run.placement == RUN and (previous is None or previous.parent != run.facts.parent):
        _link_to_parent(conn, run, ctx)


def _place(
    conn: Connection, run: ReportedRun, ctx: _Context, *, parent_gone: bool
) -> tuple[ReportedRun, bool]:
    """Place a held run if its parent allows; (run, whether its ledger row was created
    just now — else it was there already, under the same idempotency key)."""
    facts = run.facts
    parent = None
    if facts.parent is not None:
        parent = store.load_run(conn, run.source, facts.parent.run_key)
    if facts.parent is not None and (parent is None or parent.placement == HELD):
        if not parent_gone:
            return run, False
        return _place_header(conn, run, ctx, parent_run_id=None, parent_missing=True)
    if parent is None:
        return _place_header(conn, run, ctx, parent_run_id=None)
    if facts.whole_workflow:
        return _place_header(conn, run, ctx, parent_run_id=parent.process_run_id)
    try:
        step = tracking.open_step(
            conn,
            parent.process_run_id,
            dot_code=facts.job.name,
            role="step",
            idempotency_key=correlation_id(run.source, run.run_key),
            at=facts.first_time,
            actor=_actor(run.source),
            late_report=True,
        )
    except NotFound:
        # The parent's header was archived by retention: the run stands on its own.
        return _place_header(conn, run, ctx, parent_run_id=None, parent_missing=True)
    ctx.report.components_placed += 1
    placed = store.place(
        conn,
        run,
        COMPONENT,
        process_run_id=parent.process_run_id,
        component_run_id=step.component.component_run_id,
        now=ctx.now,
    )
    return placed, step.created


def _place_header(
    conn: Connection,
    run: ReportedRun,
    ctx: _Context,
    *,
    parent_run_id,
    parent_missing: bool = False,
) -> tuple[ReportedRun, bool]:
    try:
        started = _open_header(conn, run, ctx, parent_run_id)
    except NotFound:  # the parent's header was archived by retention
        started = _open_header(conn, run, ctx, None)
        parent_missing = True
    ctx.report.runs_placed += 1
    ctx.report.parent_missing += parent_missing
    placed = store.place(
        conn,
        run,
        RUN,
        process_run_id=started.run.process_run_id,
        parent_missing=parent_missing,
        now=ctx.now,
    )
    return placed, started.created


def _open_header(
    conn: Connection, run: ReportedRun, ctx: _Context, parent_run_id
) -> ledger.StartedRun:
    facts = run.facts
    return tracking.open_run(
        conn,
        candidate_code=candidate_code(ctx.catalog, facts),
        source_system=SOURCE_SYSTEM,
        correlation_id=correlation_id(run.source, run.run_key),
        parent_run_id=parent_run_id,
        idempotency_key=correlation_id(run.source, run.run_key),
        evidence=facts.evidence() or None,
        at=facts.first_time,
        actor=_actor(run.source),
    )


def _advance(
    conn: Connection,
    run: ReportedRun,
    ctx: _Context,
    *,
    previous: RunFacts | None,
    fresh: bool,
) -> None:
    """Move the run's ledger row forward to its facts: start, evidence, outcome. Only what
    changed since ``previous`` is written; ``fresh``: the row was just created from these
    facts (its start and, for a header, its evidence are already theirs)."""
    facts = run.facts
    kind, subject_id = run.ledger_subject
    row = None
    if previous is None and not fresh:
        row = amend.backdate_start(conn, kind, subject_id, facts.first_time)
        if row is None:  # archived by retention; its reports stay in workflow_event
            ctx.report.archived += 1
            return
    elif previous is not None and facts.first_time < previous.first_time:
        row = amend.backdate_start(conn, kind, subject_id, facts.first_time)
    evidence = facts.evidence()
    if row is not None:
        stale = any((row.evidence_ref or {}).get(k) != v for k, v in evidence.items())
    elif fresh:
        stale = bool(evidence) and kind == "component"  # a header is born with its evidence
    else:
        stale = evidence != previous.evidence()
    if stale:
        row = amend.add_evidence(conn, kind, subject_id, evidence)
    outcome = facts.outcome
    if outcome is None or (previous is not None and previous.outcome == outcome):
        return
    if not fresh:
        row = row or _ledger_row(conn, kind, subject_id)
        if row is None:
            ctx.report.archived += 1
            return
        if is_terminal(row.status):
            if row.status != outcome.status or facts.contradicted:
                ctx.report.contradicted += 1
            return
    ending = tracking.Outcome(
        status=outcome.status,
        error_ref=outcome.error if outcome.status != "completed" else None,
        at=outcome.at,
        actor=_actor(run.source),
    )
    if kind == "component":
        tracking.close_step(conn, subject_id, ending)
    else:
        tracking.close_run(conn, subject_id, ending)
    ctx.report.ended += 1


def _ledger_row(conn: Connection, kind: str, subject_id):
    try:
        if kind == "component":
            return ledger.get_component(conn, subject_id)
        return ledger.get_run(conn, subject_id)
    except NotFound:
        return None


def _adopt_children(conn: Connection, parent: ReportedRun, ctx: _Context) -> None:
    """The runs that waited for ``parent`` take their place now; runs of its that stand on
    their own (placed before it arrived, or before a report named it) become its nested
    runs."""
    for child in store.children(conn, parent.source, parent.run_key):
        store.lock_key(conn, child.source, child.run_key)
        child = store.load_run(conn, child.source, child.run_key)  # as it is under the lock
        if child.placement == HELD:
            _reconcile(conn, child, ctx)
        elif child.placement == RUN:
            _link_to_parent(conn, child, ctx)


def _link_to_parent(conn: Connection, run: ReportedRun, ctx: _Context) -> None:
    """A run header whose reports name a parent that is in the ledger, but which has no
    parent_run_id (placed before the parent arrived or was named), is linked to it."""
    if run.facts.parent is None:
        return
    parent = store.load_run(conn, run.source, run.facts.parent.run_key)
    if parent is None or parent.placement == HELD:
        return  # linked when the parent is placed
    try:
        header = ledger.get_run(conn, run.process_run_id)
        if header.parent_run_id is None:
            amend.link_parent(conn, run.process_run_id, parent.process_run_id)
            ctx.report.linked_late += 1
    except NotFound:  # either header archived by retention: nothing to link
        return
    except InvalidInput:  # reports naming each other as parents: no cycle is recorded
        return
