"""Mission folders for dossier tests, with mtimes set so the racy-file rule is explicit."""

import os
import shutil
import time
from pathlib import Path

from procobs_dagster import dossier

FEATURE = "042-kg-export"
# Files written "an hour ago" are settled: outside the racy window of any scan.
SETTLED_AGE = 3600.0


def put(
    root: Path, relative: str, content: "str | bytes" = "x\n", age: float = SETTLED_AGE
) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    settle(path, age)
    return path


def settle(path: Path, age: float = SETTLED_AGE) -> None:
    when = time.time() - age
    os.utime(path, (when, when))


def copy_sample(destination: Path) -> Path:
    shutil.copytree(dossier.sample_mission(), destination)
    for path in destination.rglob("*"):
        if path.is_file():
            settle(path)
    return destination


def scan(db, root: Path, *, feature: str = FEATURE, step: str | None = "review", **kwargs):
    kwargs.setdefault("manifest", dossier.default_manifest())
    return dossier.scan_dossier(db, root, feature, step=step, **kwargs)


def by_path(result) -> dict:
    return {a.relative_path: a for a in result.artifacts}
