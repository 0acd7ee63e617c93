"""The DOT execution wrapper: how code gets observed (docs/design.md, "Identity and correlation").

    from procobs_dagster.ledger import observe_run, observed

    @observed("DOT_KG_EXTRACT", role="producer")
    def extract(folder): ...                      # its return value is hashed as output

    with observe_run(db, "PROC-CAND:dot:kg", input_ref=folder) as run:
        triples = extract(folder)                 # a step of `run`
        with run.step("DOT_KG_VALIDATE", role="verifier") as step:
            verdict = validate(triples)
            step.touched(verdict["accepted"])
            step.output(verdict)

A run mints its ``process_run_id`` and ``correlation_id``; each step is a component of
it and moves ``started → step_started → step_completed → completed``, or ``failed`` with
``error_ref`` when the callable raises (the exception is re-raised). Every ledger change
is its own short transaction, together with the process.* event it causes (see
``tracking``); the callable itself runs outside any transaction.

Correlation propagates in-process through context variables (context.py) and to child
processes through environment variables (propagation.py).

While ``process_dot_runtime.dry_run_only`` is on, every run opened here is a dry run
(``source_system='dry_run'``, ``evidence_ref.dry_run=true``, events carry
``evidence_type='DRY_RUN'``). The wrapper still calls your code: check ``scope.dry_run``
(or ``PROCOBS_DRY_RUN`` in a child) to skip side effects.
"""

import contextlib
import dataclasses
import functools
import hashlib
import inspect
import json
import logging
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from procobs_dagster import limits
from procobs_dagster.errors import IllegalTransition, InvalidInput
from procobs_dagster.events import runtime
from procobs_dagster.ledger import propagation, tracking, unknown_correlation
from procobs_dagster.ledger.components import check_role
from procobs_dagster.ledger.context import current_run, entered
from procobs_dagster.ledger.lifecycle import is_terminal
from procobs_dagster.ledger.records import RunRecord
from procobs_dagster.store.engine import Database, default_database

log = logging.getLogger(__name__)

ERROR_REF_LIMIT = 500


def digest(value: Any) -> str:
    """sha256 hex of an output: bytes as they are, text as UTF-8, anything else as
    canonical JSON (sorted keys; non-JSON values by ``str``)."""
    if isinstance(value, bytes | bytearray | memoryview):
        data = bytes(value)
    elif isinstance(value, str):
        data = value.encode()
    else:
        data = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str).encode()
    return hashlib.sha256(data).hexdigest()


def error_ref(exc: BaseException) -> str:
    """The exception's type and first line, control characters shown visibly (it is
    stored and printed) and cut to ERROR_REF_LIMIT characters."""
    text = str(exc).strip().splitlines()
    ref = f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
    return limits.printable(ref)[:ERROR_REF_LIMIT]


@dataclasses.dataclass
class _Observed:
    """What a run or a step collects while it works: its evidence and output."""

    db: Database
    process_run_id: uuid.UUID | None
    correlation_id: str
    dry_run: bool
    output_ref: str | None = dataclasses.field(default=None, kw_only=True)
    evidence: dict[str, Any] = dataclasses.field(default_factory=dict, kw_only=True)

    def touched(self, rows: int) -> None:
        """Count rows this work read or wrote (evidence ``rows_touched``)."""
        if isinstance(rows, bool) or not isinstance(rows, int) or rows < 0:
            raise InvalidInput(
                f"rows touched must be a non-negative integer, got {limits.shown(rows)}"
            )
        self.evidence["rows_touched"] = self.evidence.get("rows_touched", 0) + rows

    def output(self, value: Any, ref: str | None = None) -> str:
        """Record the output: its sha256 becomes evidence ``output_sha256``."""
        self.evidence["output_sha256"] = digest(value)
        if ref is not None:
            self.output_ref = ref
        return self.evidence["output_sha256"]

    def add_evidence(self, **fields: Any) -> None:
        self.evidence.update(fields)

    def env(self) -> dict[str, str]:
        """Environment variables that make a child process's steps join this run."""
        return propagation.variables_for(
            self.db, self.process_run_id, self.correlation_id, self.dry_run
        )

    def outcome(self, exc: BaseException | None) -> tracking.Outcome:
        """Completed with what was collected, or failed with the exception's error_ref."""
        return tracking.Outcome(
            status="completed" if exc is None else "failed",
            evidence=dict(self.evidence) or None,
            output_ref=self.output_ref,
            error_ref=None if exc is None else error_ref(exc),
        )


@dataclasses.dataclass
class RunScope(_Observed):
    process_run_id: uuid.UUID
    candidate_code: str
    owned: bool  # opened here, so closed here; False for a run joined from the environment
    # The header as opened or joined: a step is recorded against it in one statement
    # while the run still has its correlation and source (tracking.open_step).
    header: RunRecord | None = dataclasses.field(default=None, kw_only=True, repr=False)

    def step(self, dot_code: str, **options: Any) -> contextlib.AbstractContextManager["StepScope"]:
        """A step of this run (see :func:`observe_step` for the options)."""
        return _step(self, dot_code, **options)


@dataclasses.dataclass
class StepScope(_Observed):
    component_run_id: uuid.UUID
    dot_code: str | None
    orphan: bool = False


@contextlib.contextmanager
def _observing(
    scope: "_Observed",
    what: str,
    finish: Callable[[tracking.Outcome], Any],
    *,
    run: "RunScope | None" = None,
) -> Iterator[Any]:
    """Make ``run`` (and ``scope``, if it is a step) current, yield ``scope``, and record
    the outcome with ``finish``: completed, or failed — without masking the exception,
    which is re-raised."""
    with entered(run, scope if isinstance(scope, StepScope) else None):
        try:
            yield scope
        except BaseException as exc:
            try:
                finish(scope.outcome(exc))
            except Exception:
                log.exception("procobs could not record the failure of %s", what)
            raise
        finish(scope.outcome(None))


def _finisher(db: Database, close: Callable, subject_id: uuid.UUID) -> Callable:
    """``close(conn, subject_id, outcome)`` in a transaction of its own."""

    def finish(outcome: tracking.Outcome) -> None:
        with db.begin() as conn:
            close(conn, subject_id, outcome)

    return finish


@contextlib.contextmanager
def observe_run(
    db: Database | None,
    candidate_code: str,
    *,
    process_run_id: "uuid.UUID | str | None" = None,
    correlation_id: str | None = None,
    parent_run_id: "uuid.UUID | str | None" = None,
    idempotency_key: str | None = None,
    input_ref: str | None = None,
) -> Iterator[RunScope]:
    """Observe a process run: a header row, closed completed (or failed with the
    exception, re-raised) when the block ends.

    Opened inside another run (context, or the environment of a child process) it is a
    nested run: ``parent_run_id`` points at the outer run. A repeated ``idempotency_key``
    takes over the earlier run while it is still open and refuses once it has ended."""
    db = db or default_database()
    if parent_run_id is None:
        parent_run_id = _outer_run_id(db)
    with db.begin() as conn:
        dry_run = runtime.dry_run_only(conn)
        started = tracking.open_run(
            conn,
            candidate_code=candidate_code,
            dry_run=dry_run,
            process_run_id=process_run_id,
            correlation_id=correlation_id,
            parent_run_id=parent_run_id,
            idempotency_key=idempotency_key,
            input_ref=input_ref,
        )
    run = started.run
    if not started.created and is_terminal(run.status):
        raise IllegalTransition(
            f"run {run.process_run_id} (idempotency key {limits.shown(idempotency_key)}) already "
            f"ended {run.status}"
        )
    scope = RunScope(
        db,
        run.process_run_id,
        run.correlation_id,
        run.dry_run,
        candidate_code=run.process_candidate_code,
        owned=True,
        header=run,
    )
    finish = _finisher(db, tracking.close_run, scope.process_run_id)
    with _observing(scope, f"run {scope.process_run_id}", finish, run=scope):
        yield scope


def _outer_run_id(db: Database) -> uuid.UUID | None:
    outer = current_run()
    if outer is not None:
        return outer.process_run_id
    joined = propagation.run_named_by_env(db)
    if isinstance(joined, RunRecord):
        return joined.process_run_id
    if joined is not None:
        log.warning("%s=%s names no run; starting a run without a parent", *joined)
    return None


@contextlib.contextmanager
def observe_step(
    dot_code: str,
    *,
    db: Database | None = None,
    candidate: str | None = None,
    role: str | None = "step",
    event_code: str = tracking.STEP_EVENT_CODE,
    input_ref: str | None = None,
) -> Iterator[StepScope]:
    """Observe one component execution.

    It joins the current run (context), else the run the environment names, else —
    given ``candidate`` — opens a run of its own around the step. The environment naming
    no run makes the step an orphan (process.correlation.missing)."""
    # Checked before a run is opened for it: a step refused after its own run was
    # opened would leave that run behind, failed by the refusal.
    limits.check_identifier(dot_code, "DOT code")
    limits.check_optional_identifier(candidate, "candidate code")
    limits.check_identifier(event_code, "event code")
    limits.check_optional_text(input_ref, "input_ref")
    check_role(role)
    options = {"role": role, "event_code": event_code, "input_ref": input_ref}
    run = current_run()
    if run is not None:
        with _step(run, dot_code, **options) as step:
            yield step
        return
    db = db or default_database()
    joined = propagation.run_named_by_env(db)
    if isinstance(joined, RunRecord):
        scope = RunScope(
            db,
            joined.process_run_id,
            joined.correlation_id,
            joined.dry_run,
            candidate_code=joined.process_candidate_code,
            owned=False,
            header=joined,
        )
        with _step(scope, dot_code, **options) as step:
            yield step
    elif joined is not None:
        with _orphan_step(db, joined[1], dot_code, **options) as step:
            yield step
    elif candidate is None:
        raise InvalidInput(
            f"step {dot_code} runs outside any run: name its candidate, or open it inside "
            "observe_run"
        )
    else:
        with observe_run(db, candidate) as own, _step(own, dot_code, **options) as step:
            yield step


@contextlib.contextmanager
def _step(
    run: RunScope,
    dot_code: str,
    *,
    role: str | None = "step",
    event_code: str = tracking.STEP_EVENT_CODE,
    input_ref: str | None = None,
) -> Iterator[StepScope]:
    with run.db.begin() as conn:
        component = tracking.open_step(
            conn,
            run.process_run_id,
            dot_code=dot_code,
            role=role,
            event_code=event_code,
            input_ref=input_ref,
            known_run=run.header,
        ).component
    step = StepScope(
        run.db,
        run.process_run_id,
        run.correlation_id,
        run.dry_run,
        component_run_id=component.component_run_id,
        dot_code=dot_code,
    )
    finish = _finisher(run.db, tracking.close_step, step.component_run_id)
    with _observing(step, f"step {dot_code} ({step.component_run_id})", finish, run=run):
        yield step


@contextlib.contextmanager
def _orphan_step(
    db: Database,
    correlation_id: str,
    dot_code: str,
    *,
    role: str | None = "step",
    event_code: str = tracking.STEP_EVENT_CODE,
    input_ref: str | None = None,
) -> Iterator[StepScope]:
    with db.begin() as conn:
        dry_run = runtime.dry_run_only(conn)
        component = unknown_correlation.record_orphan(
            conn,
            correlation_id=correlation_id,
            dot_code=dot_code,
            role=role,
            event_code=event_code,
            input_ref=input_ref,
            source_system="dry_run" if dry_run else "dot_runtime",
        ).component
    step = StepScope(
        db,
        None,
        correlation_id,
        dry_run,
        component_run_id=component.component_run_id,
        dot_code=dot_code,
        orphan=True,
    )

    def annotate(conn, component_run_id: uuid.UUID, outcome: tracking.Outcome) -> None:
        # An orphan has no run to complete: its outcome is kept on its row.
        unknown_correlation.annotate_orphan(
            conn,
            component_run_id,
            evidence=outcome.evidence,
            output_ref=outcome.output_ref,
            error_ref=outcome.error_ref,
        )

    finish = _finisher(db, annotate, step.component_run_id)
    with _observing(step, f"orphan step {dot_code} ({step.component_run_id})", finish):
        yield step


def observed(
    dot_code: str,
    *,
    candidate: str | None = None,
    role: str | None = "step",
    event_code: str = tracking.STEP_EVENT_CODE,
    db: Database | None = None,
) -> Callable:
    """Decorator: every call of the function is a step (see :func:`observe_step`).

    Its return value, unless None, is hashed as the step's output (unless the function
    recorded one itself through :func:`current_step`). Coroutine functions are awaited
    inside the step."""
    options = {"candidate": candidate, "role": role, "event_code": event_code, "db": db}

    def keep_output(step: StepScope, result: Any) -> None:
        if result is not None and "output_sha256" not in step.evidence:
            step.output(result)

    def decorate(fn: Callable) -> Callable:
        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def observed_coroutine(*args, **kwargs):
                with observe_step(dot_code, **options) as step:
                    result = await fn(*args, **kwargs)
                    keep_output(step, result)
                    return result

            return observed_coroutine

        @functools.wraps(fn)
        def observed_call(*args, **kwargs):
            with observe_step(dot_code, **options) as step:
                result = fn(*args, **kwargs)
                keep_output(step, result)
                return result

        return observed_call

    return decorate
