"""Writing the files a user asks procobs for (an export, a packet, a rendered SQL
file), without harming what is there.

``check_target(path, what)`` refuses, with one line, a target whose folder does not
exist, and a target that exists but is not a regular file (a directory, a FIFO that
would block the writer, a device). ``replace_atomically(path, write)`` has ``write`` fill
a temporary file beside the target and then renames it over the target: a reader never
sees half a file, a failed write leaves the old file as it was, and a symbolic link at
the target is replaced rather than followed. Whether an existing file may be replaced
is the caller's question to ask (the CLI asks, or wants ``--yes``).
"""

import os
import stat
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from procobs_dagster.errors import InvalidInput
from procobs_dagster.input_files import describe

T = TypeVar("T")


def check_target(path: "str | Path", what: str) -> Path:
    path = Path(path)
    parent = path.parent
    if not parent.is_dir():
        raise InvalidInput(
            f"cannot write {what} {describe(path)}: {describe(parent)} is not a directory"
        )
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return path
    except OSError as exc:
        raise InvalidInput(f"cannot write {what} {describe(path)}: {exc.strerror}") from None
    if not stat.S_ISREG(mode):
        kind = "a directory" if stat.S_ISDIR(mode) else "not a regular file"
        raise InvalidInput(f"cannot write {what} {describe(path)}: it is {kind}")
    return path


def exists(path: "str | Path") -> bool:
    return os.path.lexists(path)


def replace_atomically(path: "str | Path", write: Callable[[Path], T]) -> T:
    """``write(temporary)`` and then rename the temporary file over ``path``."""
    path = Path(path)
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.tmp")
    try:
        # Made empty first: a folder no file can be made in (read-only, not the user's,
        # /proc) is refused in one line before any work, whatever ``write`` writes with.
        temporary.touch(exist_ok=False)
    except OSError as exc:
        raise InvalidInput(f"cannot write {describe(path)}: {exc.strerror or exc}") from None
    try:
        result = write(temporary)
        os.replace(temporary, path)
    except OSError as exc:  # the disk full, the target made a folder meanwhile
        temporary.unlink(missing_ok=True)
        raise InvalidInput(f"cannot write {describe(path)}: {exc.strerror or exc}") from None
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return result


def write_text(path: "str | Path", text: str) -> None:
    replace_atomically(path, lambda temporary: temporary.write_text(text, encoding="utf-8"))
