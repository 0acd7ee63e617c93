import hashlib

import pytest

from procobs_dagster.dossier.hashing import CHUNK_BYTES, hash_files, parity_hash, sha256_file

SPEC = "603c828a03383f98b82bf9c6787deeb5c40c02871a1b8d6ba14b0d538020a02b"  # b"# Spec\n"
SPEC_CHANGED = "9fc525591db082deb330c3ab7c817f3a8bf801b8a55f367acd709ed3cbe386f8"  # b"# Spec!\n"
PLAN = "c3964bb3b70a957ec9b233c7dd3653f6ba17701ab00facf88ae1393dc6155577"  # b"# Plan\n"


def test_content_digests_used_below():
    assert hashlib.sha256(b"# Spec\n").hexdigest() == SPEC
    assert hashlib.sha256(b"# Spec!\n").hexdigest() == SPEC_CHANGED
    assert hashlib.sha256(b"# Plan\n").hexdigest() == PLAN


def test_parity_hash_of_the_empty_set_is_the_hash_of_nothing():
    assert parity_hash([]) == (
        "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )


def test_parity_hash_of_one_file():
    # printf 'spec.md\t<SPEC>\n' | sha256sum
    assert parity_hash([("spec.md", SPEC)]) == (
        "sha256:891b5926bf7ab4785c9c1d083cf6f2e59819fd8879bc064a3aaa4b4c0eb2664c"
    )


def test_parity_hash_does_not_depend_on_order():
    expected = "sha256:8744d708af23d32c8b36dd39fe4ff84626ee9bf5fdf40df5b37b50a65c3412ac"
    assert parity_hash([("spec.md", SPEC), ("plan.md", PLAN)]) == expected
    assert parity_hash([("plan.md", PLAN), ("spec.md", SPEC)]) == expected


def test_one_changed_byte_changes_the_parity_hash():
    assert parity_hash([("spec.md", SPEC_CHANGED), ("plan.md", PLAN)]) == (
        "sha256:56044d86bede5f60b0a1db7af1a18dee4f51d8d1409cc67703dfbe67cc194ca1"
    )


def test_a_file_larger_than_one_chunk_hashes_like_hashlib(tmp_path):
    data = bytes(range(256)) * (CHUNK_BYTES * 5 // 2 // 256 + 7)
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    digest, size, mtime_ns, ctime_ns = sha256_file(str(path))
    assert digest == hashlib.sha256(data).hexdigest()
    st = path.stat()
    assert (size, mtime_ns, ctime_ns) == (len(data), st.st_mtime_ns, st.st_ctime_ns)


@pytest.mark.parametrize("threads", [1, 3])
def test_hash_files_keeps_order_and_reports_each_failure(tmp_path, threads):
    paths = []
    for i in range(70):  # more than two batches, so the pool really splits the work
        path = tmp_path / f"f{i}"
        path.write_bytes(b"%d" % i)
        paths.append(str(path))
    paths[40] = str(tmp_path / "gone")
    outcomes = hash_files(paths, threads=threads)
    assert isinstance(outcomes[40], FileNotFoundError)
    assert outcomes[3][0] == hashlib.sha256(b"3").hexdigest()
    assert outcomes[69][0] == hashlib.sha256(b"69").hexdigest()
