"""Reconciling a snapshot with the baseline of its namespace.

The namespace is (feature slug, mission type, manifest version). Only a baseline of the
same namespace, captured under the same manifest content (the snapshot's manifest
digest), is compared; any other baseline means NO_BASELINE, never drift. Verdicts:

- PARITY: the parity hashes are equal.
- DIVERGENCE: they differ, and every differing path is named with its kind —
  ``content_mismatch`` (present in both, other sha256), ``missing_in_local`` (present in
  the baseline only), ``missing_in_baseline`` (present locally only).
- NO_BASELINE: no baseline for this namespace, or one captured under a manifest that has
  since been edited without a manifest_version bump.
- ERROR: the hashes differ but no path can be named, or the stored data contradicts
  itself (a parity hash or counts that do not match the snapshot's artifacts).

Drift severity (carried by MissionDossierParityDriftDetected):

- ``error``   when a path missing locally belongs to a blocking artifact (blocking in the
  baseline, or a blocking artifact the local snapshot reports missing);
- ``warning`` when any other path is missing locally or any content differs;
- ``info``    when the only differences are paths new locally (missing in the baseline).
"""

import dataclasses
import enum
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy.engine import Connection

from procobs_dagster import limits
from procobs_dagster.dossier import storage
from procobs_dagster.dossier.hashing import parity_hash
from procobs_dagster.dossier.records import Artifact, Baseline, Counts, Snapshot
from procobs_dagster.store.engine import Database


class ParityVerdict(enum.StrEnum):
    PARITY = "PARITY"
    DIVERGENCE = "DIVERGENCE"
    NO_BASELINE = "NO_BASELINE"
    ERROR = "ERROR"

    @property
    def exit_code(self) -> int:
        """`procobs dossier drift`: 0 parity (or nothing to compare), 1 drift, 2 error."""
        return {"DIVERGENCE": 1, "ERROR": 2}.get(self.value, 0)


class DivergenceKind(enum.StrEnum):
    CONTENT_MISMATCH = "content_mismatch"
    MISSING_IN_LOCAL = "missing_in_local"
    MISSING_IN_BASELINE = "missing_in_baseline"


@dataclasses.dataclass(frozen=True)
class Divergence:
    relative_path: str
    kind: DivergenceKind
    artifact_key: str
    blocking: bool
    local_sha256: str | None
    baseline_sha256: str | None

    def as_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "kind": self.kind.value}


@dataclasses.dataclass(frozen=True)
class Reconciliation:
    feature_slug: str
    mission_type: str
    manifest_version: str
    verdict: ParityVerdict
    local_snapshot_id: uuid.UUID
    local_parity_hash: str
    baseline_snapshot_id: uuid.UUID | None = None
    baseline_parity_hash: str | None = None
    divergences: tuple[Divergence, ...] = ()
    severity: str | None = None  # only for DIVERGENCE
    detail: str | None = None

    def paths(self, kind: DivergenceKind) -> list[str]:
        return [d.relative_path for d in self.divergences if d.kind == kind]

    @property
    def missing_in_local(self) -> list[str]:
        return self.paths(DivergenceKind.MISSING_IN_LOCAL)

    @property
    def missing_in_baseline(self) -> list[str]:
        return self.paths(DivergenceKind.MISSING_IN_BASELINE)

    @property
    def content_mismatch(self) -> list[str]:
        return self.paths(DivergenceKind.CONTENT_MISMATCH)

    def as_dict(self) -> dict[str, Any]:
        return {
            "feature_slug": self.feature_slug,
            "mission_type": self.mission_type,
            "manifest_version": self.manifest_version,
            "verdict": self.verdict.value,
            "local_snapshot_id": str(self.local_snapshot_id),
            "local_parity_hash": self.local_parity_hash,
            "baseline_snapshot_id": (
                str(self.baseline_snapshot_id) if self.baseline_snapshot_id else None
            ),
            "baseline_parity_hash": self.baseline_parity_hash,
            "divergences": [d.as_dict() for d in self.divergences],
            "severity": self.severity,
            "detail": self.detail,
        }


def compare(local: Sequence[Artifact], baseline: Sequence[Artifact]) -> list[Divergence]:
    """Every path whose presence or content differs, sorted by path."""
    here = {a.relative_path: a for a in local if a.present}
    there = {a.relative_path: a for a in baseline if a.present}
    blocking_missing_keys = {a.artifact_key for a in local if a.blocking and not a.present}
    divergences = []
    for path in sorted(here.keys() | there.keys()):
        mine, theirs = here.get(path), there.get(path)
        if mine and theirs and mine.content_sha256 == theirs.content_sha256:
            continue
        if mine and theirs:
            kind = DivergenceKind.CONTENT_MISMATCH
        elif theirs:
            kind = DivergenceKind.MISSING_IN_LOCAL
        else:
            kind = DivergenceKind.MISSING_IN_BASELINE
        known = mine or theirs
        blocking = known.blocking or (
            kind == DivergenceKind.MISSING_IN_LOCAL and known.artifact_key in blocking_missing_keys
        )
        divergences.append(
            Divergence(
                relative_path=path,
                kind=kind,
                artifact_key=known.artifact_key,
                blocking=blocking,
                local_sha256=mine.content_sha256 if mine else None,
                baseline_sha256=theirs.content_sha256 if theirs else None,
            )
        )
    return divergences


def drift_severity(divergences: Sequence[Divergence]) -> str:
    if any(d.kind == DivergenceKind.MISSING_IN_LOCAL and d.blocking for d in divergences):
        return "error"
    if any(d.kind != DivergenceKind.MISSING_IN_BASELINE for d in divergences):
        return "warning"
    return "info"


def inconsistency(snapshot: Snapshot, artifacts: Sequence[Artifact], recorded: int) -> str | None:
    """What in a stored snapshot contradicts its own artifacts, if anything."""
    if len(artifacts) != recorded:
        return (
            f"snapshot {snapshot.snapshot_id}: its artifact set holds {len(artifacts)} rows"
            f" but records {recorded}"
        )
    recomputed = parity_hash((a.relative_path, a.content_sha256) for a in artifacts if a.present)
    if recomputed != snapshot.parity_hash:
        return f"snapshot {snapshot.snapshot_id}: stored parity hash does not match its artifacts"
    if Counts.of(artifacts) != snapshot.counts:
        return f"snapshot {snapshot.snapshot_id}: stored counts do not match its artifacts"
    return None


def reconcile_snapshot(
    conn: Connection,
    snapshot: Snapshot,
    artifacts: Sequence[Artifact] | None = None,
) -> Reconciliation:
    """Reconcile ``snapshot`` with its namespace's baseline.

    ``artifacts``: the snapshot's artifacts when the caller just computed them (a scan);
    when omitted they are loaded and the snapshot is checked against them first.
    """
    if artifacts is None:
        loaded, recorded = storage.load_artifact_set(conn, snapshot.artifact_set_id)
        if problem := inconsistency(snapshot, loaded, recorded):
            return Reconciliation(**_local(snapshot), verdict=ParityVerdict.ERROR, detail=problem)
        artifacts = loaded
    return reconcile_with(conn, snapshot, lambda: artifacts)


def _local(snapshot: Snapshot) -> dict[str, Any]:
    return dict(
        feature_slug=snapshot.feature_slug,
        mission_type=snapshot.mission_type,
        manifest_version=snapshot.manifest_version,
        local_snapshot_id=snapshot.snapshot_id,
        local_parity_hash=snapshot.parity_hash,
    )


def reconcile_with(
    conn: Connection, snapshot: Snapshot, local_artifacts: Callable[[], Sequence[Artifact]]
) -> Reconciliation:
    """Reconcile ``snapshot``, whose artifacts ``local_artifacts`` returns when called.

    It is called only when the parity hashes differ, to name the divergent paths: a scan
    that reused a stored artifact set passes a loader, so PARITY or NO_BASELINE reads no
    artifact row. A baseline is comparable when it has the snapshot's namespace and was
    captured under the same manifest content (manifest digest): a manifest edited without
    a manifest_version bump makes its old baseline NO_BASELINE, never drift.
    """
    verdict = _local(snapshot)
    baseline = storage.get_baseline(conn, snapshot.namespace)
    if baseline is None:
        others = [
            f"{b.mission_type} {b.manifest_version}"
            for b in storage.baselines_of(conn, snapshot.feature_slug)
        ]
        detail = f"no baseline for {snapshot.mission_type} {snapshot.manifest_version}"
        if others:
            detail += f" (baselines exist for: {', '.join(others)})"
        return Reconciliation(**verdict, verdict=ParityVerdict.NO_BASELINE, detail=detail)
    base = storage.get_snapshot(conn, baseline.snapshot_id)
    if base.manifest_digest != snapshot.manifest_digest:
        return Reconciliation(
            **verdict,
            verdict=ParityVerdict.NO_BASELINE,
            detail=(
                f"the baseline for {snapshot.mission_type} {snapshot.manifest_version} was"
                " captured under other manifest content (edited without a manifest_version"
                " bump): capture a new baseline"
            ),
        )
    verdict.update(baseline_snapshot_id=base.snapshot_id, baseline_parity_hash=base.parity_hash)
    if base.parity_hash == snapshot.parity_hash:
        return Reconciliation(**verdict, verdict=ParityVerdict.PARITY)
    base_artifacts, recorded = storage.load_artifact_set(conn, base.artifact_set_id)
    if problem := inconsistency(base, base_artifacts, recorded):
        return Reconciliation(**verdict, verdict=ParityVerdict.ERROR, detail=problem)
    divergences = compare(local_artifacts(), base_artifacts)
    if not divergences:
        return Reconciliation(
            **verdict,
            verdict=ParityVerdict.ERROR,
            detail="parity hashes differ but no artifact path differs",
        )
    return Reconciliation(
        **verdict,
        verdict=ParityVerdict.DIVERGENCE,
        divergences=tuple(divergences),
        severity=drift_severity(divergences),
    )


def capture_baseline(
    conn: Connection, feature_slug: str, captured_by: str | None = None
) -> tuple[Baseline, Snapshot]:
    """Make the feature's newest snapshot the baseline of its namespace."""
    captured_by = limits.check_optional_name(captured_by, "--by")
    snapshot = storage.require_latest_snapshot(conn, feature_slug)
    return storage.set_baseline(conn, snapshot, captured_by), snapshot


def reconcile(db: Database, feature_slug: str) -> Reconciliation:
    """Reconcile the feature's newest snapshot with its baseline (read-only)."""
    with db.read() as conn:
        return reconcile_snapshot(conn, storage.require_latest_snapshot(conn, feature_slug))
