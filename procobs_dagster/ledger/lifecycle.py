"""The status lifecycle (docs/design.md, "The run lifecycle") as a transition table.

``observed → started → step_started → step_completed → completed`` is the happy path;
a run with several steps loops ``step_completed → step_started``. ``failed`` and
``cancelled`` end a run from anywhere before the end. ``stuck`` (the stuck sweep) and
``orphan`` (the orphan sweep) are verdicts, not outcomes: a late real outcome
(completed, failed, cancelled) still overrides them. Terminal states are never left.
"""

from procobs_dagster.errors import IllegalTransition, UnknownStatus
from procobs_dagster.limits import shown
from procobs_dagster.store.vocabulary import RUN_STATUSES, TERMINAL_STATUSES

_ENDINGS = ("failed", "cancelled", "stuck", "orphan")

TRANSITIONS: dict[str, frozenset[str]] = {
    "observed": frozenset({"started", *_ENDINGS}),
    "started": frozenset({"step_started", "completed", *_ENDINGS}),
    "step_started": frozenset({"step_completed", *_ENDINGS}),
    "step_completed": frozenset({"step_started", "completed", *_ENDINGS}),
    "stuck": frozenset({"completed", "failed", "cancelled", "orphan"}),
    "orphan": frozenset({"completed", "failed", "cancelled"}),
    "completed": frozenset(),
    "failed": frozenset(),
    "cancelled": frozenset(),
}
INITIAL_STATUSES = ("observed", "started")


def check_status(status: str) -> str:
    if status not in RUN_STATUSES:
        raise UnknownStatus(
            f"unknown status {shown(status)}: expected one of {', '.join(RUN_STATUSES)}"
        )
    return status


def is_terminal(status: str) -> bool:
    return status in TERMINAL_STATUSES


def allowed_from(to_status: str) -> tuple[str, ...]:
    """Every status a row may be in for a move to ``to_status`` to be legal."""
    check_status(to_status)
    return tuple(s for s in RUN_STATUSES if to_status in TRANSITIONS[s])


def check_transition(subject: str, from_status: str, to_status: str) -> None:
    check_status(to_status)
    if to_status in TRANSITIONS[from_status]:
        return
    why = f"{from_status} is terminal" if is_terminal(from_status) else "not a lifecycle step"
    raise IllegalTransition(f"{subject}: {from_status} → {to_status} is not allowed ({why})")
