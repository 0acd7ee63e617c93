"""Listing a mission folder without leaving it.

The walk never reads a file; it lists what is there, with the ``stat`` facts the
incremental scan compares and the scan fingerprint covers (size, mtime, ctime, mode,
inode). Rules:

- directories whose name starts with a dot are skipped (``.git``, ``.kittify``, …);
- a symbolic link is never followed out of the root: a link whose target lies outside
  (or does not exist) is reported and its target is never opened; a link to a file inside
  the root is read through its resolved target; a link to a directory is not descended
  (its target, when inside the root, is listed where it lives — no cycles, no doubles);
- names that cannot be a dossier path (not valid UTF-8, or holding a tab or a newline,
  which the parity-hash line format reserves) are reported, never hashed.
"""

import dataclasses
import os
import stat
from typing import Literal, NamedTuple

FileKind = Literal["file", "directory", "special"]


class Listed(NamedTuple):
    """One path under the root, as the walk saw it."""

    relative_path: str
    kind: FileKind
    read_path: str  # where its bytes are (the target, for a link inside the root)
    size: int | None = None
    mtime_ns: int | None = None
    ctime_ns: int | None = None  # changes with a chmod, or a rewrite whose mtime was restored
    mode: int | None = None
    ino: int | None = None
    # (reason_code, detail) when the path cannot be indexed whatever its content.
    problem: tuple[str, str] | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class Skipped:
    """A path the walk did not follow or could not list, and why."""

    relative_path: str
    reason: str

    def as_dict(self) -> dict[str, str]:
        return {"relative_path": self.relative_path, "reason": self.reason}


@dataclasses.dataclass
class Listing:
    listed: list[Listed]
    skipped: list[Skipped]


def _name_problem(name: str) -> str | None:
    if not name.isascii():
        try:
            name.encode("utf-8")
        except UnicodeEncodeError:
            return "file name is not valid UTF-8"
    if "\t" in name or "\n" in name:
        return "file name holds a tab or a newline"
    return None


def _printable(name: str) -> str:
    """A name as storable text (undecodable bytes shown as backslash escapes)."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _inside(root: str, target: str) -> bool:
    return target.startswith(root + os.sep)


def _facts(st: os.stat_result) -> tuple[int, int, int, int, int]:
    """size, mtime_ns, ctime_ns, mode, inode: the Listed fields after read_path."""
    return st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_mode, st.st_ino


def _kind(mode: int) -> FileKind:
    if stat.S_ISREG(mode):
        return "file"
    return "directory" if stat.S_ISDIR(mode) else "special"


def _listed_link(root: str, relative: str, link_path: str, skipped: list[Skipped]) -> Listed | None:
    target = os.path.realpath(link_path)
    if not _inside(root, target):
        skipped.append(Skipped(relative, "symbolic link to outside the mission folder"))
        return Listed(relative, "file", link_path, problem=("unreadable", skipped[-1].reason))
    try:
        st = os.stat(target)
    except OSError:
        skipped.append(Skipped(relative, "broken symbolic link"))
        return Listed(relative, "file", link_path, problem=("unreadable", skipped[-1].reason))
    kind = _kind(st.st_mode)
    if kind == "directory":
        skipped.append(Skipped(relative, "symbolic link to a directory: not descended"))
        return None
    return Listed(relative, kind, target, *_facts(st))


def walk(root: str) -> Listing:
    """Everything under ``root`` (an absolute, resolved directory path)."""
    listing = Listing([], [])
    pending = [(root, "")]
    while pending:
        directory, prefix = pending.pop()
        try:
            entries = list(os.scandir(directory))
        except OSError as exc:
            listing.skipped.append(
                Skipped(prefix.rstrip("/") or ".", f"cannot list: {exc.strerror}")
            )
            continue
        for entry in entries:
            try:
                below = _list_entry(root, entry, prefix + entry.name, listing)
            except FileNotFoundError:
                below = None
                listing.listed.append(
                    Listed(
                        prefix + entry.name,
                        "file",
                        entry.path,
                        problem=("deleted_after_scan", "vanished while the folder was listed"),
                    )
                )
            if below is not None:
                pending.append(below)
    return listing


def _list_entry(root: str, entry: os.DirEntry, relative: str, listing: Listing):
    """Record one directory entry; return (path, prefix) when it is a directory to descend."""
    is_dir = entry.is_dir(follow_symlinks=False)
    if is_dir and entry.name.startswith("."):
        return None
    problem = _name_problem(entry.name)
    if problem is not None:
        if is_dir:
            listing.skipped.append(Skipped(_printable(relative), f"directory {problem}"))
        else:
            listing.listed.append(
                Listed(
                    _printable(relative), "file", entry.path, problem=("invalid_format", problem)
                )
            )
        return None
    if entry.is_symlink():
        link = _listed_link(root, relative, entry.path, listing.skipped)
        if link is not None:
            listing.listed.append(link)
        return None
    if is_dir:
        listing.listed.append(Listed(relative, "directory", entry.path))
        return entry.path, relative + "/"
    st = entry.stat(follow_symlinks=False)
    listing.listed.append(Listed(relative, _kind(st.st_mode), entry.path, *_facts(st)))
    return None
