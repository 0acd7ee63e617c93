"""Retention of dossier snapshots: the newest N per feature, baselines, each folder's
newest and every artifact set still referred to stay."""

import hashlib

import pytest
import sqlalchemy as sa

from procobs_dagster.dossier import storage
from procobs_dagster.dossier.records import Artifact
from procobs_dagster.maintenance import TablePolicy, prune_dossier_snapshots
from procobs_dagster.store.tables import dossier_artifact, dossier_artifact_set, dossier_snapshot
from procobs_dagster_tests.maintenance.table_helpers import DAY, T0, count, rows


def _artifacts(content: str) -> list[Artifact]:
    return [
        Artifact(
            artifact_key="plan",
            artifact_class="input",
            relative_path=f"{content}.md",
            path_pattern="*.md",
            content_sha256=hashlib.sha256(content.encode()).hexdigest(),
            size_bytes=1,
            mtime_ns=1,
            ctime_ns=1,
            wp_id=None,
            step_id=None,
            required_status="optional",
            blocking=False,
            present=True,
            reason_code=None,
            reason_detail=None,
        )
    ]


def _scan(db, feature: str, day: int, content: str = "same", root: str = "/root"):
    """A snapshot of ``feature`` computed ``day`` days after T0, finding ``content``."""
    with db.begin() as conn:
        set_id = storage.store_artifact_set(conn, _artifacts(content))
        at = T0 + day * DAY
        return storage.insert_snapshot(
            conn,
            {
                "feature_slug": feature,
                "mission_type": "(none)",
                "manifest_version": "1",
                "manifest_digest": None,
                "step_id": None,
                "root_path": root,
                "scan_fingerprint": None,
                "artifact_set_id": set_id,
                "parity_hash": "sha256:" + "0" * 64,
                "total": 1,
                "required_count": 0,
                "required_present": 0,
                "required_missing": 0,
                "optional_count": 1,
                "optional_present": 1,
                "completeness": "complete",
                "full_scan": True,
                "hashed_files": 1,
                "started_at": at,
                "computed_at": at,
            },
        )


def _snapshots(db) -> dict:
    with db.read() as conn:
        return {
            row.snapshot_id: row.computed_at
            for row in conn.execute(
                sa.select(dossier_snapshot.c.snapshot_id, dossier_snapshot.c.computed_at)
            )
        }


KEEP_2 = TablePolicy(snapshots_per_feature=2)


def test_the_newest_n_per_feature_stay(db):
    first = [_scan(db, "alpha", day) for day in range(5)]
    other = [_scan(db, "beta", day) for day in range(2)]
    report = prune_dossier_snapshots(db, KEEP_2, batch=3)
    assert report.deleted["dossier_snapshot"] == 3
    assert set(_snapshots(db)) == {s.snapshot_id for s in first[3:] + other}
    # One set shared by every snapshot: still referred to, so it stays.
    assert report.deleted["dossier_artifact_set"] == 0
    assert count(db, dossier_artifact_set) == 1
    with db.read() as conn:
        assert storage.latest_snapshot(conn, "alpha").snapshot_id == first[-1].snapshot_id


def test_sets_no_snapshot_refers_to_go_with_their_artifacts(db):
    for day in range(4):
        _scan(db, "alpha", day, content=f"v{day}")
    _scan(db, "alpha", 9, content="v0")  # the newest finds what the first found
    report = prune_dossier_snapshots(db, KEEP_2)
    assert report.deleted == {
        "dossier_snapshot": 3,
        "dossier_artifact_set": 2,  # v1, v2; v0 is the newest's set too
        "dossier_artifact": 2,
    }
    with db.read() as conn:
        left = set(conn.execute(sa.select(dossier_artifact.c.relative_path)).scalars())
    assert left == {"v0.md", "v3.md"}


def test_a_baseline_stays_whatever_its_age(db):
    base = _scan(db, "alpha", 0)
    newer = [_scan(db, "alpha", day) for day in range(1, 5)]
    with db.begin() as conn:
        storage.set_baseline(conn, base, "owner")
    prune_dossier_snapshots(db, KEEP_2)
    assert set(_snapshots(db)) == {base.snapshot_id, *(s.snapshot_id for s in newer[-2:])}


def test_each_folders_newest_snapshot_stays(db):
    """A rescan of a folder reuses its newest snapshot; another folder's newer scans do not
    supersede it."""
    lone = _scan(db, "alpha", 0, root="/elsewhere")
    main = [_scan(db, "alpha", day) for day in range(1, 5)]
    prune_dossier_snapshots(db, KEEP_2)
    assert set(_snapshots(db)) == {lone.snapshot_id, *(s.snapshot_id for s in main[-2:])}


def test_dry_run_counts_and_writes_nothing(db):
    for day in range(5):
        _scan(db, "alpha", day, content=f"v{day}")
    before = rows(db)
    dry = prune_dossier_snapshots(db, KEEP_2, batch=2, dry_run=True)
    assert rows(db) == before
    real = prune_dossier_snapshots(db, KEEP_2, batch=2)
    assert (
        dry.deleted
        == real.deleted
        == {
            "dossier_snapshot": 3,
            "dossier_artifact_set": 3,
            "dossier_artifact": 3,
        }
    )


def test_dry_run_counts_a_set_shared_across_batches_once(db):
    for day, content in enumerate(["v0", "v1", "v0", "v2", "v1", "v0", "v3", "v4"]):
        _scan(db, "alpha", day, content=content)
    before = rows(db)
    dry = prune_dossier_snapshots(db, KEEP_2, batch=2, dry_run=True)
    assert rows(db) == before
    real = prune_dossier_snapshots(db, KEEP_2, batch=2)
    assert (
        dry.deleted
        == real.deleted
        == {
            "dossier_snapshot": 6,
            "dossier_artifact_set": 3,  # v0, v1, v2
            "dossier_artifact": 3,
        }
    )


def test_a_failure_after_a_batch_keeps_that_batch_and_a_rerun_finishes(db):
    scans = [_scan(db, "alpha", day, content=f"v{day}") for day in range(6)]

    def fail(progress) -> None:
        raise RuntimeError("injected")

    with pytest.raises(RuntimeError, match="injected"):
        prune_dossier_snapshots(db, KEEP_2, batch=2, progress=fail)
    assert set(_snapshots(db)) == {s.snapshot_id for s in scans[2:]}
    assert count(db, dossier_artifact_set) == 4
    assert prune_dossier_snapshots(db, KEEP_2, batch=2).deleted["dossier_snapshot"] == 2
    assert set(_snapshots(db)) == {s.snapshot_id for s in scans[4:]}
    assert count(db, dossier_artifact_set) == count(db, dossier_artifact) == 2


def test_a_set_a_scan_is_reusing_is_skipped(postgres_db):
    """A scan holds the set it reuses FOR KEY SHARE until its snapshot is written."""
    db = postgres_db
    for day in range(3):
        _scan(db, "alpha", day, content=f"v{day}")
    with db.begin() as scan:
        reused = storage.store_artifact_set(scan, _artifacts("v0"))
        report = prune_dossier_snapshots(
            db, TablePolicy(snapshots_per_feature=1), statement_timeout_seconds=5
        )
        assert report.deleted["dossier_snapshot"] == 2
        assert report.deleted["dossier_artifact_set"] == 1  # v1 went; v0 is held
    with db.read() as conn:
        ids = set(conn.execute(sa.select(dossier_artifact_set.c.artifact_set_id)).scalars())
    assert reused in ids and len(ids) == 2
