"""The dossier manifest: which artifacts a mission folder is expected to hold.

A manifest is YAML::

    schema_version: 1
    mission_type: software-dev
    manifest_version: "1.0.0"
    required_always:            # required at every step
      - {artifact_key: spec, artifact_class: input, path_pattern: spec.md, blocking: true}
    required_by_step:           # steps in mission order
      plan:
        - {artifact_key: plan, artifact_class: workflow, path_pattern: plan.md, blocking: true}
    optional_always:
      - {artifact_key: research, artifact_class: evidence, path_pattern: research.md}

Rules, checked on load (a violation is one line naming the file and the field):

- ``artifact_key`` is unique across the whole manifest;
- ``path_pattern`` is a relative POSIX glob: ``*`` and ``?`` stay inside one path
  segment, ``[abc]`` is a class, ``**`` is any number of whole segments (zero included);
  no ``..``, no absolute path, no segment starting with a dot (dot-folders are never
  scanned, so such a pattern could never match);
- ``blocking`` (default false) is allowed on required entries only: a missing blocking
  artifact makes the snapshot ``incomplete`` and drift involving it an ``error``.

Scanning at a step (``--step S``) makes required the entries of ``required_always`` and
of S *and every step listed before it* — a mission that reached S went through them.
Entries of later steps are still indexed when their files exist, as optional.
A file belongs to the first entry whose pattern matches it, in manifest order
(``required_always``, ``required_by_step`` step by step, ``optional_always``).
"""

import dataclasses
import hashlib
import json
import re
import warnings
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import pydantic
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from procobs_dagster import limits
from procobs_dagster.errors import InvalidInput
from procobs_dagster.input_files import describe, parse_yaml, read_text_file, yaml_scalar_hint
from procobs_dagster.limits import Identifier, Key
from procobs_dagster.store.vocabulary import ARTIFACT_CLASSES

DEFAULT_MANIFEST = "software-dev.yaml"
SLUG = r"^[a-z0-9][a-z0-9._-]*$"
KEY = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"


class InvalidManifest(InvalidInput):
    pass


class UnknownStep(InvalidInput):
    pass


# Marks a wildcard run among the regex parts of a glob: `**` among segments, `*` in one.
_WILDCARD = object()


def glob_to_regex(pattern: str) -> str:
    """The regular expression (to be full-matched) of a manifest glob."""
    *inner, last = pattern.split("/")
    parts = [_WILDCARD if s == "**" else _segment_regex(s) + "/" for s in inner]
    # Trailing `**`: one or more segments (a file below). Inner: zero or more directories.
    parts += [_WILDCARD, "[^/]+"] if last == "**" else [_segment_regex(last)]
    return _first_fits(parts, "(?:[^/]+/)")


def _first_fits(parts: list, unit: str) -> str:
    """``parts`` joined, each wildcard a run of ``unit``s. A part between two wildcards is
    taken at its first fit, atomically: for a glob the first fit is as good as any, and a
    regex free to try every split (``*a*a*a…b`` on a long name, ``**/**/…/x`` on a deep
    path) would take exponential time on a manifest anyone can write."""
    groups: list[list[str]] = [[]]
    for part in parts:
        if part is _WILDCARD:
            groups.append([])
        else:
            groups[-1].append(part)
    head, *tails = ["".join(group) for group in groups]
    out = [head]
    for index, tail in enumerate(tails):
        if index < len(tails) - 1:
            if tail:  # wildcards in a row are one
                out.append(f"(?>{unit}*?{tail})")
        else:
            out.append(f"{unit}*{tail}")
    return "".join(out)


def _segment_regex(segment: str) -> str:
    parts, i = [], 0
    while i < len(segment):
        char = segment[i]
        if char == "*":
            parts.append(_WILDCARD)
        elif char == "?":
            parts.append("[^/]")
        elif char == "[" and (end := segment.find("]", i + 2)) != -1:
            body = segment[i + 1 : end]
            negate = body.startswith("!")
            body = body[1:] if negate else body
            # Literal inside a class, as in fnmatch: `[` would open a nested set, `&&`,
            # `~~` and `||` are set operations to come (re warns of them).
            body = re.sub(r"([\\\[&~|])", r"\\\1", body)
            parts.append("[" + ("^" if negate else "") + body + "]")
            i = end
        else:
            parts.append(re.escape(char))
        i += 1
    return _first_fits(parts, "[^/]")


def is_literal(pattern: str) -> bool:
    return not any(c in pattern for c in "*?[")


def _check_pattern(value: str) -> str:
    if not value or value.startswith("/") or "\\" in value:
        raise ValueError(f"{value!r} must be a relative POSIX path glob")
    for segment in value.split("/"):
        if segment in ("", ".", ".."):
            raise ValueError(f"{value!r} has an empty, '.' or '..' segment")
        if segment.startswith("."):
            raise ValueError(f"{value!r} points into a dot-folder or dot-file, which scans skip")
        if "**" in segment and segment != "**":
            raise ValueError(f"{value!r}: '**' must be a whole path segment")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", FutureWarning)  # `--` in a class: ambiguous
            re.compile(glob_to_regex(value))
    except (re.error, FutureWarning) as exc:  # a range such as [z-a]
        raise ValueError(f"{value!r} is not a glob procobs can read: {exc}") from None
    return value


class ArtifactEntry(BaseModel):
    """One expected artifact (or family of artifacts, when the pattern is a glob)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    artifact_key: Annotated[Identifier, Field(pattern=KEY)]
    artifact_class: Literal[ARTIFACT_CLASSES]  # type: ignore[valid-type]
    path_pattern: Key
    blocking: bool = False

    _check_pattern = field_validator("path_pattern")(_check_pattern)


StepName = Annotated[Identifier, Field(pattern=SLUG)]


@dataclasses.dataclass(frozen=True)
class EntryRole:
    """How one manifest entry takes part in a scan at a given step."""

    entry: ArtifactEntry
    step_id: str | None  # the required_by_step section it comes from
    required: bool

    @property
    def blocking(self) -> bool:
        return self.required and self.entry.blocking


class Manifest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    schema_version: Literal[1]
    mission_type: Annotated[Identifier, Field(pattern=SLUG)]
    manifest_version: Annotated[Identifier, Field(pattern=r"^\S+$")]
    required_always: list[ArtifactEntry] = []
    required_by_step: dict[StepName, list[ArtifactEntry]] = {}
    optional_always: list[ArtifactEntry] = []

    @model_validator(mode="after")
    def _keys_and_blocking(self) -> "Manifest":
        seen: dict[str, str] = {}
        for where, _, entry in self._located_entries():
            if entry.artifact_key in seen:
                raise ValueError(
                    f"{where}.artifact_key: duplicate artifact_key {entry.artifact_key!r}"
                    f" (first at {seen[entry.artifact_key]})"
                )
            seen[entry.artifact_key] = where
        for index, entry in enumerate(self.optional_always):
            if entry.blocking:
                raise ValueError(
                    f"optional_always[{index}].blocking: an optional artifact cannot be blocking"
                )
        if not seen:
            raise ValueError("the manifest declares no artifacts")
        return self

    def _located_entries(self):
        for index, entry in enumerate(self.required_always):
            yield f"required_always[{index}]", None, entry
        for step, entries in self.required_by_step.items():
            for index, entry in enumerate(entries):
                yield f"required_by_step.{step}[{index}]", step, entry
        for index, entry in enumerate(self.optional_always):
            yield f"optional_always[{index}]", None, entry

    @property
    def steps(self) -> tuple[str, ...]:
        return tuple(self.required_by_step)

    @property
    def digest(self) -> str:
        """sha256 of what the manifest declares: its validated content as compact JSON,
        fields in model order, defaults left out. Comments, quoting, key order inside an
        entry or a default written out do not change it; any change to an entry, a step or
        their order does."""
        canonical = json.dumps(
            self.model_dump(mode="json", exclude_defaults=True),
            separators=(",", ":"),
            ensure_ascii=False,
        )
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    def roles(self, step: str | None) -> tuple[EntryRole, ...]:
        """Every entry with its part in a scan at ``step`` (None: no step reached yet)."""
        if step is not None and step not in self.required_by_step:
            known = ", ".join(self.steps) or "none"
            raise UnknownStep(
                f"unknown step {limits.shown(step)} for mission type {self.mission_type!r}"
                f" (steps: {known})"
            )
        reached = set(self.steps[: self.steps.index(step) + 1]) if step else set()
        roles = [EntryRole(e, None, True) for e in self.required_always]
        roles += [
            EntryRole(e, s, s in reached)
            for s, entries in self.required_by_step.items()
            for e in entries
        ]
        roles += [EntryRole(e, None, False) for e in self.optional_always]
        return tuple(roles)


# Without a manifest every file is indexed, optional, under one catch-all entry, and
# completeness is "unknown". The namespace marker cannot collide with a mission type,
# whose slug pattern forbids parentheses.
NO_MANIFEST = "(none)"
UNMANIFESTED = EntryRole(
    ArtifactEntry(artifact_key="unmanifested", artifact_class="evidence", path_pattern="**"),
    step_id=None,
    required=False,
)


class ScanPlan:
    """A manifest resolved for one scan: each entry's role, and a matcher for paths."""

    def __init__(self, manifest: Manifest | None, step: str | None):
        if manifest is None and step is not None:
            raise UnknownStep(f"step {limits.shown(step)} needs a manifest that declares it")
        self.manifest = manifest
        self.manifest_digest = manifest.digest if manifest else None
        self.step = step
        self.roles = manifest.roles(step) if manifest else (UNMANIFESTED,)
        # One alternation, entries in manifest order: the first that matches wins.
        self._matcher = re.compile(
            "|".join(
                f"(?P<e{i}>{glob_to_regex(r.entry.path_pattern)})" for i, r in enumerate(self.roles)
            )
        )
        self._literal = {
            r.entry.path_pattern: r
            for r in reversed(self.roles)
            if is_literal(r.entry.path_pattern)
        }

    @property
    def mission_type(self) -> str:
        return self.manifest.mission_type if self.manifest else NO_MANIFEST

    @property
    def manifest_version(self) -> str:
        return self.manifest.manifest_version if self.manifest else NO_MANIFEST

    def role_of(self, relative_path: str) -> EntryRole | None:
        match = self._matcher.fullmatch(relative_path)
        return self.roles[int(match.lastgroup[1:])] if match else None

    def literal_role_of(self, relative_path: str) -> EntryRole | None:
        """The entry naming exactly this path (used for a directory where a file belongs)."""
        return self._literal.get(relative_path)


def _error_line(source: str, exc: pydantic.ValidationError, from_yaml: bool) -> str:
    first = exc.errors()[0]
    where = "".join(
        f"[{part}]" if isinstance(part, int) else f".{part}" for part in first["loc"]
    ).lstrip(".")
    error = (first.get("ctx") or {}).get("error")
    message = str(error) if isinstance(error, ValueError) else first["msg"]
    if from_yaml:
        message += yaml_scalar_hint(first)
    more = f" (+{exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    prefix = f"{where}: " if where and not message.startswith(where) else ""
    return f"manifest {source}: {prefix}{message}{more}"


def parse_manifest(document: Any, source: str, *, from_yaml: bool = False) -> Manifest:
    if not isinstance(document, dict):
        raise InvalidManifest(f"manifest {source}: the document must be a mapping")
    try:
        return Manifest.model_validate(document)
    except pydantic.ValidationError as exc:
        raise InvalidManifest(_error_line(source, exc, from_yaml)) from None


def _parse_yaml(text: str, source: str) -> Manifest:
    try:
        document = parse_yaml(text, f"manifest {source}")
    except InvalidInput as exc:
        raise InvalidManifest(str(exc)) from None
    return parse_manifest(document, source, from_yaml=True)


def load_manifest(path: "str | Path") -> Manifest:
    try:
        text = read_text_file(path, "manifest")
    except InvalidInput as exc:
        raise InvalidManifest(str(exc)) from None
    return _parse_yaml(text, describe(path))


def default_manifest() -> Manifest:
    """The manifest shipped for software-development missions."""
    text = resources.files("procobs_dagster.dossier").joinpath("manifests", DEFAULT_MANIFEST)
    return _parse_yaml(text.read_text(encoding="utf-8"), DEFAULT_MANIFEST)
