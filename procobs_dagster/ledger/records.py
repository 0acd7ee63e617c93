"""Immutable views of ledger rows, as callers and the CLI see them."""

import dataclasses
import datetime as dt
import uuid

from procobs_dagster.records import Record


@dataclasses.dataclass(frozen=True)
class RunRecord(Record):
    process_run_id: uuid.UUID
    process_candidate_code: str
    process_definition_code: str | None
    correlation_id: str
    parent_run_id: uuid.UUID | None
    status: str
    source_system: str
    idempotency_key: str | None
    input_ref: str | None
    output_ref: str | None
    error_ref: str | None
    evidence_ref: dict | None
    started_at: dt.datetime | None
    ended_at: dt.datetime | None
    created_at: dt.datetime

    @property
    def dry_run(self) -> bool:
        return self.source_system == "dry_run"


@dataclasses.dataclass(frozen=True)
class ComponentRecord(Record):
    component_run_id: uuid.UUID
    process_run_id: uuid.UUID | None
    parent_run_id: uuid.UUID | None
    correlation_id: str
    dot_code: str | None
    component_role: str | None
    event_code: str | None
    queue_job_id: uuid.UUID | None
    standalone: bool
    status: str
    source_system: str
    idempotency_key: str | None
    input_ref: str | None
    output_ref: str | None
    error_ref: str | None
    evidence_ref: dict | None
    started_at: dt.datetime | None
    ended_at: dt.datetime | None
    created_at: dt.datetime

    @property
    def dry_run(self) -> bool:
        return self.source_system == "dry_run"


@dataclasses.dataclass(frozen=True)
class HistoryEntry(Record):
    history_id: int
    subject_kind: str
    subject_id: uuid.UUID
    process_run_id: uuid.UUID | None
    from_status: str | None
    to_status: str
    changed_at: dt.datetime
    reason: str | None
    actor: str | None
