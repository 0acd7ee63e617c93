"""Immutable views of dossier rows, as the API, the CLI and the events see them."""

import dataclasses
import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

from procobs_dagster.records import Record


class Artifact(NamedTuple):
    """One indexed file, one file that could not be indexed, or a not_found placeholder.

    A named tuple, not a dataclass: scans build and compare tens of thousands of them,
    and tuple construction and equality run in C."""

    artifact_key: str
    artifact_class: str
    relative_path: str | None  # None only for a not_found placeholder
    path_pattern: str
    content_sha256: str | None
    size_bytes: int | None
    mtime_ns: int | None
    ctime_ns: int | None
    wp_id: str | None
    step_id: str | None
    required_status: str  # required | optional
    blocking: bool
    present: bool
    reason_code: str | None
    reason_detail: str | None

    @property
    def required(self) -> bool:
        return self.required_status == "required"

    def as_dict(self) -> dict[str, Any]:
        return self._asdict()


ARTIFACT_COLUMNS = Artifact._fields


def by_path_then_key(artifact: Artifact) -> tuple[str, str]:
    return (artifact.relative_path or "", artifact.artifact_key)


def rows_digest(artifacts: Sequence[Artifact]) -> str:
    """sha256 of the artifacts in canonical form: the compact JSON array of their column
    arrays (ARTIFACT_COLUMNS order), in the order given — scans give them sorted by
    by_path_then_key. Equal digests mean equal rows, so a set can be shared."""
    return hashlib.sha256(json.dumps(artifacts, separators=(",", ":")).encode("utf-8")).hexdigest()


@dataclasses.dataclass(frozen=True, slots=True)
class Counts(Record):
    total: int
    required: int
    required_present: int
    required_missing: int
    optional: int
    optional_present: int

    @classmethod
    def of(cls, artifacts: Iterable[Artifact]) -> "Counts":
        required = required_present = optional = optional_present = 0
        for a in artifacts:
            if a.required:
                required += 1
                required_present += a.present
            else:
                optional += 1
                optional_present += a.present
        return cls(
            total=required + optional,
            required=required,
            required_present=required_present,
            required_missing=required - required_present,
            optional=optional,
            optional_present=optional_present,
        )


@dataclasses.dataclass(frozen=True, slots=True)
class Snapshot(Record):
    snapshot_id: uuid.UUID
    feature_slug: str
    mission_type: str
    manifest_version: str
    manifest_digest: str | None  # None when scanned without a manifest
    step_id: str | None
    root_path: str
    scan_fingerprint: str | None  # None when a file could not be read (see fingerprint.py)
    artifact_set_id: uuid.UUID
    parity_hash: str
    total: int
    required_count: int
    required_present: int
    required_missing: int
    optional_count: int
    optional_present: int
    completeness: str
    full_scan: bool
    hashed_files: int
    started_at: dt.datetime
    computed_at: dt.datetime

    @property
    def namespace(self) -> tuple[str, str, str]:
        return (self.feature_slug, self.mission_type, self.manifest_version)

    @property
    def counts(self) -> Counts:
        return Counts(
            total=self.total,
            required=self.required_count,
            required_present=self.required_present,
            required_missing=self.required_missing,
            optional=self.optional_count,
            optional_present=self.optional_present,
        )


@dataclasses.dataclass(frozen=True, slots=True)
class Baseline(Record):
    feature_slug: str
    mission_type: str
    manifest_version: str
    snapshot_id: uuid.UUID
    captured_at: dt.datetime
    captured_by: str | None
