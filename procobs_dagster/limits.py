"""The bounds every value entering procobs is held to, and the one place that checks them.

A value from outside — a CLI option or argument, a field of a YAML or JSON file, an
ingested event, Dagster run config, an argument of the Python API — is checked here
before any database sees it. So a value is refused the same way, with the same one-line
message, on SQLite and on PostgreSQL, and the message names the value, the problem and
the bound (docs/limits.md lists every limit).

The bounds
    ``MAX_IDENTIFIER_LENGTH`` (200 characters) — codes and keys: candidate, DOT and
        definition codes, event types, feature slugs, sink names, correlation ids,
        idempotency keys, plan ids. They are indexed: 200 characters of at most 4 UTF-8
        bytes stay far below PostgreSQL's 2 704-byte index entry.
    ``MAX_NAME_LENGTH`` (200) — the people and systems named in the audit trail: an
        approver, an actor, a baseline's ``--by``.
    ``MAX_KEY_LENGTH`` (640) — a key composed of identifiers (an idempotency key) or a
        path kept as a key (a dossier artifact's path inside its mission folder); 640
        characters of at most 4 bytes stay below that index entry limit too.
    ``MAX_TEXT_LENGTH`` (4 000) — free text, where line breaks and tabs are allowed:
        reasons, titles, input/output/error refs, a mission folder's root path.
    ``MAX_ROOT_PATH_LENGTH`` (500) — a mission folder's root path: free text, but it
        shares an index entry with the feature slug (200), and 500 characters of 4 bytes
        beside it stay below PostgreSQL's 2 704 bytes (640 do not).
    ``MAX_ROWS_SHOWN`` (100 000) — ``--limit``, ``--runs``: rows a listing returns.
    ``MAX_BATCH`` (10 000) — ``--batch``: rows or run families per transaction.
    ``MAX_SECONDS`` (2 147 483 647, about 68 years) — every duration (an SLA, a grace,
        a lease, an idle wait): a PostgreSQL ``integer``, and far inside the dates
        ``datetime`` can reach from any supported timestamp.
    ``MAX_DAYS`` (24 855) — retention periods, ``MAX_SECONDS`` in whole days.
    ``EARLIEST_TIMESTAMP`` / ``LATEST_TIMESTAMP`` (1970-01-01 / 3000-01-01 UTC, the
        latter excluded) — every timestamp that enters.
    ``MAX_JSON_DEPTH`` (32) — nesting of a JSON or YAML document from outside.
    ``MAX_JSON_INTEGER`` (2**63 - 1) — an integer in such a document, either sign.
    ``MAX_CONFIG_FILE_BYTES`` (1 MiB) — a manifest, catalog, sinks file or packet.
    ``MAX_INGEST_FILE_BYTES`` (32 MiB) and ``MAX_JSON_LINE_BYTES`` (64 KiB) — a
        JSON-lines file of domain events, and one line of it.

Files are read, and YAML and JSON parsed, by ``procobs_dagster.input_files`` with these
bounds.

The checks raise :class:`~procobs_dagster.errors.InvalidInput` (exit code 1):
    ``check_identifier(value, what)``, ``check_name(value, what)`` (returns it stripped),
    ``check_key(value, what)``, ``check_text(value, what)``, ``check_optional_…`` variants
    that let None through, ``check_count(value, what, maximum=…)``,
    ``check_seconds(value, what, minimum=…, maximum=…)`` (ints and finite floats),
    ``check_timestamp(value, what)``, ``check_json_depth(value, what)``,
    ``check_json_document(value, what)`` (a JSON object from outside, such as evidence:
    JSON types only, finite numbers, 64-bit integers, no NUL or surrogate in its text,
    bounded depth and size).

Annotated types for pydantic models run the same checks (the error carries the field's
location): ``Identifier``, ``Name``, ``Key``, ``Text``, ``Seconds``, ``Timestamp``,
``JSONObject``.

For messages and terminals: ``printable(text)`` shows control characters visibly
(``\\x1b``, ``\\n``, ``\\u202e``), ``shown(value)`` is a value as a message quotes it:
printable and cut to ``SHOWN_LENGTH`` characters, and ``clipped(text)`` is foreign text
(an exception's message, another system's error) made storable: printable, cut to
``MAX_TEXT_LENGTH``.
"""

import datetime as dt
import math
import re
import unicodedata
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator
from pydantic_core import PydanticCustomError

from procobs_dagster.errors import InvalidInput

MAX_IDENTIFIER_LENGTH = 200
MAX_NAME_LENGTH = 200
MAX_KEY_LENGTH = 640
MAX_TEXT_LENGTH = 4_000
MAX_ROOT_PATH_LENGTH = 500
MAX_ROWS_SHOWN = 100_000
MAX_BATCH = 10_000
MAX_SECONDS = 2**31 - 1
MAX_DAYS = MAX_SECONDS // 86_400
EARLIEST_TIMESTAMP = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
LATEST_TIMESTAMP = dt.datetime(3000, 1, 1, tzinfo=dt.UTC)
MAX_JSON_DEPTH = 32
MAX_JSON_INTEGER = 2**63 - 1
MAX_CONFIG_FILE_BYTES = 1024 * 1024
MAX_INGEST_FILE_BYTES = 32 * 1024 * 1024
MAX_JSON_LINE_BYTES = 64 * 1024
SHOWN_LENGTH = 60

# Control (Cc), format (Cf: bidi overrides, zero-width characters), surrogates (Cs: not
# encodable, from undecodable bytes) and line/paragraph separators (Zl, Zp). Text with
# one of these can repaint a terminal, forge a line of output, or read differently
# from what is stored.
_CONTROL_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
# PostgreSQL's jsonb refuses NUL (\u0000) and a lone surrogate in a string.
_UNSTORABLE_IN_JSON = re.compile("[\x00\ud800-\udfff]")
_VISIBLE = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def is_control(char: str) -> bool:
    return unicodedata.category(char) in _CONTROL_CATEGORIES


def _first_control(value: str) -> int | None:
    if value.isprintable():  # the fast path: isprintable() is False for every control
        return None
    for index, char in enumerate(value):
        if is_control(char):
            return index
    return None


def _escaped(char: str) -> str:
    if char in _VISIBLE:
        return _VISIBLE[char]
    code = ord(char)
    return (
        f"\\x{code:02x}"
        if code < 0x100
        else f"\\u{code:04x}"
        if code < 0x10000
        else f"\\U{code:08x}"
    )


def printable(text: str) -> str:
    """``text`` with every control character shown as its escape (``\\x1b``, ``\\n``):
    nothing in it can move the cursor, repaint a terminal or start a line."""
    if text.isprintable():
        return text
    return "".join(_escaped(c) if is_control(c) else c for c in text)


def clipped(text: str, maximum: int = MAX_TEXT_LENGTH) -> str:
    """Text procobs keeps but did not get from a person (an exception's message, an error
    reported by another system): control characters shown visibly and cut to
    ``maximum`` characters, so it is stored rather than refused."""
    text = printable(text)
    return text if len(text) <= maximum else text[: maximum - 1] + "…"


def shown(value: Any, length: int = SHOWN_LENGTH) -> str:
    """A value as an error message quotes it: printable, quoted, at most ``length``
    characters (longer values end with ``…`` and their full length)."""
    text = value if isinstance(value, str) else repr(value)
    if len(text) > length:
        return f"'{printable(text[:length])}…' ({len(text)} characters)"
    return f"'{printable(text)}'"


# --- the problems, as sentences a message completes with what the value is -----------


def _length_problem(value: str, maximum: int) -> str | None:
    if len(value) > maximum:
        return f"is {len(value)} characters long, over the limit of {maximum}"
    return None


def _control_problem(value: str, allowed: str = "") -> str | None:
    index = _first_control(value.translate({ord(c): " " for c in allowed}) if allowed else value)
    if index is None:
        return None
    return f"contains the control character {_escaped(value[index])} at position {index}"


def identifier_problem(value: str, maximum: int = MAX_IDENTIFIER_LENGTH) -> str | None:
    if not isinstance(value, str):
        return f"must be text, not {type(value).__name__}"
    if not value.strip():
        return "must not be empty"
    if value != value.strip():
        return "must not start or end with whitespace"
    return _length_problem(value, maximum) or _control_problem(value)


def name_problem(value: str) -> str | None:
    if not isinstance(value, str):
        return f"must be text, not {type(value).__name__}"
    if not value.strip():
        return "must not be empty"
    return _length_problem(value.strip(), MAX_NAME_LENGTH) or _control_problem(value)


def text_problem(value: str, maximum: int = MAX_TEXT_LENGTH) -> str | None:
    """Free text may span lines and hold tabs; no other control character."""
    if not isinstance(value, str):
        return f"must be text, not {type(value).__name__}"
    return _length_problem(value, maximum) or _control_problem(value, allowed="\n\t")


def number_problem(
    value: Any, minimum: float | None, maximum: float | None, *, integer: bool
) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"must be a number, not {type(value).__name__}"
    if integer and not isinstance(value, int):
        return f"must be a whole number, not {value!r}"
    if isinstance(value, float) and not math.isfinite(value):
        return f"must be a finite number, not {value!r}"
    if minimum is not None and value < minimum:
        return f"is {_number(value)}, below the minimum of {_number(minimum)}"
    if maximum is not None and value > maximum:
        return f"is {_number(value)}, above the limit of {_number(maximum)}"
    return None


def _number(value: float) -> str:
    # str() of an int past 4 300 digits raises: a huge one is described by its size.
    if isinstance(value, int) and abs(value) >= 10**24:
        return f"a number of about {int(abs(value).bit_length() * 0.30103) + 1} digits"
    return f"{value:g}" if isinstance(value, float) else str(value)


def timestamp_problem(value: Any) -> str | None:
    if not isinstance(value, dt.datetime):
        return f"must be a timestamp, not {type(value).__name__}"
    if value.tzinfo is None or value.utcoffset() is None:
        return f"must be timezone-aware (e.g. 2026-01-15T09:30:00Z), got {value.isoformat()}"
    if not EARLIEST_TIMESTAMP <= value < LATEST_TIMESTAMP:
        return (
            f"is {value.isoformat()}, outside the supported range "
            f"{EARLIEST_TIMESTAMP.date()} to {LATEST_TIMESTAMP.date()} (UTC)"
        )
    return None


def json_depth_problem(value: Any, maximum: int = MAX_JSON_DEPTH) -> str | None:
    """Walks without recursion, so a document nested ever so deep is measured, not a
    RecursionError."""
    pending = [(value, 1)]
    while pending:
        node, depth = pending.pop()
        if isinstance(node, dict):
            children = node.values()
        elif isinstance(node, list | tuple):
            children = node
        else:
            continue
        if depth > maximum:
            return f"is nested deeper than the limit of {maximum} levels"
        pending.extend((child, depth + 1) for child in children)
    return None


def _utf8_size(text: str) -> int:
    """Bytes of ``text`` in UTF-8, which the limits in bytes count: a character is up to
    four (isascii() is a flag, so ASCII text costs no encoding)."""
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


def utf8_longer_than(text: str, maximum: int) -> bool:
    """Does ``text`` take more than ``maximum`` bytes in UTF-8? Encoded only when its
    characters alone cannot tell."""
    return len(text) > maximum or (len(text) * 4 > maximum and _utf8_size(text) > maximum)


def json_document_problem(
    value: Any, maximum_depth: int = MAX_JSON_DEPTH, maximum_bytes: int = MAX_JSON_LINE_BYTES
) -> str | None:
    """What makes ``value`` unfit to store as JSON on both databases, if anything:
    a type JSON lacks, a non-finite float, an integer past 64 bits, a NUL or a surrogate
    in a string (PostgreSQL's jsonb refuses both), depth or size past the bounds."""
    pending, size = [(value, 1, "")], 0
    while pending:
        node, depth, where = pending.pop()
        at = f" at {where}" if where else ""
        if isinstance(node, dict):
            if depth > maximum_depth:
                return f"is nested deeper than the limit of {maximum_depth} levels"
            for key, child in node.items():
                if not isinstance(key, str):
                    return f"has a key that is not text{at}: {shown(key)}"
                size += _utf8_size(key) + 4
                pending.append((key, depth + 1, f"{where}.{key}" if where else key))
                pending.append((child, depth + 1, f"{where}.{key}" if where else key))
        elif isinstance(node, list | tuple):
            if depth > maximum_depth:
                return f"is nested deeper than the limit of {maximum_depth} levels"
            size += 2
            pending.extend((c, depth + 1, f"{where}[{i}]") for i, c in enumerate(node))
        elif isinstance(node, str):
            size += _utf8_size(node) + 2
            if _UNSTORABLE_IN_JSON.search(node):
                return f"has a NUL or surrogate character in its text{at}"
        elif isinstance(node, bool) or node is None:
            size += 5
        elif isinstance(node, int):
            if abs(node) > MAX_JSON_INTEGER:
                return f"has an integer outside the 64-bit range{at}"
            size += 20
        elif isinstance(node, float):
            if not math.isfinite(node):
                return f"has a number that is not finite{at}: {node!r}"
            size += 24
        else:
            return f"holds a {type(node).__name__}{at}, which is not a JSON value"
        if size > maximum_bytes:
            return f"is larger than the limit of {maximum_bytes} bytes"
    return None


# --- the checks: InvalidInput naming what the value is --------------------------------


def _refuse(what: str, problem: str | None) -> None:
    if problem is not None:
        raise InvalidInput(f"{what} {problem}")


def check_identifier(value: str, what: str, maximum: int = MAX_IDENTIFIER_LENGTH) -> str:
    _refuse(what, identifier_problem(value, maximum))
    return value


def check_optional_identifier(value: str | None, what: str) -> str | None:
    return None if value is None else check_identifier(value, what)


def check_name(value: str, what: str) -> str:
    """A person or system: required, stripped of surrounding whitespace."""
    _refuse(what, name_problem(value))
    return value.strip()


def check_optional_name(value: str | None, what: str) -> str | None:
    return None if value is None else check_name(value, what)


def check_key(value: str, what: str) -> str:
    return check_identifier(value, what, MAX_KEY_LENGTH)


def check_optional_key(value: str | None, what: str) -> str | None:
    return None if value is None else check_key(value, what)


def check_text(value: str, what: str, maximum: int = MAX_TEXT_LENGTH) -> str:
    _refuse(what, text_problem(value, maximum))
    return value


def check_optional_text(value: str | None, what: str) -> str | None:
    return None if value is None else check_text(value, what)


def check_count(value: int, what: str, *, minimum: int = 1, maximum: int = MAX_ROWS_SHOWN) -> int:
    _refuse(what, number_problem(value, minimum, maximum, integer=True))
    return value


def check_batch(batch: int) -> int:
    """A batch size: rows per committed transaction of a batched job."""
    return check_count(batch, "batch size", maximum=MAX_BATCH)


def check_seconds(
    value: float, what: str, *, minimum: float = 0, maximum: float = MAX_SECONDS
) -> float:
    """A duration in seconds (an int or a finite float) inside [minimum, maximum]."""
    _refuse(what, number_problem(value, minimum, maximum, integer=False))
    return value


def check_timestamp(value: dt.datetime, what: str) -> dt.datetime:
    """A timezone-aware timestamp inside the supported range, as UTC."""
    _refuse(what, timestamp_problem(value))
    return value.astimezone(dt.UTC)


def check_json_depth(value: Any, what: str, maximum: int = MAX_JSON_DEPTH) -> Any:
    _refuse(what, json_depth_problem(value, maximum))
    return value


def check_json_document(value: Any, what: str) -> Any:
    _refuse(what, json_document_problem(value))
    return value


# --- the same checks as pydantic Annotated types --------------------------------------


def _validator(problem_of, convert=lambda v: v) -> AfterValidator:
    def validate(value):
        problem = problem_of(value)
        if problem is not None:
            raise PydanticCustomError("limits", problem)
        return convert(value)

    return AfterValidator(validate)


Identifier = Annotated[str, _validator(identifier_problem)]
Name = Annotated[str, _validator(name_problem, str.strip)]
Key = Annotated[str, _validator(lambda v: identifier_problem(v, MAX_KEY_LENGTH))]
Text = Annotated[str, _validator(text_problem)]
Seconds = Annotated[float, _validator(lambda v: number_problem(v, 0, MAX_SECONDS, integer=False))]
JSONObject = Annotated[dict[str, Any], _validator(json_document_problem)]
Timestamp = Annotated[dt.datetime, _validator(timestamp_problem, lambda v: v.astimezone(dt.UTC))]


def _list_as_tuple(value: Any) -> Any:
    # The frozen models keep a tuple; YAML, JSON and a JSON column give a list. Only a
    # list is taken as one: a string is no list of names, and meets the strict check.
    return tuple(value) if isinstance(value, list) else value


ListAsTuple = BeforeValidator(_list_as_tuple)
"""Annotate a tuple field with it (``Annotated[tuple[str, ...], ListAsTuple]``)."""
