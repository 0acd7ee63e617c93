"""A receiver that answers with hostile headers and bodies cannot stop the relay, make it
wait longer than the sink's cap, or put control characters into what procobs stores."""

import random

import pytest

from procobs_dagster.delivery import Relay
from procobs_dagster.delivery.config import BACKOFF_MAX
from procobs_dagster.delivery.sinks import ERROR_TEXT_LIMIT, RETRY_AFTER_MAX_SECONDS
from procobs_dagster.delivery.sinks import retry_after_seconds as parse_retry_after
from procobs_dagster.limits import is_control
from procobs_dagster_tests.delivery.helpers import emit_events, state_counts, states, webhook_config

NOW = 1_700_000_000.0
CAP = 40.0
FAR = "Fri, 31 Dec 9999 23:59:59 GMT"


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("120", 120.0),
        (" 7 ", 7.0),
        ("0", 0.0),
        ("99999999999999999", RETRY_AFTER_MAX_SECONDS),
        ("9" * 5000, RETRY_AFTER_MAX_SECONDS),  # int() of it alone would raise
        (FAR, RETRY_AFTER_MAX_SECONDS),
        ("Thu, 01 Jan 1970 00:00:00 GMT", 0.0),  # in the past: due now
        ("²", None),  # str.isdigit() says yes, float() says no
        ("\u0661\u0662\u0660", None),  # Arabic-Indic digits
        ("-5", None),
        ("1e9", None),
        ("inf", None),
        ("nan", None),
        ("Fri, 31 Dec 99999 23:59:59 GMT", None),
        ("Fri, 31 Dec 9999 23:59:59", None),  # no zone
        ("\x00", None),
        ("", None),
        (None, None),
    ],
)
def test_retry_after_is_a_bounded_number_or_nothing(header, seconds):
    assert parse_retry_after(header, NOW) == seconds


HOSTILE_RETRY_AFTER = ["9" * 5000, "99999999999999999", FAR]


# The longest cap a sink may have, too: its due time is still a valid datetime.
@pytest.mark.parametrize("cap", [CAP, BACKOFF_MAX])
@pytest.mark.parametrize("retry_after", HOSTILE_RETRY_AFTER)
def test_a_huge_retry_after_is_clamped_to_the_sinks_cap(
    db, receiver, secret_env, clock, retry_after, cap
):
    emit_events(db, 3)
    receiver.respond = lambda _id, _body: (503, {"Retry-After": retry_after})
    config = webhook_config(receiver.url, backoff_cap_seconds=cap)
    with Relay(db, [config], clock=clock, rng=random.Random(1)) as relay:
        report = relay.run_once()
        assert report.total("retried") == 3 and report.total("unrecorded") == 0
        for row in states(db).values():
            assert row["state"] == "retry"
            assert (row["next_attempt_at"] - clock()).total_seconds() == pytest.approx(cap)
        assert relay.run_once().total("claimed") == 0  # nothing is asked again early
        clock.advance(cap)
        receiver.respond = lambda _id, _body: 200
        assert relay.run_once().total("delivered") == 3
    assert state_counts(db, "hook") == {"delivered": 3}
    assert len(receiver.received()) == 6


@pytest.mark.parametrize("retry_after", ["²", "\u0661\u0662\u0660", "-5", "1e400", "nan"])
def test_a_retry_after_that_is_no_number_leaves_the_usual_backoff(
    db, receiver, secret_env, clock, retry_after
):
    """The probe's R3: '²' crashed the relay with default settings, every cycle."""
    emit_events(db, 2)
    receiver.respond = lambda _id, _body: (503, {"Retry-After": retry_after})
    with Relay(db, [webhook_config(receiver.url)], clock=clock) as relay:
        assert relay.run_once().total("retried") == 2
    for row in states(db).values():
        # The first backoff: the base (1 s), less up to half of it as jitter.
        assert 0.5 <= (row["next_attempt_at"] - clock()).total_seconds() <= 1.0


HOSTILE_BODY = (
    b"\x1b[2J\x1b[31mPWNED\x1b]0;title\x07 ok \r\nFAKE LINE\x00 nul \xff\xfe "
    + "\u202eevil\u2028next".encode()
)


def test_error_text_from_a_receiver_is_stored_bounded_and_without_control_characters(
    db, receiver, secret_env, clock
):
    """The probe's R4 (escape sequences stored raw), and a NUL that PostgreSQL cannot
    store in text at all: either would have reached the terminal or stopped the relay."""
    emit_events(db, 2)
    receiver.respond = lambda _id, _body: (400, {}, HOSTILE_BODY + b"x" * 1_000_000)
    config = webhook_config(receiver.url, dead_after_rejections=1)
    with Relay(db, [config], clock=clock) as relay:
        report = relay.run_once()
    assert report.total("dead") == 2 and report.total("unrecorded") == 0
    for row in states(db).values():
        stored = [row["last_error"], *(e["error"] for e in row["errors"])]
        for text in stored:
            assert text.startswith("HTTP 400 Bad Request: ")
            assert "PWNED" in text and "FAKE LINE" in text
            assert not any(is_control(ch) for ch in text)
            assert len(text) <= ERROR_TEXT_LIMIT


def test_a_redirect_to_anywhere_is_a_rejection_not_followed(db, receiver, secret_env, clock):
    emit_events(db, 1)
    receiver.respond = lambda _id, _body: (307, {"Location": "http://169.254.169.254/"})
    config = webhook_config(receiver.url, dead_after_rejections=1)
    with Relay(db, [config], clock=clock) as relay:
        assert relay.run_once().total("dead") == 1
    assert len(receiver.received()) == 1
