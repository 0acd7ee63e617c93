"""Scanning a mission folder into a stored snapshot.

``scan_dossier`` runs in three phases so that no database lock is held while files are
read: (1) a read transaction fetches the previous snapshot of the same feature and root
folder (its file facts make the scan incremental); (2) the folder is walked and hashed
with no transaction open; (3) one write transaction stores the artifact set and the
snapshot, reconciles it with its baseline and emits the events. ``observe`` and
``record`` are phases 2 and 3 for callers that own their transaction.

Incremental rule: a file whose size and mtime_ns equal those stored for its path in the
previous snapshot keeps its stored sha256 and is not read — unless ``full`` is asked for,
or the file is *racy*: its mtime falls within RACY_WINDOW of the previous scan's start,
so it could have changed again within the same timestamp tick after being hashed (the
case git's index calls "racily clean").

Each artifact row is one of: a present file (indexed, hashed); a matched path that could
not be read, with a reason — ``unreadable`` (permission, I/O error, a link out of the
folder or a broken link), ``invalid_format`` (a directory or FIFO/socket/device where a
file is expected, or an unusable file name), ``deleted_after_scan`` (listed, then gone
before it was read); or a ``not_found`` placeholder for each required entry that matched
nothing. Completeness is ``incomplete`` when a blocking artifact is not present,
``complete`` otherwise, and ``unknown`` when the scan had no manifest.
"""

import dataclasses
import datetime as dt
import functools
import re
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Connection

from procobs_dagster.clock import utcnow
from procobs_dagster.dossier import storage
from procobs_dagster.dossier.emission import EmissionReport, emit_scan_events
from procobs_dagster.dossier.hashing import NotARegularFile, hash_files, parity_hash
from procobs_dagster.dossier.manifest import EntryRole, Manifest, ScanPlan
from procobs_dagster.dossier.reconcile import Reconciliation, reconcile_snapshot
from procobs_dagster.dossier.records import Artifact, Counts, Snapshot, by_path_then_key
from procobs_dagster.dossier.walk import Listed, Skipped, walk
from procobs_dagster.errors import InvalidInput
from procobs_dagster.store.engine import Database

RACY_WINDOW = dt.timedelta(seconds=2)
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
FEATURE_SLUG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
WP_ID = re.compile(r"(?:^|/)(WP\d+)(?![0-9A-Za-z])")


class InvalidMissionFolder(InvalidInput):
    pass


@dataclasses.dataclass(frozen=True)
class PreviousScan:
    """The last snapshot of the same feature and folder, with its artifacts."""

    snapshot: Snapshot
    artifacts: tuple[Artifact, ...]

    @property
    def set_and_artifacts(self) -> tuple[uuid.UUID, tuple[Artifact, ...]]:
        return self.snapshot.artifact_set_id, self.artifacts

    @functools.cached_property
    def present(self) -> dict[str, Artifact]:
        return {a.relative_path: a for a in self.artifacts if a.present}

    @functools.cached_property
    def racy_from_ns(self) -> int:
        start = self.snapshot.started_at - RACY_WINDOW
        return (start - EPOCH) // dt.timedelta(microseconds=1) * 1000

    def unchanged(self, item: Listed) -> Artifact | None:
        """The stored artifact of ``item`` if size and mtime say it did not change."""
        known = self.present.get(item.relative_path)
        if known is None or known.size_bytes != item.size or known.mtime_ns != item.mtime_ns:
            return None
        return known if item.mtime_ns < self.racy_from_ns else None


@dataclasses.dataclass(frozen=True)
class Observation:
    """A folder as one scan saw it, before anything is stored."""

    root: str
    plan: ScanPlan
    artifacts: tuple[Artifact, ...]
    previous: PreviousScan | None
    hashed_paths: tuple[str, ...]
    skipped: tuple[Skipped, ...]
    full: bool
    started_at: dt.datetime


@dataclasses.dataclass(frozen=True)
class ScanResult:
    snapshot: Snapshot
    artifacts: tuple[Artifact, ...]
    hashed_paths: tuple[str, ...]  # files read this time (the others kept their stored hash)
    skipped: tuple[Skipped, ...]  # links not followed, directories not listed
    reconciliation: Reconciliation
    emission: EmissionReport

    @property
    def missing(self) -> list[Artifact]:
        return [a for a in self.artifacts if not a.present]

    def as_dict(self) -> dict[str, Any]:
        return {
            "snapshot": self.snapshot.as_dict(),
            "artifacts": [a.as_dict() for a in self.artifacts],
            "hashed_paths": list(self.hashed_paths),
            "skipped": [s.as_dict() for s in self.skipped],
            "reconciliation": self.reconciliation.as_dict(),
            "events": self.emission.as_dict(),
        }


def resolve_root(root: "str | Path") -> str:
    path = Path(root)
    try:
        resolved = path.resolve(strict=True)
    except (OSError, RuntimeError):
        raise InvalidMissionFolder(f"mission folder {str(path)!r} does not exist") from None
    if not resolved.is_dir():
        raise InvalidMissionFolder(f"mission folder {str(path)!r} is not a directory")
    return str(resolved)


def check_feature_slug(feature_slug: str) -> str:
    if not FEATURE_SLUG.match(feature_slug or ""):
        raise InvalidInput(
            f"invalid feature slug {feature_slug!r}: use letters, digits, '.', '_' and '-'"
        )
    return feature_slug


def _artifact(
    role: EntryRole,
    relative_path: str | None,
    facts: tuple[str | None, int | None, int | None] = (None, None, None),
    reason: tuple[str, str] | None = None,
) -> Artifact:
    """An artifact row: present when ``facts`` (sha256, size, mtime_ns) are given,
    else not present for ``reason`` (reason_code, detail)."""
    wp = WP_ID.search(relative_path) if relative_path and "WP" in relative_path else None
    reason_code, reason_detail = reason or (None, None)
    return Artifact(
        role.entry.artifact_key,
        role.entry.artifact_class,
        relative_path,
        role.entry.path_pattern,
        *facts,
        wp.group(1) if wp else None,
        role.step_id,
        "required" if role.required else "optional",
        role.blocking,
        reason is None,
        reason_code,
        reason_detail,
    )


def _failure(error: OSError) -> tuple[str, str]:
    if isinstance(error, FileNotFoundError):
        return "deleted_after_scan", "listed, then gone before it was read"
    if isinstance(error, NotARegularFile):
        return "invalid_format", "no longer a regular file when it was read"
    return "unreadable", error.strerror or str(error)


def observe(
    root: str,
    plan: ScanPlan,
    previous: PreviousScan | None = None,
    full: bool = False,
    threads: int | None = None,
) -> Observation:
    """Walk and hash ``root`` (resolved) against ``plan``. Touches no database."""
    started_at = utcnow()
    listing = walk(root)
    artifacts: list[Artifact] = []
    to_hash: list[tuple[Listed, EntryRole]] = []
    matched_keys: set[str] = set()
    for item in listing.listed:
        if item.kind == "directory":
            role = plan.literal_role_of(item.relative_path)
            if role is not None:
                matched_keys.add(role.entry.artifact_key)
                artifacts.append(
                    _artifact(
                        role,
                        item.relative_path,
                        reason=("invalid_format", "a directory, not a file"),
                    )
                )
            continue
        role = plan.role_of(item.relative_path)
        if role is None:
            continue
        matched_keys.add(role.entry.artifact_key)
        if item.problem is not None:
            artifacts.append(_artifact(role, item.relative_path, reason=item.problem))
        elif item.kind == "special":
            artifacts.append(
                _artifact(
                    role, item.relative_path, reason=("invalid_format", "a FIFO, socket or device")
                )
            )
        elif not full and previous and (known := previous.unchanged(item)):
            artifacts.append(
                _artifact(
                    role, item.relative_path, (known.content_sha256, item.size, item.mtime_ns)
                )
            )
        else:
            to_hash.append((item, role))
    outcomes = hash_files([item.read_path for item, _ in to_hash], threads)
    for (item, role), outcome in zip(to_hash, outcomes, strict=True):
        if isinstance(outcome, OSError):
            artifacts.append(_artifact(role, item.relative_path, reason=_failure(outcome)))
        else:
            artifacts.append(_artifact(role, item.relative_path, outcome))
    for role in plan.roles:
        if role.required and role.entry.artifact_key not in matched_keys:
            artifacts.append(
                _artifact(role, None, reason=("not_found", "no file matches the pattern"))
            )
    artifacts.sort(key=by_path_then_key)
    return Observation(
        root=root,
        plan=plan,
        artifacts=tuple(artifacts),
        previous=previous,
        hashed_paths=tuple(sorted(item.relative_path for item, _ in to_hash)),
        skipped=tuple(listing.skipped),
        full=full,
        started_at=started_at,
    )


def completeness(plan: ScanPlan, artifacts: tuple[Artifact, ...]) -> str:
    if plan.manifest is None:
        return "unknown"
    return "incomplete" if any(a.blocking and not a.present for a in artifacts) else "complete"


def record(conn: Connection, feature_slug: str, observation: Observation) -> ScanResult:
    """Store an observation as a snapshot, reconcile it and emit its events."""
    artifacts = observation.artifacts
    counts = Counts.of(artifacts)
    snapshot = storage.insert_snapshot(
        conn,
        {
            "feature_slug": check_feature_slug(feature_slug),
            "mission_type": observation.plan.mission_type,
            "manifest_version": observation.plan.manifest_version,
            "step_id": observation.plan.step,
            "root_path": observation.root,
            "artifact_set_id": storage.store_artifact_set(
                conn,
                artifacts,
                observation.previous and observation.previous.set_and_artifacts,
            ),
            "parity_hash": parity_hash(
                (a.relative_path, a.content_sha256) for a in artifacts if a.present
            ),
            "total": counts.total,
            "required_count": counts.required,
            "required_present": counts.required_present,
            "required_missing": counts.required_missing,
            "optional_count": counts.optional,
            "optional_present": counts.optional_present,
            "completeness": completeness(observation.plan, artifacts),
            "full_scan": observation.full,
            "hashed_files": len(observation.hashed_paths),
            "started_at": observation.started_at,
            "computed_at": utcnow(),
        },
    )
    reconciliation = reconcile_snapshot(conn, snapshot, artifacts)
    emission = emit_scan_events(conn, snapshot, artifacts, reconciliation)
    return ScanResult(
        snapshot=snapshot,
        artifacts=artifacts,
        hashed_paths=observation.hashed_paths,
        skipped=observation.skipped,
        reconciliation=reconciliation,
        emission=emission,
    )


def scan_dossier(
    db: Database,
    root: "str | Path",
    feature: str,
    manifest: Manifest | None,
    step: str | None = None,
    full: bool = False,
    *,
    threads: int | None = None,
) -> ScanResult:
    """Scan the mission folder ``root`` for ``feature`` and store the snapshot.

    ``manifest=None`` scans without one: every file is indexed as optional and
    completeness is ``unknown``. Bad input (missing folder, bad slug, unknown step)
    raises before anything is read or written.
    """
    check_feature_slug(feature)
    plan = ScanPlan(manifest, step)
    resolved = resolve_root(root)
    previous = None
    with db.read() as conn:
        last = storage.latest_snapshot(conn, feature, resolved)
        if last is not None:
            stored, _ = storage.load_artifact_set(conn, last.artifact_set_id)
            previous = PreviousScan(last, tuple(stored))
    observation = observe(resolved, plan, previous, full, threads)
    with db.begin() as conn:
        return record(conn, feature, observation)
