import os

import pytest

from procobs_dagster_tests.dossier.helpers import FEATURE, copy_sample, put


@pytest.fixture
def mission(tmp_path):
    return copy_sample(tmp_path / "mission")


def scan(procobs, mission, *extra):
    return procobs.json("dossier", "scan", str(mission), "--feature", FEATURE, *extra)


def test_scan_baseline_and_drift_from_the_command_line(procobs, mission):
    first = scan(procobs, mission, "--step", "review")
    assert first["snapshot"]["completeness"] == "complete"
    assert first["reconciliation"]["verdict"] == "NO_BASELINE"
    assert procobs("dossier", "drift", FEATURE, expect_exit=0)

    captured = procobs.json("dossier", "baseline", "set", FEATURE, "--by", "alice")
    assert captured["snapshot_id"] == first["snapshot"]["snapshot_id"]
    shown = procobs.json("dossier", "baseline", "show", FEATURE)
    assert [(b["manifest_version"], b["captured_by"]) for b in shown] == [("1.0.0", "alice")]
    assert procobs("dossier", "drift", FEATURE, expect_exit=0).stdout.count("PARITY") == 1

    os.remove(mission / "plan.md")
    scan(procobs, mission)
    result = procobs("dossier", "drift", FEATURE, "--json", expect_exit=1)
    assert '"missing_in_local"' in result.stdout and '"plan.md"' in result.stdout
    text = procobs("dossier", "drift", FEATURE, expect_exit=1).stdout
    assert "DIVERGENCE" in text and "plan.md" in text


def test_drift_exits_2_when_it_cannot_answer(procobs):
    result = procobs("dossier", "drift", "never-scanned", expect_exit=2)
    assert "no dossier snapshot for feature 'never-scanned'" in result.stderr


def test_show_lists_the_newest_snapshot(procobs, mission):
    scan(procobs, mission)
    shown = procobs.json("dossier", "show", FEATURE)
    assert len(shown["artifacts"]) == 12
    assert "spec.md" in procobs("dossier", "show", FEATURE).stdout


def test_a_bad_manifest_is_one_line_naming_the_field(procobs, mission, tmp_path):
    manifest = put(
        tmp_path,
        "m.yaml",
        "schema_version: 1\nmission_type: x\nmanifest_version: '1'\n"
        "required_always:\n  - {artifact_key: a, artifact_class: bogus, path_pattern: a.md}\n",
    )
    result = procobs(
        "dossier",
        "scan",
        str(mission),
        "--feature",
        FEATURE,
        "--manifest",
        str(manifest),
        expect_exit=1,
    )
    assert result.stderr.startswith(
        f"procobs: error: manifest {manifest}: required_always[0].artifact_class"
    )
    assert result.stderr.count("\n") == 1


def test_scan_text_output_and_no_manifest(procobs, mission):
    text = procobs("dossier", "scan", str(mission), "--feature", FEATURE, "--no-manifest").stdout
    assert "completeness:  unknown" in text
    full = procobs("dossier", "scan", str(mission), "--feature", FEATURE, "--no-manifest", "--full")
    assert "files hashed:  12" in full.stdout
    again = procobs("dossier", "scan", str(mission), "--feature", FEATURE, "--no-manifest")
    assert "files hashed:  0  (folder unchanged since the last scan: 12 hashes reused)" in (
        again.stdout
    )
    assert scan(procobs, mission, "--no-manifest")["reused"] is True


def test_a_missing_folder_is_an_error(procobs, tmp_path):
    result = procobs("dossier", "scan", str(tmp_path / "nope"), "--feature", FEATURE, expect_exit=1)
    assert "does not exist" in result.stderr
