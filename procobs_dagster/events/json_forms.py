"""The JSON forms of the values JSON has no type for: a UUID, a timestamp, a member of an
enum.

The event models are strict: a value of the wrong type is refused, never converted. But
an event is often given as a JSON document — a line of an ingested file, the dict a
caller hands to ``events.emit`` — and JSON writes these values as strings. A field typed
here takes the value itself or exactly that string: a UUID in its canonical text
(``0191e0a4-0000-7000-8000-000000000001``), an ISO 8601 timestamp
(``2026-03-05T10:00:01Z``: the calendar date, ``T`` or a space, the time to the minute
or finer, an offset or none), an enum member's value (``RUNTIME``). Nothing else is
read from a string — "5" stays no number, "true" no bool, "1700000000" no timestamp —
and no other type becomes one of these.
"""

import datetime as dt
import enum
import re
import uuid
from collections.abc import Callable
from typing import Annotated, Any

from pydantic import BeforeValidator
from pydantic_core import PydanticCustomError

_UUID_TEXT = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
# The extended calendar form pydantic read before the models were strict (RFC 3339 and
# its common relaxations). datetime.fromisoformat alone also takes the basic form
# (20260305T100001Z), week dates (2026-W10-4) and an hour alone: forms no producer of
# these events writes, which would be documented nowhere. [0-9], not \d: no other digits.
_TIMESTAMP_TEXT = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:[.,][0-9]+)?)?"
    r"(?:[Zz]|[+-][0-9]{2}(?::?[0-9]{2})?)?"
)


def _from_text(parse: Callable[[str], Any], expected: str) -> BeforeValidator:
    def validate(value: Any) -> Any:
        # type(), not isinstance: a StrEnum member is a str, and must reach the enum's
        # strict check as itself, not be looked up again by its value.
        if type(value) is not str:
            return value
        try:
            return parse(value)
        except ValueError:
            raise PydanticCustomError("json_form", f"Input should be {expected}") from None

    return BeforeValidator(validate)


def _uuid(text: str) -> uuid.UUID:
    if not _UUID_TEXT.fullmatch(text):
        raise ValueError(text)
    return uuid.UUID(text)


def _timestamp(text: str) -> dt.datetime:
    if not _TIMESTAMP_TEXT.fullmatch(text):
        raise ValueError(text)
    # fromisoformat takes "Z" only; RFC 3339 allows "z" too, as pydantic did.
    return dt.datetime.fromisoformat(text[:-1] + "Z" if text.endswith("z") else text)


def _enum_values(enum_type: type[enum.Enum]) -> str:
    values = [repr(m.value) for m in enum_type]
    return values[0] if len(values) == 1 else f"{', '.join(values[:-1])} or {values[-1]}"


UUIDText = Annotated[uuid.UUID, _from_text(_uuid, "a UUID (8-4-4-4-12 hex digits)")]

TimestampText = _from_text(_timestamp, "an ISO 8601 timestamp (e.g. 2026-03-05T10:00:01Z)")
"""Annotate a datetime type with it (``Annotated[limits.Timestamp, TimestampText]``),
so the range and timezone checks of that type still apply."""


def enum_text(enum_type: type[enum.Enum]) -> Any:
    """``enum_type``, or one of its members' values."""
    return Annotated[enum_type, _from_text(enum_type, _enum_values(enum_type))]
