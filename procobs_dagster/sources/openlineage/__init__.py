"""OpenLineage as a workflow source: run events checked against the spec's JSON Schema
(shipped with procobs), mapped to workflow-engine reports and recorded in the ledger.

``receiver.create_app`` is the HTTP endpoint (``procobs serve``); ``intake`` accepts a
batch or a JSON-lines file; ``replay`` derives the ledger again from the raw events.
"""

from procobs_dagster.sources.openlineage.intake import (
    MAX_BATCH_EVENTS,
    AcceptReport,
    Batch,
    accept,
    batch_of,
    ingest_file,
)
from procobs_dagster.sources.openlineage.mapping import SOURCE, parse
from procobs_dagster.sources.openlineage.validation import (
    ACCEPTED_VERSIONS,
    InvalidEvent,
    validate,
)

__all__ = [
    "ACCEPTED_VERSIONS",
    "MAX_BATCH_EVENTS",
    "SOURCE",
    "AcceptReport",
    "Batch",
    "InvalidEvent",
    "accept",
    "batch_of",
    "ingest_file",
    "parse",
    "validate",
]
