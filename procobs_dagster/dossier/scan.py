"""Scanning a mission folder into a stored snapshot.

``scan_dossier`` runs in phases so that no database lock is held while files are read:
(1) a read transaction fetches the previous snapshot of the same feature and root folder
(one row); (2) the folder is listed — nothing read — and the listing fingerprinted
(``survey``); (3) unless the folder is unchanged (below), the previous snapshot's
artifacts are loaded and the matched files read and hashed (``observe``), with no
transaction open; (4) one write transaction stores the snapshot (and its artifact set,
unless an identical one exists), reconciles it with its baseline and emits the events
(``record``). ``survey``, ``observe`` and ``record`` serve callers that own their
transaction.

Unchanged folder: when the survey's fingerprint (fingerprint.py: the manifest digest, the
step, and every listed path with its size, mtime, ctime, mode and inode) equals the
previous snapshot's and no listed file is racy, the incremental rule below would keep
every stored hash and give the very same rows. So nothing is read and no artifact row is
loaded or written: the new snapshot points at the previous one's artifact set and copies
its parity hash, counts and completeness. The events are those of any scan: the counts
say what is due, and the set's rows are read only when a per-artifact event type is
active or a drift must name its paths. ``full`` never takes this path. A scan that could
not read a file stores no fingerprint, so the next scan reads again.

Incremental rule: a file whose size, mtime_ns and ctime_ns equal those stored for its
path in the previous snapshot keeps its stored sha256 and is not read — unless ``full``
is asked for, or the file is *racy*: its mtime falls within RACY_WINDOW of the previous
scan's start, so it could have changed again within the same timestamp tick after being
hashed (the case git's index calls "racily clean"). ctime catches a chmod and a rewrite
whose mtime was put back (restoring an mtime moves ctime).

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
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Connection

from procobs_dagster import limits
from procobs_dagster.clock import utcnow
from procobs_dagster.dossier import storage
from procobs_dagster.dossier.emission import EmissionReport, emit_scan_events
from procobs_dagster.dossier.fingerprint import scan_fingerprint
from procobs_dagster.dossier.hashing import NotARegularFile, hash_files, parity_hash
from procobs_dagster.dossier.manifest import EntryRole, Manifest, ScanPlan
from procobs_dagster.dossier.reconcile import Reconciliation, reconcile_with
from procobs_dagster.dossier.records import Artifact, Counts, Snapshot, by_path_then_key
from procobs_dagster.dossier.walk import Listed, Listing, Skipped, walk
from procobs_dagster.errors import InvalidInput
from procobs_dagster.store.engine import Database

RACY_WINDOW = dt.timedelta(seconds=2)
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
FEATURE_SLUG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
WP_ID = re.compile(r"(?:^|/)(WP\d+)(?![0-9A-Za-z])")
# The snapshot columns that describe its artifact set: an unchanged rescan copies them.
SET_COLUMNS = (
    "artifact_set_id",
    "parity_hash",
    "total",
    "required_count",
    "required_present",
    "required_missing",
    "optional_count",
    "optional_present",
    "completeness",
)


class InvalidMissionFolder(InvalidInput):
    pass


def racy_from_ns(snapshot: Snapshot) -> int:
    """Files with an mtime_ns from here on may have changed after ``snapshot`` read them."""
    start = snapshot.started_at - RACY_WINDOW
    return (start - EPOCH) // dt.timedelta(microseconds=1) * 1000


@dataclasses.dataclass(frozen=True)
class Survey:
    """A folder as listed at the start of a scan, before any file is read."""

    root: str
    plan: ScanPlan
    listing: Listing
    fingerprint: str
    started_at: dt.datetime

    def unchanged_since(self, snapshot: Snapshot | None) -> bool:
        """Whether ``snapshot`` saw exactly this listing and no listed file is racy."""
        if snapshot is None or snapshot.scan_fingerprint != self.fingerprint:
            return False
        racy_from = racy_from_ns(snapshot)
        return not any(
            item.mtime_ns is not None and item.mtime_ns >= racy_from for item in self.listing.listed
        )


def survey(root: str, plan: ScanPlan) -> Survey:
    """List ``root`` (resolved) and fingerprint the listing. Reads no file."""
    started_at = utcnow()
    listing = walk(root)
    return Survey(root, plan, listing, scan_fingerprint(plan, listing), started_at)


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
        return racy_from_ns(self.snapshot)

    def unchanged(self, item: Listed) -> Artifact | None:
        """The stored artifact of ``item`` if size, mtime and ctime say it did not change."""
        known = self.present.get(item.relative_path)
        if (
            known is None
            or known.size_bytes != item.size
            or known.mtime_ns != item.mtime_ns
            or known.ctime_ns != item.ctime_ns
        ):
            return None
        return known if item.mtime_ns < self.racy_from_ns else None


@dataclasses.dataclass(frozen=True)
class Observation:
    """A folder as one scan saw it, before anything is stored.

    Either ``artifacts`` (the folder was read) or ``reused`` (it is unchanged since that
    snapshot, whose artifact set stands for it) is set, never both."""

    survey: Survey
    artifacts: tuple[Artifact, ...] | None
    hashed_paths: tuple[str, ...]
    full: bool
    previous: PreviousScan | None = None
    reused: Snapshot | None = None
    read_failed: bool = False  # a matched file could not be read: no fingerprint is kept

    @classmethod
    def unchanged(cls, survey: Survey, snapshot: Snapshot) -> "Observation":
        return cls(survey, None, (), full=False, reused=snapshot)

    @property
    def fingerprint(self) -> str | None:
        return None if self.read_failed else self.survey.fingerprint


class ArtifactRows:
    """A snapshot's artifacts: the ones a scan just computed, or those of a stored set,
    read once, when first needed."""

    def __init__(self, artifact_set_id: uuid.UUID, rows: tuple[Artifact, ...] | None = None):
        self.artifact_set_id = artifact_set_id
        self._rows = rows

    def read(self, conn: Connection) -> tuple[Artifact, ...]:
        if self._rows is None:
            rows, _ = storage.load_artifact_set(conn, self.artifact_set_id)
            self._rows = tuple(rows)
        return self._rows

    def read_from(self, db: Database) -> tuple[Artifact, ...]:
        if self._rows is None:
            with db.read() as conn:
                return self.read(conn)
        return self._rows


@dataclasses.dataclass(frozen=True)
class ScanResult:
    snapshot: Snapshot
    hashed_paths: tuple[str, ...]  # files read this time (the others kept their stored hash)
    skipped: tuple[Skipped, ...]  # links not followed, directories not listed
    reconciliation: Reconciliation
    emission: EmissionReport
    reused: bool  # the folder was unchanged: nothing read, the previous artifact set reused
    load_artifacts: Callable[[], Sequence[Artifact]] = dataclasses.field(repr=False, compare=False)

    @functools.cached_property
    def artifacts(self) -> tuple[Artifact, ...]:
        """The snapshot's artifacts, sorted by path then key. After an unchanged rescan
        they are read from the database when first asked for."""
        return tuple(self.load_artifacts())

    @property
    def missing(self) -> list[Artifact]:
        snapshot = self.snapshot
        if snapshot.total == snapshot.required_present + snapshot.optional_present:
            return []  # the counts say so: no rows need reading
        return [a for a in self.artifacts if not a.present]

    def as_dict(self) -> dict[str, Any]:
        return {
            "snapshot": self.snapshot.as_dict(),
            "artifacts": [a.as_dict() for a in self.artifacts],
            "hashed_paths": list(self.hashed_paths),
            "reused": self.reused,
            "skipped": [s.as_dict() for s in self.skipped],
            "reconciliation": self.reconciliation.as_dict(),
            "events": self.emission.as_dict(),
        }


def resolve_root(root: "str | Path") -> str:
    path = Path(root)
    if "\x00" in str(path):  # no folder has one; os calls raise a bare ValueError
        raise InvalidMissionFolder(
            f"mission folder path contains a NUL character: {limits.shown(str(path))}"
        )
    try:
        resolved = path.resolve(strict=True)
    except (OSError, RuntimeError):
        raise InvalidMissionFolder(
            f"mission folder {limits.shown(str(path))} does not exist"
        ) from None
    if not resolved.is_dir():
        raise InvalidMissionFolder(f"mission folder {limits.shown(str(path))} is not a directory")
    return limits.check_text(str(resolved), "mission folder path", limits.MAX_ROOT_PATH_LENGTH)


def check_feature_slug(feature_slug: str) -> str:
    limits.check_identifier(feature_slug, "feature slug")
    if not FEATURE_SLUG.match(feature_slug):
        raise InvalidInput(
            f"invalid feature slug {limits.shown(feature_slug)}: use letters, digits, '.', '_'"
            " and '-'"
        )
    return feature_slug


def _artifact(
    role: EntryRole,
    relative_path: str | None,
    facts: tuple[str | None, int | None, int | None, int | None] = (None, None, None, None),
    reason: tuple[str, str] | None = None,
) -> Artifact:
    """An artifact row: present when ``facts`` (sha256, size, mtime_ns, ctime_ns) are given,
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
    survey: Survey,
    previous: PreviousScan | None = None,
    full: bool = False,
    threads: int | None = None,
) -> Observation:
    """Index the surveyed folder against its plan, reading the files that need it (all of
    them when ``full``, else those the incremental rule cannot vouch for). Touches no
    database."""
    plan = survey.plan
    artifacts: list[Artifact] = []
    to_hash: list[tuple[Listed, EntryRole]] = []
    matched_keys: set[str] = set()
    for item in survey.listing.listed:
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
                    role,
                    item.relative_path,
                    (known.content_sha256, item.size, item.mtime_ns, item.ctime_ns),
                )
            )
        else:
            to_hash.append((item, role))
    outcomes = hash_files([item.read_path for item, _ in to_hash], threads)
    read_failed = False
    for (item, role), outcome in zip(to_hash, outcomes, strict=True):
        if isinstance(outcome, OSError):
            read_failed = True
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
        survey=survey,
        artifacts=tuple(artifacts),
        hashed_paths=tuple(sorted(item.relative_path for item, _ in to_hash)),
        full=full,
        previous=previous,
        read_failed=read_failed,
    )


def completeness(plan: ScanPlan, artifacts: tuple[Artifact, ...]) -> str:
    if plan.manifest is None:
        return "unknown"
    return "incomplete" if any(a.blocking and not a.present for a in artifacts) else "complete"


def _set_columns(conn: Connection, observation: Observation) -> tuple[dict[str, Any], ArtifactRows]:
    """The snapshot's SET_COLUMNS and its artifacts: for a folder that was read, the set
    is stored now (or found already stored); for an unchanged one, the reused snapshot's
    columns are copied and its rows left unread."""
    if observation.reused is not None:
        columns = {name: getattr(observation.reused, name) for name in SET_COLUMNS}
        return columns, ArtifactRows(observation.reused.artifact_set_id)
    artifacts = observation.artifacts
    counts = Counts.of(artifacts)
    columns = {
        "artifact_set_id": storage.store_artifact_set(
            conn, artifacts, observation.previous and observation.previous.set_and_artifacts
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
        "completeness": completeness(observation.survey.plan, artifacts),
    }
    return columns, ArtifactRows(columns["artifact_set_id"], artifacts)


def record(
    conn: Connection, feature_slug: str, observation: Observation, *, db: Database | None = None
) -> ScanResult:
    """Store an observation as a snapshot, reconcile it and emit its events.

    After an unchanged observation, ``ScanResult.artifacts`` reads the reused set's rows
    when first asked for (unless reconciling or emitting already did): through ``db`` when
    given, else through ``conn`` — then before this transaction ends.
    """
    survey = observation.survey
    plan = survey.plan
    set_columns, rows = _set_columns(conn, observation)
    snapshot = storage.insert_snapshot(
        conn,
        {
            "feature_slug": check_feature_slug(feature_slug),
            "mission_type": plan.mission_type,
            "manifest_version": plan.manifest_version,
            "manifest_digest": plan.manifest_digest,
            "step_id": plan.step,
            "root_path": survey.root,
            "scan_fingerprint": observation.fingerprint,
            **set_columns,
            "full_scan": observation.full,
            "hashed_files": len(observation.hashed_paths),
            "started_at": survey.started_at,
            "computed_at": utcnow(),
        },
    )
    artifacts = functools.partial(rows.read, conn)
    reconciliation = reconcile_with(conn, snapshot, artifacts)
    emission = emit_scan_events(conn, snapshot, artifacts, reconciliation)
    return ScanResult(
        snapshot=snapshot,
        hashed_paths=observation.hashed_paths,
        skipped=tuple(survey.listing.skipped),
        reconciliation=reconciliation,
        emission=emission,
        reused=observation.reused is not None,
        load_artifacts=functools.partial(rows.read_from, db) if db else artifacts,
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
    raises before anything is read or written. An unchanged folder reads no file and no
    artifact row (see the module docstring); ``full`` reads every file.
    """
    check_feature_slug(feature)
    plan = ScanPlan(manifest, step)  # an unknown step is refused before the folder is touched
    resolved = resolve_root(root)
    with db.read() as conn:
        last = storage.latest_snapshot(conn, feature, resolved)
    surveyed = survey(resolved, plan)
    if not full and surveyed.unchanged_since(last):
        observation = Observation.unchanged(surveyed, last)
    else:
        previous = None
        if last is not None:
            with db.read() as conn:
                stored, _ = storage.load_artifact_set(conn, last.artifact_set_id)
            previous = PreviousScan(last, tuple(stored))
        observation = observe(surveyed, previous, full, threads)
    with db.begin() as conn:
        return record(conn, feature, observation, db=db)
