"""Delivery: the outbox relay to webhooks and files — at-least-once, retried with
backoff, dead-lettered, redrivable, signed. Delivery state lives in delivery_state, one
row per (event, sink), apart from the insert-only outbox facts."""

from procobs_dagster.delivery.admin import Backlog, backlog, dead_letters, status
from procobs_dagster.delivery.config import (
    SINKS_FILE_ENV,
    SinkConfig,
    StoredSinks,
    load_sinks_file,
    load_sinks_table,
    save_sinks,
    select_sinks,
)
from procobs_dagster.delivery.redrive import (
    DEFAULT_REDRIVE_BATCH,
    MAX_REDRIVE_IDS,
    RedriveBatch,
    Redriven,
    RedriveReport,
    redrive,
    redrive_dead,
    redrive_dead_batch,
)
from procobs_dagster.delivery.relay import Relay, RelayReport, SinkCounts
from procobs_dagster.delivery.signature import SIGNATURE_HEADER, sign, verify_signature
from procobs_dagster.delivery.sinks import (
    Delivery,
    FileSink,
    NullSink,
    Outcome,
    OutcomeKind,
    Sink,
    WebhookSink,
    build_sink,
)

__all__ = [
    "DEFAULT_REDRIVE_BATCH",
    "MAX_REDRIVE_IDS",
    "SIGNATURE_HEADER",
    "SINKS_FILE_ENV",
    "Backlog",
    "Delivery",
    "FileSink",
    "NullSink",
    "Outcome",
    "OutcomeKind",
    "RedriveBatch",
    "RedriveReport",
    "Redriven",
    "Relay",
    "RelayReport",
    "Sink",
    "SinkConfig",
    "SinkCounts",
    "StoredSinks",
    "WebhookSink",
    "backlog",
    "build_sink",
    "dead_letters",
    "load_sinks_file",
    "load_sinks_table",
    "redrive",
    "redrive_dead",
    "redrive_dead_batch",
    "save_sinks",
    "select_sinks",
    "sign",
    "status",
    "verify_signature",
]
