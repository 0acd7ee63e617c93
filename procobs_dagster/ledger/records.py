"""Immutable views of ledger rows, as callers and the CLI see them."""

import dataclasses
import datetime as dt
import uuid
from typing import Any

from sqlalchemy.engine import RowMapping


def _jsonable(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return value


class _Record:
    @classmethod
    def from_row(cls, row: RowMapping):
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in row.items() if k in names})

    def as_dict(self) -> dict[str, Any]:
        return {f.name: _jsonable(getattr(self, f.name)) for f in dataclasses.fields(self)}


@dataclasses.dataclass(frozen=True)
class RunRecord(_Record):
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
class ComponentRecord(_Record):
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
class HistoryEntry(_Record):
    history_id: int
    subject_kind: str
    subject_id: uuid.UUID
    process_run_id: uuid.UUID | None
    from_status: str | None
    to_status: str
    changed_at: dt.datetime
    reason: str | None
    actor: str | None
