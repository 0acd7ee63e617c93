"""The relay's findings of the hostile-input probe (issue 14: R1-R6, S5, S6, F6), each
its reproduction through the CLI on SQLite and PostgreSQL: a refused sinks file is one
line and writes nothing; a hostile receiver leaves no row `delivering` and loses nothing."""

import json
import os

import pytest

from procobs_dagster.errors import EXIT_REFUSED
from procobs_dagster_tests.delivery.helpers import (
    SECRET,
    SECRET_ENV,
    Receiver,
    emit_events,
    state_counts,
    states,
)

WEBHOOK = "{name: hook, kind: webhook, url: '%s', secret_env: " + SECRET_ENV + "%s}"


def sinks_file(tmp_path, *entries: str):
    path = tmp_path / "sinks.yaml"
    path.write_text("sinks:\n" + "".join(f"  - {e}\n" for e in entries))
    return str(path)


@pytest.fixture
def receiver(monkeypatch):
    monkeypatch.setenv(SECRET_ENV, SECRET)
    server = Receiver()
    yield server
    server.close()


@pytest.mark.parametrize(
    ("setting", "problem"),
    [
        ("backoff_cap_seconds: .inf", "backoff_cap_seconds: Input should be a finite number"),
        ("backoff_cap_seconds: 1e12", "backoff_cap_seconds: Input should be less than or equal"),
        ("backoff_base_seconds: 1e12", "backoff_base_seconds: Input should be less than"),
        ("timeout_seconds: 1e-300", "timeout_seconds: Input should be greater than or equal"),
        ("dead_after_rejections: 2147483648", "dead_after_rejections: Input should be less"),
        ("dead_after_attempts: 100000000000000000000000000000", "dead_after_attempts: Input"),
    ],
)
@pytest.mark.parametrize("command", [("relay", "import-sinks"), ("relay", "run", "--sinks")])
def test_r1_r2_r5_a_sink_number_out_of_bounds_is_refused_before_anything_is_claimed(
    hostile, receiver, tmp_path, setting, problem, command
):
    emit_events(hostile.db, 2)
    path = sinks_file(tmp_path, WEBHOOK % (receiver.url, f", {setting}"))
    message = hostile.refused(*command, path, exit_code=EXIT_REFUSED)
    assert problem in message
    assert receiver.received() == []


@pytest.mark.parametrize("retry_after", ["²", "9" * 5000, "Fri, 31 Dec 9999 23:59:59 GMT"])
def test_r1_r3_a_hostile_retry_after_leaves_no_row_delivering(
    hostile, receiver, tmp_path, retry_after
):
    emit_events(hostile.db, 3)
    receiver.respond = lambda _id, _body: (503, {"Retry-After": retry_after})
    path = sinks_file(tmp_path, WEBHOOK % (receiver.url, ", backoff_cap_seconds: 60"))
    report = json.loads(hostile.ok("relay", "run", "--once", "--sinks", path, "--json").stdout)
    assert report["hook"]["retried"] == 3
    assert state_counts(hostile.db, "hook") == {"retry": 3}
    assert len(receiver.received()) == 3  # each POSTed once, none again


def test_r4_a_receivers_escape_sequences_are_not_stored(hostile, receiver, tmp_path):
    emit_events(hostile.db, 1)
    body = b"\x1b[2J\x1b[31mPWNED\x1b]0;title\x07 ok \r FAKE LINE"
    receiver.respond = lambda _id, _body: (400, {}, body)
    path = sinks_file(tmp_path, WEBHOOK % (receiver.url, ", dead_after_rejections: 1"))
    hostile.ok("relay", "run", "--once", "--sinks", path)
    (row,) = states(hostile.db, "hook").values()
    assert row["last_error"] == (
        "HTTP 400 Bad Request: \\x1b[2J\\x1b[31mPWNED\\x1b]0;title\\x07 ok FAKE LINE"
    )
    dead = hostile.ok("relay", "dead").stdout
    assert "\x1b" not in dead and "\x07" not in dead and "PWNED" in dead


def test_r6_relay_sinks_json_is_strict_json(hostile, tmp_path):
    path = sinks_file(tmp_path, f"{{name: f, kind: file, path: {tmp_path / 'e.jsonl'}}}")
    hostile.ok("relay", "import-sinks", path)
    listed = hostile.ok("relay", "sinks", "--json").stdout
    strict = json.loads(listed, parse_constant=lambda c: pytest.fail(f"not JSON: {c}"))
    assert [s["name"] for s in strict] == ["f"]


@pytest.mark.parametrize(
    "url",
    [
        "http://user:HookPass1@127.0.0.1:18504/x",
        "http://127.0.0.1:18504/x?token=HookTok2&sig=HookTok3",
        "https://hooks.example.com/x#HookTok4",
    ],
)
def test_s5_a_webhook_url_with_a_secret_is_refused_pointing_to_secret_env(hostile, tmp_path, url):
    message = hostile.refused(
        "relay", "import-sinks", sinks_file(tmp_path, WEBHOOK % (url, "")), exit_code=1
    )
    assert "credentials, a query or a fragment" in message and "secret_env" in message
    assert "Hook" not in message


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://[fe80::1]/x",
        "http://[fd00:ec2::254]/latest/meta-data/",
        "http://2852039166/latest/",
    ],
)
def test_s6_a_metadata_destination_is_refused_unless_the_sink_allows_it(hostile, tmp_path, url):
    refused = sinks_file(tmp_path, WEBHOOK % (url, ""))
    message = hostile.refused("relay", "import-sinks", refused, exit_code=EXIT_REFUSED)
    assert "set allow_link_local: true on the sink to allow it" in message
    allowed = sinks_file(tmp_path, WEBHOOK % (url, ", allow_link_local: true"))
    assert "stored 1 sink(s): hook" in hostile.ok("relay", "import-sinks", allowed).stdout


def test_f6_a_file_sink_that_is_no_regular_file_is_refused_without_hanging(hostile, tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    emit_events(hostile.db, 2)
    for target in (fifo, tmp_path, "/dev/null"):
        path = sinks_file(tmp_path, f"{{name: f, kind: file, path: '{target}'}}")
        message = hostile.refused(
            "relay", "run", "--once", "--sinks", path, exit_code=EXIT_REFUSED, timeout=20
        )
        assert message == (
            f"sink 'f': cannot append to {target}: not a regular file (a FIFO, a device or "
            "a directory)"
        )
    nul = sinks_file(tmp_path, '{name: f, kind: file, path: "/tmp/a\\0b.jsonl"}')
    message = hostile.refused("relay", "import-sinks", nul, exit_code=EXIT_REFUSED)
    assert "path contains the control character \\x00" in message


def test_more_sinks_than_the_bound_are_refused_in_a_file_and_in_the_table(hostile, tmp_path):
    # 30,000 null sinks were stored, and a relay pass then fanned every event out to each.
    null = "{name: n%d, kind: 'null'}"
    too_many = sinks_file(tmp_path, *(null % i for i in range(101)))
    message = hostile.refused("relay", "import-sinks", too_many, exit_code=EXIT_REFUSED)
    assert message.endswith(": 101 sinks, at most 100 (each event is delivered to every sink)")

    first = sinks_file(tmp_path, *(null % i for i in range(60)))
    assert "stored 60 sink(s)" in hostile.ok("relay", "import-sinks", first).stdout
    more = sinks_file(tmp_path, *(null % i for i in range(30, 90)))  # 30 new ones
    assert "stored 60 sink(s)" in hostile.ok("relay", "import-sinks", more).stdout
    past = sinks_file(tmp_path, *(null % i for i in range(90, 101)))  # 11 new: 101 in all
    message = hostile.refused("relay", "import-sinks", past, exit_code=EXIT_REFUSED)
    assert message == (
        "101 sinks in delivery_sink with these, at most 100 (each event is delivered to every sink)"
    )
