"""Content hashes of artifacts and the parity hash of a snapshot.

Parity hash (the definition other systems recompute, so it is exact):

    lines  = ["{relative_path}\\t{sha256_hex}" for every PRESENT artifact]
    sorted by their UTF-8 bytes (the same order as Python's code-point order)
    data   = "".join(line + "\\n" for line in lines).encode("utf-8")
    parity = "sha256:" + sha256(data).hexdigest()

``relative_path`` uses "/" separators and is relative to the scanned root; the digest is
64 lowercase hex characters. Every line, the last included, ends with one "\\n"; an empty
set hashes the empty string. Paths never hold a tab or a newline (the walk refuses them).

File hashing streams each file through hashlib in 1 MiB ``readinto`` chunks (no
per-chunk allocation) on a few threads: hashlib and file reads release the GIL, so the
threads overlap I/O and hashing.
"""

import hashlib
import io
import os
import stat
import threading
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor

CHUNK_BYTES = 1 << 20
# Files per task handed to the pool: large enough that scheduling costs nothing next to
# hashing, small enough that a few huge files still spread over the threads.
BATCH_FILES = 32
MAX_THREADS = 4
OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK

_buffers = threading.local()


def parity_hash(pairs: Iterable[tuple[str, str]]) -> str:
    """The parity hash of (relative_path, sha256_hex) pairs of present artifacts."""
    lines = sorted(f"{path}\t{digest}\n" for path, digest in pairs)
    return "sha256:" + hashlib.sha256("".join(lines).encode("utf-8")).hexdigest()


class NotARegularFile(OSError):
    pass


def sha256_file(path: str) -> tuple[str, int, int, int]:
    """(sha256 hex, bytes read, mtime_ns, ctime_ns) of the regular file at ``path``; the
    times are those of the file as opened, before its bytes were read.

    Opened with O_NOFOLLOW (a file swapped for a link after listing is not followed) and
    O_NONBLOCK (a FIFO swapped in cannot hang the scan); anything but a regular file
    raises NotARegularFile.
    """
    buffer = getattr(_buffers, "view", None)
    if buffer is None:
        buffer = _buffers.view = memoryview(bytearray(CHUNK_BYTES))
    fd = os.open(path, OPEN_FLAGS)
    with io.FileIO(fd, closefd=True) as stream:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise NotARegularFile(f"{path} is not a regular file")
        if hasattr(os, "posix_fadvise"):
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_SEQUENTIAL)
        digest = hashlib.sha256()
        size = 0
        while n := stream.readinto(buffer):
            digest.update(buffer[:n])
            size += n
    return digest.hexdigest(), size, st.st_mtime_ns, st.st_ctime_ns


HashOutcome = tuple[str, int, int, int] | OSError


def _hash_batch(paths: Sequence[str]) -> list[HashOutcome]:
    outcomes: list[HashOutcome] = []
    for path in paths:
        try:
            outcomes.append(sha256_file(path))
        except OSError as exc:
            outcomes.append(exc)
    return outcomes


def hash_files(paths: Sequence[str], threads: int | None = None) -> list[HashOutcome]:
    """Hash many files; each outcome is (sha256, size, mtime_ns, ctime_ns) or the OSError met."""
    threads = threads or min(MAX_THREADS, os.cpu_count() or 1)
    batches = [paths[i : i + BATCH_FILES] for i in range(0, len(paths), BATCH_FILES)]
    if threads == 1 or len(batches) <= 1:
        return [outcome for batch in batches for outcome in _hash_batch(batch)]
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="dossier-hash") as pool:
        return [outcome for outcomes in pool.map(_hash_batch, batches) for outcome in outcomes]
