"""The observation ledger: runs (header), components (detail), their lifecycle and history.

Every function takes a SQLAlchemy ``Connection`` inside a transaction the caller owns,
so a ledger change and the outbox row it causes commit or roll back together.
"""

from procobs_dagster.ledger.components import (
    RecordedComponent,
    components_of,
    get_component,
    record_component,
    transition_component,
)
from procobs_dagster.ledger.lifecycle import TRANSITIONS, is_terminal
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

__all__ = [
    "TRANSITIONS",
    "ComponentRecord",
    "HistoryEntry",
    "RecordedComponent",
    "RunRecord",
    "StartedRun",
    "components_of",
    "find_run_by_correlation",
    "finish_run",
    "get_component",
    "get_run",
    "history_of",
    "is_terminal",
    "list_runs",
    "record_component",
    "start_run",
    "transition_component",
    "transition_run",
]
