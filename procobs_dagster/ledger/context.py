"""The run and the step the running code is in, as context variables.

A step opened anywhere below ``observe_run`` (a verifier called by a producer, a
decorated function) joins that run through them. Threads do not inherit context
variables; run a thread's target in ``contextvars.copy_context()``.
"""

import contextlib
import contextvars
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from procobs_dagster.ledger.observe import RunScope, StepScope

_current_run: contextvars.ContextVar["RunScope | None"] = contextvars.ContextVar(
    "procobs_current_run", default=None
)
_current_step: contextvars.ContextVar["StepScope | None"] = contextvars.ContextVar(
    "procobs_current_step", default=None
)


def current_run() -> "RunScope | None":
    return _current_run.get()


def current_step() -> "StepScope | None":
    return _current_step.get()


@contextlib.contextmanager
def entered(run: "RunScope | None", step: "StepScope | None" = None) -> Iterator[None]:
    """Make ``run`` and ``step`` (those given) current for the block, then restore the
    previous ones."""
    run_token = _current_run.set(run) if run is not None else None
    step_token = _current_step.set(step) if step is not None else None
    try:
        yield
    finally:
        if step_token is not None:
            _current_step.reset(step_token)
        if run_token is not None:
            _current_run.reset(run_token)
