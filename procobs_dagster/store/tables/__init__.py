"""Every table procobs owns. SQLAlchemy Core here is the single source of truth."""

from procobs_dagster.store.tables.base import metadata
from procobs_dagster.store.tables.delivery import delivery_cursor, delivery_sink, delivery_state
from procobs_dagster.store.tables.discovery import (
    birth_registry,
    discovery_score,
    discovery_summary_state,
    discovery_trace_change,
    discovery_trace_class,
    discovery_trace_summary,
    process_candidate,
    process_definition,
)
from procobs_dagster.store.tables.dossier import (
    dossier_artifact,
    dossier_artifact_set,
    dossier_baseline,
    dossier_snapshot,
)
from procobs_dagster.store.tables.events import (
    audit_log,
    event_outbox,
    event_type_registry,
    piece_event_runtime,
    process_dot_runtime,
)
from procobs_dagster.store.tables.ledger import (
    job_queue,
    process_component_observation,
    process_run_observation,
    process_status_history,
)
from procobs_dagster.store.tables.maintenance import (
    audit_log_archive,
    process_component_observation_archive,
    process_run_observation_archive,
    process_status_history_archive,
    stuck_sla_override,
)
from procobs_dagster.store.tables.workflow import workflow_event, workflow_run

__all__ = [
    "audit_log",
    "audit_log_archive",
    "birth_registry",
    "delivery_cursor",
    "delivery_sink",
    "delivery_state",
    "discovery_score",
    "discovery_summary_state",
    "discovery_trace_change",
    "discovery_trace_class",
    "discovery_trace_summary",
    "dossier_artifact",
    "dossier_artifact_set",
    "dossier_baseline",
    "dossier_snapshot",
    "event_outbox",
    "event_type_registry",
    "job_queue",
    "metadata",
    "piece_event_runtime",
    "process_candidate",
    "process_component_observation",
    "process_component_observation_archive",
    "process_definition",
    "process_dot_runtime",
    "process_run_observation",
    "process_run_observation_archive",
    "process_status_history",
    "process_status_history_archive",
    "stuck_sla_override",
    "workflow_event",
    "workflow_run",
]
