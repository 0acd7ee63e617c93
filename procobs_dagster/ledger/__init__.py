"""The observation ledger: runs (header), components (detail), their lifecycle and history.

Every function takes a SQLAlchemy ``Connection`` inside a transaction the caller owns,
so a ledger change and the outbox row it causes commit or roll back together. The DOT
wrapper (``observe_run``, ``observe_step``, ``observed``) takes a ``Database`` instead:
it runs your code outside any transaction and records each step in one of its own.
"""

from procobs_dagster.ledger.components import (
    RecordedComponent,
    components_of,
    get_component,
    record_component,
    transition_component,
)
from procobs_dagster.ledger.context import current_run, current_step
from procobs_dagster.ledger.lifecycle import TRANSITIONS, is_terminal
from procobs_dagster.ledger.observe import RunScope, StepScope, observe_run, observe_step, observed
from procobs_dagster.ledger.propagation import child_env
from procobs_dagster.ledger.records import ComponentRecord, HistoryEntry, RunRecord
from procobs_dagster.ledger.runs import (
    StartedRun,
    find_run_by_correlation,
    finish_run,
    get_run,
    history_of,
    list_runs,
    start_run,
    transition_run,
)
from procobs_dagster.ledger.unknown_correlation import annotate_orphan, record_orphan

__all__ = [
    "TRANSITIONS",
    "ComponentRecord",
    "HistoryEntry",
    "RecordedComponent",
    "RunRecord",
    "RunScope",
    "StartedRun",
    "StepScope",
    "annotate_orphan",
    "child_env",
    "components_of",
    "current_run",
    "current_step",
    "find_run_by_correlation",
    "finish_run",
    "get_component",
    "get_run",
    "history_of",
    "is_terminal",
    "list_runs",
    "observe_run",
    "observe_step",
    "observed",
    "record_component",
    "record_orphan",
    "start_run",
    "transition_component",
    "transition_run",
]
