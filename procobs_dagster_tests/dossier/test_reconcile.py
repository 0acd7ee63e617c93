import dataclasses
import datetime as dt
import os

import pytest
import sqlalchemy as sa

from procobs_dagster import dossier
from procobs_dagster.dossier import storage
from procobs_dagster.dossier.reconcile import reconcile_snapshot
from procobs_dagster.ids import uuid7
from procobs_dagster.store.tables import dossier_baseline, dossier_snapshot
from procobs_dagster_tests.dossier.helpers import FEATURE, put, scan


def set_baseline(db, feature=FEATURE):
    with db.begin() as conn:
        return dossier.capture_baseline(conn, feature, "tester")


def test_no_baseline_is_not_drift(db, mission):
    scan(db, mission)
    result = dossier.reconcile(db, FEATURE)
    assert result.verdict == dossier.ParityVerdict.NO_BASELINE and result.verdict.exit_code == 0


def test_an_unchanged_folder_is_at_parity_with_its_baseline(db, mission):
    scan(db, mission)
    set_baseline(db)
    assert scan(db, mission).reconciliation.verdict == dossier.ParityVerdict.PARITY
    assert dossier.reconcile(db, FEATURE).verdict == dossier.ParityVerdict.PARITY


def test_divergence_names_every_path_with_its_kind(db, mission):
    scan(db, mission)
    set_baseline(db)
    put(mission, "plan.md", "# Plan v2\n")
    os.remove(mission / "tasks" / "WP02-atomic-writer.md")
    put(mission, "quickstart.md", "# Quickstart\n")
    result = scan(db, mission).reconciliation
    assert result.verdict == dossier.ParityVerdict.DIVERGENCE and result.verdict.exit_code == 1
    assert [(d.relative_path, d.kind.value) for d in result.divergences] == [
        ("plan.md", "content_mismatch"),
        ("quickstart.md", "missing_in_baseline"),
        ("tasks/WP02-atomic-writer.md", "missing_in_local"),
    ]
    assert result.severity == "error"  # a blocking work package is gone
    assert dossier.reconcile(db, FEATURE) == result


@pytest.mark.parametrize(
    ("change", "severity"),
    [
        (lambda m: put(m, "quickstart.md", "new\n"), "info"),
        (lambda m: put(m, "plan.md", "# Plan v2\n"), "warning"),
        (lambda m: os.remove(m / "data-model.md"), "warning"),
        (lambda m: os.remove(m / "spec.md"), "error"),
    ],
    ids=["only-added", "content-changed", "optional-removed", "blocking-removed"],
)
def test_drift_severity_rule(db, mission, change, severity):
    scan(db, mission)
    set_baseline(db)
    change(mission)
    assert scan(db, mission).reconciliation.severity == severity


def test_a_baseline_of_another_namespace_is_no_baseline(db, mission):
    scan(db, mission)
    set_baseline(db)
    other_version = dossier.default_manifest().model_copy(update={"manifest_version": "2.0.0"})
    os.remove(mission / "plan.md")
    result = scan(db, mission, manifest=other_version).reconciliation
    assert result.verdict == dossier.ParityVerdict.NO_BASELINE
    assert "baselines exist for: software-dev 1.0.0" in result.detail


def test_a_baseline_captured_under_an_edited_manifest_of_the_same_version_is_no_baseline(
    db, mission
):
    scan(db, mission)
    set_baseline(db)
    manifest = dossier.default_manifest()
    edited = manifest.model_copy(update={"optional_always": manifest.optional_always[:-1]})
    os.remove(mission / "plan.md")  # would be drift against a comparable baseline
    result = scan(db, mission, manifest=edited).reconciliation
    assert result.verdict == dossier.ParityVerdict.NO_BASELINE
    assert "captured under other manifest content" in result.detail
    assert dossier.reconcile(db, FEATURE).verdict == dossier.ParityVerdict.NO_BASELINE
    set_baseline(db)  # replaces the baseline of software-dev 1.0.0
    assert scan(db, mission, manifest=edited).reconciliation.verdict == dossier.ParityVerdict.PARITY


def test_the_database_refuses_a_baseline_pointing_at_another_namespace(db, mission):
    snapshot = scan(db, mission).snapshot
    with pytest.raises(sa.exc.IntegrityError), db.begin() as conn:
        conn.execute(
            dossier_baseline.insert(),
            {
                "feature_slug": FEATURE,
                "mission_type": "software-dev",
                "manifest_version": "9.9.9",
                "snapshot_id": snapshot.snapshot_id,
                "captured_at": snapshot.computed_at,
            },
        )


def test_snapshots_are_facts(db, mission):
    scan(db, mission)
    with pytest.raises(sa.exc.DatabaseError, match="append-only"), db.begin() as conn:
        conn.execute(dossier_snapshot.update().values(completeness="incomplete"))


def _forge(db, snapshot, parity_hash):
    """A snapshot row whose stored parity hash lies about its artifact set."""
    forged = dataclasses.replace(
        snapshot,
        snapshot_id=uuid7(),
        parity_hash=parity_hash,
        computed_at=snapshot.computed_at + dt.timedelta(seconds=1),
    )
    with db.begin() as conn:
        conn.execute(dossier_snapshot.insert(), forged.as_row())
    return forged


def test_stored_data_that_contradicts_itself_is_an_error(db, mission):
    first = scan(db, mission).snapshot
    set_baseline(db)
    _forge(db, first, "sha256:" + "0" * 64)
    result = dossier.reconcile(db, FEATURE)
    assert result.verdict == dossier.ParityVerdict.ERROR and result.verdict.exit_code == 2
    assert "stored parity hash does not match" in result.detail


def test_differing_hashes_without_a_differing_path_are_an_error(db, mission):
    first = scan(db, mission).snapshot
    set_baseline(db)
    forged = _forge(db, first, "sha256:" + "0" * 64)
    with db.read() as conn:
        artifacts, _ = storage.load_artifact_set(conn, first.artifact_set_id)
        result = reconcile_snapshot(conn, forged, artifacts)
    assert result.verdict == dossier.ParityVerdict.ERROR
    assert result.detail == "parity hashes differ but no artifact path differs"


def test_reconciling_an_unknown_feature_says_so(db):
    with pytest.raises(dossier.UnknownFeature, match="no dossier snapshot for feature 'nope'"):
        dossier.reconcile(db, "nope")
