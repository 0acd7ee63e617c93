"""Reading the files users hand to procobs, and parsing them as YAML or JSON, safely.

Every file procobs reads on a user's word (a manifest, a catalog, a sinks file, an
activation packet, a JSON-lines file of domain events) goes through here:

``read_text_file(path, what, max_bytes=MAX_CONFIG_FILE_BYTES)``
    Regular files only: the file is opened without blocking (a FIFO or a device is
    refused by what ``fstat`` says of the opened file, never waited on), read up to
    ``max_bytes`` (a bigger file is refused by its size, naming the bound) and decoded
    as UTF-8 (invalid bytes are refused naming their offset).
``parse_yaml(text, what)`` / ``read_yaml_file(path, what)``
    Safe YAML (no Python tags) where a key given twice in one mapping is refused, the
    nesting depth is bounded (``MAX_JSON_DEPTH``) and aliases (``*name``) are refused,
    so no document expands beyond its size. ``1e3`` and ``1.5e3`` are numbers, as in
    YAML 1.2 and JSON (YAML 1.1 reads them as text, which the strict models refuse).
    Parsed by libyaml where PyYAML has it (``YAML_LOADER``), else by PyYAML's
    pure-Python parser, with the same bounds.
``yaml_scalar_hint(error)``
    What to add to a model's error on a YAML document when YAML read a plain scalar as
    no text (``name: 1e3``, ``kind: null``): the value it read, and to quote it.
``parse_json(text, what)`` / ``read_json_file(path, what)``
    Strict JSON: ``NaN``/``Infinity`` and numbers a float cannot hold are refused,
    integers are bounded (``MAX_JSON_INTEGER``), a key given twice in one object is
    refused, nesting is bounded.
``json_lines(text)``
    The lines of a JSON-lines file, split at line feeds only.

Every refusal is an :class:`~procobs_dagster.errors.InvalidInput` with one line naming
``what`` (e.g. ``"manifest"``), the file, and the problem.
"""

import json
import math
import os
import re
import stat
from pathlib import Path
from typing import Any

import yaml

from procobs_dagster.errors import InvalidInput
from procobs_dagster.limits import (
    MAX_CONFIG_FILE_BYTES,
    MAX_JSON_DEPTH,
    MAX_JSON_INTEGER,
    json_depth_problem,
    printable,
    shown,
)

_OPEN_FLAGS = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | os.O_CLOEXEC
_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def _kind(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def describe(path: "str | Path") -> str:
    """A path as messages show it (control characters visible)."""
    return printable(os.fsdecode(path))


def read_bytes_file(path: "str | Path", what: str, max_bytes: int = MAX_CONFIG_FILE_BYTES) -> bytes:
    where = f"{what} {describe(path)}"
    try:
        # Named by what it is before opening: opening a socket fails with a vaguer errno.
        # The opened file is checked again below, whatever the path points to by then.
        mode = os.stat(path).st_mode
        if not stat.S_ISREG(mode):
            raise InvalidInput(f"{where} is {_kind(mode)}, not a regular file")
        fd = os.open(path, _OPEN_FLAGS)
    except OSError as exc:
        raise InvalidInput(f"cannot read {where}: {exc.strerror or exc}") from None
    except ValueError:  # an embedded NUL byte
        raise InvalidInput(f"cannot read {where}: the path contains a NUL character") from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise InvalidInput(f"{where} is {_kind(mode)}, not a regular file")
        chunks, size = [], 0
        while size <= max_bytes:
            chunk = os.read(fd, min(1024 * 1024, max_bytes + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as exc:
        raise InvalidInput(f"cannot read {where}: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    if size > max_bytes:
        raise InvalidInput(f"{where} is larger than the limit of {max_bytes} bytes")
    return b"".join(chunks)


def decode_utf8(data: bytes, where: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput(
            f"{where} is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})"
        ) from None


def read_text_file(path: "str | Path", what: str, max_bytes: int = MAX_CONFIG_FILE_BYTES) -> str:
    """The text of a regular, UTF-8 file of at most ``max_bytes`` bytes."""
    return decode_utf8(read_bytes_file(path, what, max_bytes), f"{what} {describe(path)}")


class _Bounds:
    """What every YAML loader here refuses, whichever parser gives it the events: an alias,
    nesting past MAX_JSON_DEPTH (both checked as each node is composed, so a deep document
    is refused before it is built), a key given twice in one mapping."""

    _depth = 0

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            raise yaml.composer.ComposerError(
                None, None, "aliases (*name) are not accepted", self.peek_event().start_mark
            )
        self._depth += 1
        try:
            if self._depth > MAX_JSON_DEPTH:
                raise yaml.composer.ComposerError(
                    None,
                    None,
                    f"nested deeper than the limit of {MAX_JSON_DEPTH} levels",
                    self.peek_event().start_mark,
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen = set()
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=True)
                try:
                    duplicate = key in seen
                    seen.add(key)
                except TypeError:
                    continue  # an unhashable key: the base class refuses it
                if duplicate:
                    raise yaml.constructor.ConstructorError(
                        "while constructing a mapping",
                        node.start_mark,
                        f"the key {shown(key)} is given twice",
                        key_node.start_mark,
                    )
        return super().construct_mapping(node, deep)


class _PureLoader(_Bounds, yaml.SafeLoader):
    """PyYAML's pure-Python SafeLoader, bounded: the fallback where PyYAML was built
    without libyaml."""


YAML_LOADERS: tuple[type, ...] = (_PureLoader,)

if yaml.__with_libyaml__:

    class _LibyamlLoader(
        _Bounds,
        yaml.composer.Composer,
        yaml.cyaml.CParser,
        yaml.constructor.SafeConstructor,
        yaml.resolver.Resolver,
    ):
        """libyaml's scanner and parser (C, several times faster on a 1 MiB file) under
        PyYAML's composer, which comes first so the bounds are checked on the events as
        for the fallback: CSafeLoader's own composer, in C, would compose a whole
        document before anything could look at it."""

        def __init__(self, stream):
            yaml.cyaml.CParser.__init__(self, stream)
            yaml.composer.Composer.__init__(self)
            yaml.constructor.SafeConstructor.__init__(self)
            yaml.resolver.Resolver.__init__(self)

    YAML_LOADERS = (_LibyamlLoader, *YAML_LOADERS)

# YAML 1.1's exponents need a dot and a sign ("1.0e+3"); YAML 1.2 and JSON also write
# "1e3" and "1.5e3". Read as text, a number so written would be refused by a strict model
# with no hint why.
for _loader in YAML_LOADERS:
    _loader.add_implicit_resolver(
        "tag:yaml.org,2002:float",
        re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$"),
        list("-+.0123456789"),
    )

# The loader parse_yaml uses: libyaml's when PyYAML has it (its wheels bundle it).
YAML_LOADER = YAML_LOADERS[0]
# libyaml refuses nesting past its own limit (1 000 levels) as it scans, which can come
# before the composer sees level MAX_JSON_DEPTH + 1: the same bound, refused in its words.
_LIBYAML_NESTING = "exceeded maximum nesting depth"


def _yaml_problem(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    problem = getattr(exc, "problem", None) or type(exc).__name__
    if problem == _LIBYAML_NESTING:
        problem = f"nested deeper than the limit of {MAX_JSON_DEPTH} levels"
    return f"not valid YAML{where}: {printable(problem)}"


def parse_yaml(text: str, where: str) -> Any:
    """The document of ``text`` (``where`` names it in errors: ``"catalog x.yaml"``)."""
    try:
        return yaml.load(text, Loader=YAML_LOADER)  # safe: SafeConstructor, no Python tags
    except yaml.YAMLError as exc:
        raise InvalidInput(f"{where}: {_yaml_problem(exc)}") from None
    except (ValueError, OverflowError) as exc:
        # int() past 4 300 digits, a date past year 9999: raised by the constructors.
        raise InvalidInput(f"{where}: a value cannot be read: {shown(str(exc))}") from None


def read_yaml_file(path: "str | Path", what: str, max_bytes: int = MAX_CONFIG_FILE_BYTES) -> Any:
    return parse_yaml(read_text_file(path, what, max_bytes), f"{what} {describe(path)}")


# Errors of a model field wanting text (a string, one of some names).
_WANTS_TEXT = ("string_type", "literal_error", "enum")


def yaml_scalar_hint(error: Any) -> str:
    """What to add to the message of a pydantic error (one of ``exc.errors()``) on a
    YAML document when YAML read a plain scalar as no text: ``name: 1e3`` is the number
    1000.0, ``kind: null`` no value, ``version: 1.10`` the number 1.1. Said, the
    message no longer shows a value the file does not hold with no reason why."""
    value = error.get("input")
    if error.get("type") not in _WANTS_TEXT or isinstance(value, str | list | dict):
        return ""
    # Not shown(): quotes around 1000.0 would say it is text. A scalar YAML typed is
    # short and printable (a number, a bool, a date) but for an int of 4,000 digits.
    read_as = "null" if value is None else f"the {type(value).__name__} {str(value)[:40]}"
    return f" (YAML read it as {read_as}: quote it to keep it text)"


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _bounded_int(digits: str) -> int:
    if len(digits.lstrip("-")) > 19 or abs(value := int(digits)) > MAX_JSON_INTEGER:
        raise ValueError(f"the integer {shown(digits)} is outside the 64-bit range")
    return value


def _finite_float(digits: str) -> float:
    value = float(digits)
    if not math.isfinite(value):
        raise ValueError(f"the number {shown(digits)} is too large for a float")
    return value


def json_lines(text: str) -> list[str]:
    """The lines of a JSON-lines file, split at line feeds only (a CR before one is JSON
    whitespace). str.splitlines() also splits at U+2028, U+2029 and U+0085, which JSON
    text may hold unescaped inside a string (Jackson writes them so): a valid event was
    cut in two and every line after it misnumbered."""
    return text.split("\n")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An object whose keys are each given once. Given twice, json keeps the last value
    and drops the other without a word, where another reader may keep the first: the
    document would say two things (YAML's mappings are held to the same rule)."""
    document = dict(pairs)
    if len(document) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise ValueError(f"the key {shown(key)} is given twice in one object")
            seen.add(key)
    return document


def parse_json(text: str, where: str, *, array_of_documents: bool = False) -> Any:
    """Strict JSON: numbers finite and bounded, each key once per object, nesting
    bounded. With ``array_of_documents``, an array's items are held to the bound each (a
    batch of events adds a level no single event has)."""
    try:
        document = json.loads(
            text,
            parse_constant=_refuse_constant,
            parse_int=_bounded_int,
            parse_float=_finite_float,
            object_pairs_hook=_unique_keys,
        )
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{where}: not JSON: {exc.msg} (column {exc.colno})") from None
    except ValueError as exc:
        raise InvalidInput(f"{where}: {exc}") from None
    except RecursionError:
        # The C decoder's own depth guard: far past MAX_JSON_DEPTH, refused alike.
        raise InvalidInput(
            f"{where}: nested deeper than the limit of {MAX_JSON_DEPTH} levels"
        ) from None
    documents = document if array_of_documents and isinstance(document, list) else [document]
    for each in documents:
        problem = json_depth_problem(each)
        if problem:
            raise InvalidInput(f"{where}: {problem}")
    return document


def read_json_file(path: "str | Path", what: str, max_bytes: int = MAX_CONFIG_FILE_BYTES) -> Any:
    return parse_json(read_text_file(path, what, max_bytes), f"{what} {describe(path)}")
