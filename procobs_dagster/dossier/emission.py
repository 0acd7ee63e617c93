"""The four dossier events of a scan, written through the event gate (docs/design.md,
"The mission dossier and the parity recipe").

Conditions:

- MissionDossierArtifactIndexed — one per present artifact;
- MissionDossierArtifactMissing — one per artifact that is not present and is required
  (blocking implies required, see manifest.py): not_found placeholders and required files
  that could not be read; never for optional ones;
- MissionDossierSnapshotComputed — one per scan, always;
- MissionDossierParityDriftDetected — one when the reconciliation is DIVERGENCE, with
  ``missing_in_local`` / ``missing_in_baseline`` listing relative paths (a glob entry
  can match many files, so a key alone would not say what is missing) and the severity
  of reconcile.drift_severity.

The events depend only on the snapshot, its artifacts and the reconciliation, so a rescan
of an unchanged folder, which reuses the previous artifact set, emits exactly what a scan
that read every file would: what is due comes from the snapshot's counts, and the set's
rows are read only when a per-artifact type is due and active.

All of a scan's events share ``correlation_id`` = the snapshot id. They are written in the
scan's transaction inside one SAVEPOINT: if emitting fails, the savepoint is rolled back
(no event of that scan remains, and the scan's own transaction stays usable), the failure
is logged and returned, and the scan still commits. An inactive type (or the kill switch)
writes nothing, as the gate decides.
"""

import dataclasses
import logging
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from sqlalchemy.engine import Connection

from procobs_dagster import events
from procobs_dagster.dossier.reconcile import ParityVerdict, Reconciliation
from procobs_dagster.dossier.records import Artifact, Snapshot
from procobs_dagster.events import DossierEventType
from procobs_dagster.events.payloads import (
    ArtifactCounts,
    MissionDossierArtifactIndexed,
    MissionDossierArtifactMissing,
    MissionDossierParityDriftDetected,
    MissionDossierSnapshotComputed,
    Payload,
)

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class EmissionReport:
    """Per event type: how many the scan's conditions called for, and how many were
    written to the outbox (fewer when the type is inactive or emission is off)."""

    due: dict[str, int]
    emitted: dict[str, int]
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _indexed(feature: str, artifacts: Sequence[Artifact]) -> Iterator[tuple[str, Payload]]:
    for a in artifacts:
        if a.present:
            yield (
                f"{feature}/{a.relative_path}",
                MissionDossierArtifactIndexed(
                    feature_slug=feature,
                    artifact_key=a.artifact_key,
                    artifact_class=a.artifact_class,
                    relative_path=a.relative_path,
                    content_hash_sha256=a.content_sha256,
                    size_bytes=a.size_bytes,
                    wp_id=a.wp_id,
                    step_id=a.step_id,
                    required_status=a.required_status,
                ),
            )


def _missing(feature: str, artifacts: Sequence[Artifact]) -> Iterator[tuple[str, Payload]]:
    for a in artifacts:
        if a.required and not a.present:
            yield (
                f"{feature}/{a.relative_path or a.artifact_key}",
                MissionDossierArtifactMissing(
                    feature_slug=feature,
                    artifact_key=a.artifact_key,
                    artifact_class=a.artifact_class,
                    expected_path_pattern=a.path_pattern,
                    reason_code=a.reason_code,
                    reason_detail=a.reason_detail,
                    blocking=a.blocking,
                ),
            )


def _computed(snapshot: Snapshot) -> Iterator[tuple[str, Payload]]:
    counts = snapshot.counts
    yield (
        snapshot.feature_slug,
        MissionDossierSnapshotComputed(
            feature_slug=snapshot.feature_slug,
            parity_hash_sha256=snapshot.parity_hash,
            artifact_counts=ArtifactCounts(**counts.as_row()),
            completeness_status=snapshot.completeness,
            snapshot_id=str(snapshot.snapshot_id),
        ),
    )


def _drift(reconciliation: Reconciliation) -> Iterator[tuple[str, Payload]]:
    if reconciliation.verdict == ParityVerdict.DIVERGENCE:
        yield (
            reconciliation.feature_slug,
            MissionDossierParityDriftDetected(
                feature_slug=reconciliation.feature_slug,
                local_parity_hash=reconciliation.local_parity_hash,
                baseline_parity_hash=reconciliation.baseline_parity_hash,
                missing_in_local=reconciliation.missing_in_local,
                missing_in_baseline=reconciliation.missing_in_baseline,
                severity=reconciliation.severity,
            ),
        )


def due_counts(snapshot: Snapshot, reconciliation: Reconciliation) -> dict[str, int]:
    """How many events of each type the scan's conditions call for, from the snapshot's
    counts: indexed = present artifacts, missing = required ones not present."""
    counts = snapshot.counts
    return {
        DossierEventType.ARTIFACT_INDEXED.value: counts.required_present + counts.optional_present,
        DossierEventType.ARTIFACT_MISSING.value: counts.required_missing,
        DossierEventType.SNAPSHOT_COMPUTED.value: 1,
        DossierEventType.PARITY_DRIFT_DETECTED.value: int(
            reconciliation.verdict == ParityVerdict.DIVERGENCE
        ),
    }


def emit_scan_events(
    conn: Connection,
    snapshot: Snapshot,
    artifacts: Callable[[], Sequence[Artifact]],
    reconciliation: Reconciliation,
) -> EmissionReport:
    """Emit the scan's events. ``artifacts`` returns the snapshot's artifacts; it is called
    only when a per-artifact type is due and active, so a scan that reused a stored set
    reads its rows only for events that will be written."""
    due = due_counts(snapshot, reconciliation)
    emitted = dict.fromkeys(due, 0)
    feature = snapshot.feature_slug
    producers = {
        DossierEventType.ARTIFACT_INDEXED: lambda: _indexed(feature, artifacts()),
        DossierEventType.ARTIFACT_MISSING: lambda: _missing(feature, artifacts()),
        DossierEventType.SNAPSHOT_COMPUTED: lambda: _computed(snapshot),
        DossierEventType.PARITY_DRIFT_DETECTED: lambda: _drift(reconciliation),
    }
    try:
        with conn.begin_nested():
            for event_type, produce in producers.items():
                # Ask the gate once per type: a closed gate costs no payload at all.
                if not due[event_type.value] or not events.gate(conn, event_type.value)[0]:
                    continue
                for subject, payload in produce():
                    events.emit(
                        conn,
                        event_type.value,
                        payload,
                        correlation_id=str(snapshot.snapshot_id),
                        subject=subject,
                    )
                    emitted[event_type.value] += 1
    except Exception as exc:  # an emission failure must never fail the scan
        log.exception("dossier scan %s: emitting events failed", snapshot.snapshot_id)
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        return EmissionReport(
            due=due,
            emitted=dict.fromkeys(due, 0),
            error=f"{type(exc).__name__}: {message}".rstrip(": "),
        )
    return EmissionReport(due=due, emitted=emitted)
