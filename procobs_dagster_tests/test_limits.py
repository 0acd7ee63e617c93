"""The bounds and checks every input goes through (procobs_dagster.limits)."""

import datetime as dt

import pydantic
import pytest

from procobs_dagster import limits
from procobs_dagster.errors import InvalidInput

ESCAPES = "\x1b[2J\x1b]0;title\x07"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "dot code must not be empty"),
        ("   ", "dot code must not be empty"),
        (" DOT", "dot code must not start or end with whitespace"),
        ("D" * 201, "dot code is 201 characters long, over the limit of 200"),
        (f"DOT{ESCAPES}", "dot code contains the control character \\x1b at position 3"),
        ("A\r\nFAKE", "dot code contains the control character \\r at position 1"),
        ("a\u202eb", "dot code contains the control character \\u202e at position 1"),
        ("a\udcffb", "dot code contains the control character \\udcff at position 1"),
        ("a\x00", "dot code contains the control character \\x00 at position 1"),
    ],
)
def test_an_identifier_is_refused_naming_the_problem(value, message):
    with pytest.raises(InvalidInput) as refused:
        limits.check_identifier(value, "dot code")
    assert str(refused.value) == message


def test_identifiers_at_the_limit_and_unicode_pass():
    assert limits.check_identifier("D" * 200, "dot code") == "D" * 200
    assert limits.check_identifier("PROC-CAND:café:ünï", "code") == "PROC-CAND:café:ünï"


def test_a_name_is_stripped_and_bounded():
    assert limits.check_name("  alice ", "approver") == "alice"
    with pytest.raises(InvalidInput, match="approver must not be empty"):
        limits.check_name(" \t", "approver")
    with pytest.raises(InvalidInput, match="approver contains the control character \\\\n"):
        limits.check_name("alice\n2026 mallory FAKE", "approver")
    with pytest.raises(InvalidInput, match="over the limit of 200"):
        limits.check_name("a" * 201, "approver")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (0, "--limit is 0, below the minimum of 1"),
        (100_001, "--limit is 100001, above the limit of 100000"),
        (2**63, "--limit is 9223372036854775808, above the limit of 100000"),
        pytest.param(
            10**5000,
            "--limit is a number of about 5001 digits, above the limit of 100000",
            id="10^5000",
        ),
        (True, "--limit must be a number, not bool"),
        (1.5, "--limit must be a whole number, not 1.5"),
    ],
)
def test_counts_are_bounded(value, message):
    with pytest.raises(InvalidInput) as refused:
        limits.check_count(value, "--limit")
    assert str(refused.value) == message


@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan")])
def test_durations_are_finite(value):
    with pytest.raises(InvalidInput, match="must be a finite number"):
        limits.check_seconds(value, "--idle")


def test_durations_are_bounded_where_datetime_and_postgres_integer_hold_them():
    assert limits.check_seconds(limits.MAX_SECONDS, "--sla") == 2**31 - 1
    with pytest.raises(InvalidInput, match="above the limit of 2147483647"):
        limits.check_seconds(limits.MAX_SECONDS + 1, "--sla")
    # Every bounded duration can be taken from and added to every supported timestamp.
    assert limits.EARLIEST_TIMESTAMP - dt.timedelta(seconds=limits.MAX_SECONDS)
    assert limits.LATEST_TIMESTAMP + dt.timedelta(seconds=limits.MAX_SECONDS)
    assert limits.MAX_DAYS * 86_400 <= limits.MAX_SECONDS


def test_timestamps_are_aware_and_in_range():
    at = dt.datetime(2026, 1, 1, 12, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    assert limits.check_timestamp(at, "timestamp") == dt.datetime(2026, 1, 1, 10, tzinfo=dt.UTC)
    with pytest.raises(InvalidInput, match="must be timezone-aware"):
        limits.check_timestamp(dt.datetime(2026, 1, 1), "timestamp")
    with pytest.raises(InvalidInput, match="outside the supported range 1970-01-01 to 3000-01-01"):
        limits.check_timestamp(dt.datetime(9999, 12, 31, tzinfo=dt.UTC), "timestamp")


def test_json_depth_is_measured_without_recursion():
    deep: list = []
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(InvalidInput, match="nested deeper than the limit of 32 levels"):
        limits.check_json_depth(deep, "details")
    assert limits.check_json_depth({"a": [{"b": 1}]}, "details")


def test_printable_shows_control_characters_and_keeps_the_rest():
    assert limits.printable("ok: café") == "ok: café"
    assert limits.printable(f"x{ESCAPES}\r\n\\") == "x\\x1b[2J\\x1b]0;title\\x07\\r\\n\\"
    assert limits.shown("x" * 100) == f"'{'x' * 60}…' (100 characters)"


class _Model(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(strict=True)
    code: limits.Identifier
    who: limits.Name
    wait: limits.Seconds = 1.0
    at: limits.Timestamp | None = None


def test_the_pydantic_types_run_the_same_checks():
    assert _Model(code="C", who=" bob ").who == "bob"
    with pytest.raises(pydantic.ValidationError) as refused:
        _Model(code="C\x1b", who="bob")
    assert refused.value.errors()[0]["msg"] == "contains the control character \\x1b at position 1"
    with pytest.raises(pydantic.ValidationError, match="must be a finite number"):
        _Model(code="C", who="bob", wait=float("inf"))
    with pytest.raises(pydantic.ValidationError, match="outside the supported range"):
        _Model(code="C", who="bob", at=dt.datetime(1, 1, 1, tzinfo=dt.UTC))


@pytest.mark.parametrize("char", ["a", "é", "\U0001f600"])
def test_a_json_document_is_held_to_its_size_in_utf8_bytes(char):
    """Counted in characters, text of 4-byte characters took four times the limit."""
    fits = {"k": char * ((limits.MAX_JSON_LINE_BYTES - 16) // len(char.encode()))}
    assert limits.json_document_problem(fits) is None
    over = {"k": char * (limits.MAX_JSON_LINE_BYTES // len(char.encode()) + 1)}
    assert limits.json_document_problem(over) == "is larger than the limit of 65536 bytes"
    key = char * (limits.MAX_JSON_LINE_BYTES // len(char.encode()) + 1)
    assert limits.json_document_problem({key: 1}) == "is larger than the limit of 65536 bytes"
