"""Listing a mission folder without leaving it.

The walk never reads a file; it lists what is there, with the ``stat`` facts the
incremental scan compares and the scan fingerprint covers (size, mtime, ctime, mode,
inode). Rules:

- directories whose name starts with a dot are skipped (``.git``, ``.kittify``, …);
- a symbolic link is never followed out of the root: a link whose target lies outside
  (or does not exist) is reported and its target is never opened; a link to a file inside
  the root is read through its resolved target; a link to a directory is not descended
  (its target, when inside the root, is listed where it lives — no cycles, no doubles);
- names that cannot be a dossier path (not valid UTF-8, holding a control character —
  a tab or a newline would break the parity-hash line format, an escape sequence the
  terminal that shows it — or longer than ``MAX_KEY_LENGTH``) are reported under a
  printable form, never hashed; when that form is the name of another path of the
  folder, the other path keeps it and the unnamable one is only listed as skipped.
"""

import dataclasses
import os
import stat
from typing import Literal, NamedTuple

from procobs_dagster.limits import MAX_KEY_LENGTH, is_control, printable

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
    if any(is_control(c) for c in name if not c.isprintable()):
        return "file name holds a control character"
    return None


def _path_problem(relative: str) -> str | None:
    if len(relative) > MAX_KEY_LENGTH:
        return f"path is {len(relative)} characters long, over the limit of {MAX_KEY_LENGTH}"
    return None


def _printable(name: str) -> str:
    """A name as storable text: undecodable bytes and control characters shown as
    backslash escapes, cut to the key limit."""
    text = name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    text = printable(text)
    return text if len(text) <= MAX_KEY_LENGTH else text[: MAX_KEY_LENGTH - 1] + "…"


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
    try:
        target = os.path.realpath(link_path)
    except OSError as exc:  # a link through /proc/PID/cwd, a directory we may not search
        skipped.append(Skipped(relative, f"cannot resolve symbolic link: {exc.strerror}"))
        return Listed(relative, "file", link_path, problem=("unreadable", skipped[-1].reason))
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
    return _unclashed(listing)


def _unclashed(listing: Listing) -> Listing:
    """A path reported under its printable form may take the name of a real path of the
    folder (a file literally named ``\\xff.md`` beside one whose name is the byte 0xff):
    the real path keeps its name, the unnamable one is only reported as skipped."""
    named = {item.relative_path for item in listing.listed if item.problem is None}
    kept, seen = [], set()
    for item in listing.listed:
        clash = item.relative_path in seen or (
            item.problem is not None and item.relative_path in named
        )
        if clash:
            listing.skipped.append(
                Skipped(
                    item.relative_path, f"{item.problem[1]}; its printable form names another path"
                )
            )
            continue
        seen.add(item.relative_path)
        kept.append(item)
    return Listing(kept, listing.skipped)


def _list_entry(root: str, entry: os.DirEntry, relative: str, listing: Listing):
    """Record one directory entry; return (path, prefix) when it is a directory to descend."""
    is_dir = entry.is_dir(follow_symlinks=False)
    if is_dir and entry.name.startswith("."):
        return None
    problem = _name_problem(entry.name) or _path_problem(relative)
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
