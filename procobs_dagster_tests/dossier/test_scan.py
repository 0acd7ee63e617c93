import hashlib
import os

import pytest
import sqlalchemy as sa

from procobs_dagster import dossier, limits
from procobs_dagster.dossier import hashing, storage
from procobs_dagster.dossier.manifest import ScanPlan
from procobs_dagster.dossier.scan import observe, survey
from procobs_dagster.errors import InvalidInput
from procobs_dagster.store.tables import dossier_artifact
from procobs_dagster_tests.dossier.helpers import by_path, put, scan, settle


def observed(root, step="review", manifest="default", **kwargs):
    manifest = dossier.default_manifest() if manifest == "default" else manifest
    result = observe(survey(str(root.resolve()), ScanPlan(manifest, step)), **kwargs)
    return result, {a.relative_path: a for a in result.artifacts}


@pytest.fixture
def opened(monkeypatch):
    """Every path the scan opens to hash."""
    paths = []
    real = hashing.sha256_file

    def spy(path):
        paths.append(path)
        return real(path)

    monkeypatch.setattr(hashing, "sha256_file", spy)
    return paths


def test_the_sample_mission_is_complete_and_hashed_like_sha256sum(mission):
    result, artifacts = observed(mission)
    assert all(a.present for a in result.artifacts)
    on_disk = {
        str(p.relative_to(mission)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in mission.rglob("*")
        if p.is_file()
    }
    assert {path: a.content_sha256 for path, a in artifacts.items()} == on_disk
    assert artifacts["tasks/WP01-streaming-reader.md"].wp_id == "WP01"
    assert artifacts["tasks/WP01-streaming-reader.md"].step_id == "tasks"
    assert artifacts["spec.md"].wp_id is None and artifacts["spec.md"].blocking


def test_dot_folders_are_skipped_dot_files_are_not(mission):
    put(mission, ".git/spec.md", "not the spec")
    put(mission, "contracts/.hidden/api.yaml", "hidden")
    put(mission, "contracts/.keep", "kept")
    _, artifacts = observed(mission)
    assert ".git/spec.md" not in artifacts
    assert "contracts/.hidden/api.yaml" not in artifacts
    assert "contracts/.keep" in artifacts


def test_a_link_out_of_the_root_is_reported_and_never_read(mission, tmp_path, opened):
    secret = put(tmp_path, "outside/secret.md", "do not read")
    put(tmp_path, "outside/dir/api.yaml", "outside contract")
    (mission / "constitution.md").symlink_to(secret)
    (mission / "contracts" / "elsewhere").symlink_to(tmp_path / "outside" / "dir")
    result, artifacts = observed(mission)
    link = artifacts["constitution.md"]
    assert not link.present and link.reason_code == "unreadable"
    assert "outside the mission folder" in link.reason_detail
    assert "contracts/elsewhere/api.yaml" not in artifacts
    assert not any(str(tmp_path / "outside") in p for p in opened)
    assert {s.relative_path for s in result.survey.listing.skipped} == {
        "constitution.md",
        "contracts/elsewhere",
    }


def test_a_link_inside_the_root_is_read_through_its_target(mission):
    (mission / "quickstart.md").symlink_to(mission / "research.md")
    _, artifacts = observed(mission)
    assert artifacts["quickstart.md"].present
    assert artifacts["quickstart.md"].content_sha256 == artifacts["research.md"].content_sha256


def test_a_broken_link_is_unreadable(mission):
    (mission / "quickstart.md").symlink_to(mission / "nowhere.md")
    _, artifacts = observed(mission)
    assert artifacts["quickstart.md"].reason_code == "unreadable"


def test_a_directory_or_fifo_where_a_file_belongs_is_invalid_format(mission):
    os.remove(mission / "plan.md")
    (mission / "plan.md").mkdir()
    os.mkfifo(mission / "quickstart.md")  # opening it for reading would block: never opened
    result, artifacts = observed(mission)
    assert artifacts["plan.md"].reason_code == "invalid_format"
    assert artifacts["quickstart.md"].reason_code == "invalid_format"
    assert result.artifacts and not [a for a in result.artifacts if a.relative_path is None]


def test_a_file_that_vanishes_before_it_is_read_is_deleted_after_scan(mission, monkeypatch):
    real = hashing.sha256_file

    def vanish_first(path):
        if path.endswith("research.md"):
            os.remove(path)
        return real(path)

    monkeypatch.setattr(hashing, "sha256_file", vanish_first)
    _, artifacts = observed(mission)
    assert artifacts["research.md"].reason_code == "deleted_after_scan"
    assert artifacts["spec.md"].present


def refuse_to_read(monkeypatch, suffix: str, error: OSError) -> None:
    """Make the opener raise ``error`` for paths ending in ``suffix``. We run as root, which
    reads mode-000 files, so a refusal is injected here instead."""
    real = hashing.sha256_file

    def refuse(path):
        if path.endswith(suffix):
            raise error
        return real(path)

    monkeypatch.setattr(hashing, "sha256_file", refuse)


def test_an_unreadable_file_is_reported_not_fatal(mission, monkeypatch):
    refuse_to_read(monkeypatch, "plan.md", PermissionError(13, "Permission denied"))
    _, artifacts = observed(mission)
    assert artifacts["plan.md"].reason_code == "unreadable"
    assert artifacts["plan.md"].reason_detail == "Permission denied"
    assert artifacts["tasks.md"].present


def test_required_entries_that_match_nothing_get_a_not_found_placeholder(mission):
    os.remove(mission / "spec.md")
    for wp in (mission / "tasks").iterdir():
        wp.unlink()
    os.remove(mission / "data-model.md")  # optional: no placeholder
    result, _ = observed(mission)
    placeholders = {a.artifact_key: a for a in result.artifacts if a.relative_path is None}
    assert set(placeholders) == {"spec", "work_packages"}
    assert placeholders["spec"].reason_code == "not_found" and placeholders["spec"].blocking
    assert placeholders["work_packages"].path_pattern == "tasks/WP*.md"


def test_entries_of_steps_not_reached_are_optional_and_have_no_placeholder(mission):
    os.remove(mission / "review.md")
    result, artifacts = observed(mission, step="tasks")
    assert artifacts["tasks.md"].required_status == "required"
    assert artifacts["evidence/test-report.txt"].required_status == "optional"
    assert not artifacts["evidence/test-report.txt"].blocking
    assert not [a for a in result.artifacts if a.relative_path is None]


def test_without_a_manifest_every_file_is_an_optional_artifact(mission):
    put(mission, "src/main.py", "print()\n")
    result, artifacts = observed(mission, step=None, manifest=None)
    assert artifacts["src/main.py"].artifact_key == "unmanifested"
    assert all(a.required_status == "optional" and a.present for a in result.artifacts)


def test_the_scan_is_stored_and_reads_back(db, mission):
    result = scan(db, mission)
    snapshot = result.snapshot
    assert snapshot.completeness == "complete"
    assert (snapshot.required_count, snapshot.required_present, snapshot.optional_count) == (
        10,
        10,
        2,
    )
    assert snapshot.parity_hash == dossier.parity_hash(
        (a.relative_path, a.content_sha256) for a in result.artifacts
    )
    with db.read() as conn:
        assert storage.latest_snapshot(conn, "042-kg-export") == snapshot
        stored, count = storage.load_artifact_set(conn, snapshot.artifact_set_id)
    assert tuple(stored) == result.artifacts and count == 12


def test_problem_files_and_odd_names_are_stored_on_both_databases(db, mission, tmp_path):
    os.remove(mission / "spec.md")
    os.mkfifo(mission / "quickstart.md")
    (mission / "constitution.md").symlink_to(put(tmp_path, "secret.md"))
    os.close(
        os.open(os.fsencode(mission / "contracts") + b"/caf\xe9.yaml", os.O_CREAT | os.O_WRONLY)
    )
    put(mission, "contracts/ünïcode api.yaml", "ok")
    result = scan(db, mission)
    artifacts = by_path(result)
    assert result.snapshot.completeness == "incomplete"  # spec is blocking
    assert artifacts["contracts/caf\\xe9.yaml"].reason_code == "invalid_format"
    assert artifacts["contracts/ünïcode api.yaml"].present
    with db.read() as conn:
        stored, _ = storage.load_artifact_set(conn, result.snapshot.artifact_set_id)
    assert tuple(stored) == result.artifacts


def test_a_missing_non_blocking_required_artifact_leaves_the_snapshot_complete(db, mission):
    os.remove(mission / "meta.json")
    snapshot = scan(db, mission).snapshot
    assert snapshot.required_missing == 1 and snapshot.completeness == "complete"


@pytest.fixture
def rows_read(monkeypatch):
    """The artifact sets whose rows are loaded from the database."""
    set_ids = []
    real = storage.load_artifact_set

    def spy(conn, artifact_set_id):
        set_ids.append(artifact_set_id)
        return real(conn, artifact_set_id)

    monkeypatch.setattr(storage, "load_artifact_set", spy)
    return set_ids


def artifact_rows(db) -> int:
    with db.read() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(dossier_artifact)).scalar_one()


def test_an_unchanged_rescan_reads_no_file_and_no_artifact_row(db, mission, opened, rows_read):
    first = scan(db, mission)
    assert len(opened) == 12 and not first.reused
    rows_before, rows_read[:] = artifact_rows(db), []
    second = scan(db, mission)
    assert second.reused and second.hashed_paths == ()
    assert len(opened) == 12  # no file opened
    assert rows_read == []  # no artifact row loaded
    assert artifact_rows(db) == rows_before  # none written
    assert second.snapshot.snapshot_id != first.snapshot.snapshot_id
    assert second.snapshot.artifact_set_id == first.snapshot.artifact_set_id
    assert second.snapshot.counts == first.snapshot.counts
    assert second.snapshot.scan_fingerprint == first.snapshot.scan_fingerprint
    assert (second.snapshot.parity_hash, second.snapshot.completeness) == (
        first.snapshot.parity_hash,
        first.snapshot.completeness,
    )
    assert second.missing == []  # from the counts, still without reading rows
    assert rows_read == []
    assert second.artifacts == first.artifacts  # read when asked for
    assert scan(db, mission).reused  # and again, from a reused snapshot


def _new_mtime(root):
    put(root, "plan.md", "# Plan, revised\n", age=1800)
    return {}


def _chmod(root):
    os.chmod(root / "plan.md", 0o600)
    return {}


def _new_file(root):
    put(root, "quickstart.md", "# Quickstart\n")
    return {}


def _new_unmatched_file(root):
    put(root, "scratch/notes.txt", "every listed path counts\n")
    return {}


def _deleted_file(root):
    os.remove(root / "data-model.md")
    return {}


def _edited_manifest(root):
    manifest = dossier.default_manifest()
    edited = manifest.model_copy(update={"optional_always": manifest.optional_always[:-1]})
    assert edited.manifest_version == manifest.manifest_version
    return {"manifest": edited}


def _other_step(root):
    return {"step": "tasks"}


@pytest.mark.parametrize(
    "change",
    [
        _new_mtime,
        _chmod,
        _new_file,
        _new_unmatched_file,
        _deleted_file,
        _edited_manifest,
        _other_step,
    ],
    ids=lambda f: f.__name__.lstrip("_"),
)
def test_a_rescan_after_a_change_reads_again_and_matches_a_full_scan(db, mission, change):
    scan(db, mission)
    settings = change(mission)
    rescan = scan(db, mission, **settings)
    assert not rescan.reused
    full = scan(db, mission, full=True, **settings)
    assert not full.reused and full.snapshot.full_scan
    assert rescan.artifacts == full.artifacts
    assert rescan.snapshot.parity_hash == full.snapshot.parity_hash


def test_a_rewrite_with_its_mtime_put_back_is_noticed_by_its_ctime(db, mission):
    first = by_path(scan(db, mission))["plan.md"]
    before = (mission / "plan.md").stat()
    (mission / "plan.md").write_bytes(b"X" + (mission / "plan.md").read_bytes()[1:])
    os.utime(mission / "plan.md", ns=(before.st_atime_ns, before.st_mtime_ns))
    after = (mission / "plan.md").stat()
    assert (after.st_size, after.st_mtime_ns) == (first.size_bytes, first.mtime_ns)
    assert after.st_ctime_ns != first.ctime_ns
    result = scan(db, mission)
    assert not result.reused and result.hashed_paths == ("plan.md",)
    assert by_path(result)["plan.md"].content_sha256 != first.content_sha256


def test_a_scan_that_could_not_read_a_file_keeps_no_fingerprint(db, mission, monkeypatch):
    refuse_to_read(monkeypatch, "plan.md", OSError(5, "Input/output error"))
    failed = scan(db, mission)
    assert by_path(failed)["plan.md"].reason_code == "unreadable"
    assert failed.snapshot.scan_fingerprint is None
    monkeypatch.undo()
    retried = scan(db, mission)
    assert not retried.reused and retried.hashed_paths == ("plan.md",)
    assert by_path(retried)["plan.md"].present and retried.snapshot.scan_fingerprint
    assert scan(db, mission).reused


def test_a_rescan_rehashes_only_changed_files(db, mission, opened):
    scan(db, mission)
    put(mission, "plan.md", "# Plan, revised\n", age=1800)
    put(mission, "quickstart.md", "# Quickstart\n")
    result = scan(db, mission)
    assert result.hashed_paths == ("plan.md", "quickstart.md")
    assert (
        by_path(result)["plan.md"].content_sha256
        == hashlib.sha256(b"# Plan, revised\n").hexdigest()
    )


def test_full_rehashes_everything(db, mission):
    scan(db, mission)
    result = scan(db, mission, full=True)
    assert len(result.hashed_paths) == 12 and result.snapshot.full_scan
    assert not result.reused


def test_a_file_written_within_the_racy_window_is_hashed_again(db, mission):
    settle(mission / "plan.md", age=0)
    scan(db, mission)
    result = scan(db, mission)
    assert result.hashed_paths == ("plan.md",) and not result.reused


def test_another_folder_of_the_same_feature_is_hashed_afresh(db, mission, tmp_path):
    scan(db, mission)
    other = tmp_path / "checkout2"
    os.rename(mission, other)
    assert len(scan(db, other).hashed_paths) == 12


def test_bad_input_writes_nothing(db, tmp_path):
    with pytest.raises(dossier.InvalidMissionFolder, match="does not exist"):
        scan(db, tmp_path / "nope")
    with pytest.raises(dossier.UnknownStep):
        scan(db, tmp_path, step="deploy")
    with pytest.raises(InvalidInput, match="invalid feature slug"):
        scan(db, tmp_path, feature="no spaces")
    with db.read() as conn:
        assert storage.latest_snapshot(conn, "042-kg-export") is None


def _folder_of_length(base, length: int, char: str) -> str:
    """A folder whose absolute path is ``length`` characters, made of ``char`` below base."""
    path = str(base.resolve())
    while len(path) < length:
        path += "/" + char * min(60, length - len(path) - 1)  # 60 wide characters: 240 bytes
    os.makedirs(path)
    return path


def test_a_root_path_is_held_to_its_limit_alike_on_both_databases(db, tmp_path):
    # It shares an index entry with the feature slug: 640 4-byte characters beside a
    # 200-character slug passed PostgreSQL's 2 704 bytes ("database error", exit 3) while
    # SQLite stored them.
    slug = "f" * 200
    widest = _folder_of_length(tmp_path / "a", limits.MAX_ROOT_PATH_LENGTH, "\U00020000")
    scan(db, widest, feature=slug, manifest=None, step=None)
    too_long = _folder_of_length(tmp_path / "b", limits.MAX_ROOT_PATH_LENGTH + 1, "\U00020000")
    with pytest.raises(InvalidInput, match="over the limit of 500"):
        scan(db, too_long, feature=slug, manifest=None, step=None)
    with db.read() as conn:
        assert storage.latest_snapshot(conn, slug).root_path == widest
