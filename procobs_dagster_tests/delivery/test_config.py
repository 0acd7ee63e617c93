import logging
import os
import textwrap

import pytest
import sqlalchemy as sa

from procobs_dagster.delivery import (
    Relay,
    SinkConfig,
    load_sinks_file,
    load_sinks_table,
    save_sinks,
    select_sinks,
)
from procobs_dagster.errors import ConfigurationError
from procobs_dagster.store.tables import delivery_sink
from procobs_dagster_tests.databases import every_value
from procobs_dagster_tests.delivery.helpers import SECRET, SECRET_ENV, emit_events, webhook_config

GOOD = """
sinks:
  - name: saas
    kind: webhook
    url: https://hooks.example.com/procobs
    secret_env: PROCOBS_TEST_WEBHOOK_SECRET
    timeout_seconds: 5
    ordered: true
    event_types: [process.run.started, process.run.failed]
  - name: archive
    kind: file
    path: /tmp/events.jsonl
  - name: devnull
    kind: "null"
    enabled: false
"""


def _write(tmp_path, text):
    path = tmp_path / "sinks.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def test_a_sinks_file_is_read_and_validated(tmp_path):
    saas, archive, devnull = load_sinks_file(_write(tmp_path, GOOD))
    assert saas.kind == "webhook" and saas.ordered and saas.timeout_seconds == 5
    assert saas.event_types == ("process.run.started", "process.run.failed")
    assert saas.redacted_url == "https://hooks.example.com/procobs"
    assert archive.path == "/tmp/events.jsonl" and not devnull.enabled
    assert [c.name for c in select_sinks([saas, archive, devnull], [])] == ["saas", "archive"]
    assert [c.name for c in select_sinks([saas, archive, devnull], ["devnull"])] == ["devnull"]
    with pytest.raises(ConfigurationError, match="unknown sink 'nope'"):
        select_sinks([saas], ["nope"])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("sinks:\n  - {name: a, kind: webhook, secret_env: X}", "a webhook sink needs url"),
        ("sinks:\n  - {name: a, kind: webhook, url: 'http://h/'}", "needs secret_env"),
        ("sinks:\n  - {name: a, kind: file}", "a file sink needs path"),
        ("sinks:\n  - {name: a, kind: 'null', url: 'http://h/'}", "url does not apply"),
        ("sinks:\n  - {name: a, kind: webhook, url: 'ftp://h/', secret_env: X}", "http"),
        ("sinks:\n  - {name: a, kind: smtp}", "kind"),
        ("sinks:\n  - {name: a, kind: 'null', colour: red}", "colour"),
        ("sinks:\n  - {name: a, kind: 'null', event_types: [no.such]}", "no.such"),
        # Pasting the secret itself where its variable's name belongs is refused.
        ("sinks:\n  - {name: a, kind: webhook, url: 'http://h/', secret_env: 'k3y!/+'}", "secret"),
        ("sinks:\n  - {name: a, kind: 'null'}\n  - {name: a, kind: 'null'}", "configured twice"),
        ("sink: []", "top-level key 'sinks'"),
        ("sinks: {a: 1}", "must be a list"),
        ("sinks: [\n", "not valid YAML"),
    ],
)
def test_a_bad_sinks_file_is_one_clear_error(tmp_path, text, message):
    with pytest.raises(ConfigurationError, match=message) as caught:
        load_sinks_file(_write(tmp_path, text))
    assert "\n" not in str(caught.value)


def test_sinks_round_trip_through_the_table_without_the_secret(db, tmp_path, secret_env):
    configs = load_sinks_file(_write(tmp_path, GOOD))
    with db.begin() as conn:
        save_sinks(conn, configs)
        save_sinks(conn, [configs[1].model_copy(update={"path": "/tmp/other.jsonl"})])
    with db.read() as conn:
        loaded = load_sinks_table(conn).configs
        stored = " ".join(str(v) for row in conn.execute(sa.select(delivery_sink)) for v in row)
    assert {c.name: c for c in loaded}["archive"].path == "/tmp/other.jsonl"
    assert {c.name: c for c in loaded}["saas"] == configs[0]
    assert SECRET_ENV in stored and SECRET not in stored


def test_a_misconfigured_sink_fails_when_the_relay_starts(db, tmp_path, monkeypatch):
    monkeypatch.delenv(SECRET_ENV, raising=False)
    with pytest.raises(ConfigurationError, match=f"{SECRET_ENV} is not set"):
        Relay(db, [webhook_config("http://127.0.0.1:9/")])
    monkeypatch.setenv(SECRET_ENV, "")
    with pytest.raises(ConfigurationError, match=f"{SECRET_ENV} is not set"):
        Relay(db, [webhook_config("http://127.0.0.1:9/")])
    missing_dir = SinkConfig(name="f", kind="file", path=str(tmp_path / "no" / "such.jsonl"))
    with pytest.raises(ConfigurationError, match="does not exist"):
        Relay(db, [missing_dir])
    monkeypatch.setenv(SECRET_ENV, SECRET)
    with pytest.raises(ConfigurationError, match="lease of 10s is too short"):
        Relay(db, [webhook_config("http://127.0.0.1:9/", timeout_seconds=5)], lease_seconds=10)
    with pytest.raises(ConfigurationError, match="configured twice"):
        Relay(db, [SinkConfig(name="n", kind="null")] * 2)
    with pytest.raises(ConfigurationError, match="no sinks"):
        Relay(db, [])


def test_the_secret_appears_nowhere_but_the_signature(
    db, receiver, secret_env, clock, caplog, tmp_path
):
    caplog.set_level(logging.DEBUG)
    emit_events(db, 3)
    receiver.respond = lambda event_id, _body: 503
    hook = webhook_config(receiver.url, dead_after_attempts=1)
    with db.begin() as conn:
        save_sinks(conn, [hook])
    with Relay(db, [hook], clock=clock) as relay:
        relay.run_once()
    assert len(receiver.received()) == 3
    everything = every_value(db) + caplog.text
    assert SECRET_ENV in everything and SECRET not in everything
    assert all(SECRET.encode() not in r.body for r in receiver.received())


WEBHOOK = "name: a, kind: webhook, url: 'http://h/', secret_env: X"


@pytest.mark.parametrize(
    ("setting", "problem"),
    [
        ("timeout_seconds: .inf", "timeout_seconds: Input should be a finite number"),
        ("timeout_seconds: .nan", "timeout_seconds: Input should be a finite number"),
        ("timeout_seconds: 1e300", "timeout_seconds: Input should be less than or equal to 600"),
        ("timeout_seconds: 1e-300", "greater than or equal to 0.1"),
        ("dead_after_rejections: 2147483648", "less than or equal to 1000000"),
        ("dead_after_rejections: 9223372036854775808", "less than or equal to 1000000"),
        (f"dead_after_attempts: {10**29}", "less than or equal to 1000000"),
        ("dead_after_attempts: 0", "greater than or equal to 1"),
        ("backoff_base_seconds: 1e12", "less than or equal to 604800"),
        ("backoff_cap_seconds: .inf", "backoff_cap_seconds: Input should be a finite number"),
        ("backoff_cap_seconds: 1e300", "less than or equal to 604800"),
        ("backoff_cap_seconds: -.inf", "finite number"),
        ("backoff_base_seconds: 0", "greater than or equal to 0.01"),
    ],
)
def test_every_sink_number_is_finite_and_bounded(tmp_path, setting, problem):
    """The probe's R1, R2 and R5: caps and bases that overflowed the relay's date
    arithmetic, and counts PostgreSQL's INTEGER cannot hold, were accepted."""
    with pytest.raises(ConfigurationError) as caught:
        load_sinks_file(_write(tmp_path, f"sinks:\n  - {{{WEBHOOK}, {setting}}}"))
    assert problem in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("path", "problem"),
    [
        ('""', "path must not be empty"),
        ('" "', "path must not be empty"),
        ('"/tmp/a\\0b.jsonl"', "path contains the control character \\x00 at position 6"),
        ('"/tmp/\\e[2Jx\\nFAKE.jsonl"', "path contains the control character \\x1b"),
        (f'"/{"x" * 5000}"', "over the limit of 4000"),
    ],
)
def test_a_file_sink_path_is_a_plain_file_name(tmp_path, path, problem):
    with pytest.raises(ConfigurationError) as caught:
        load_sinks_file(_write(tmp_path, f"sinks:\n  - {{name: f, kind: file, path: {path}}}"))
    assert problem in str(caught.value) and "\n" not in str(caught.value)


def test_a_file_sink_appends_only_to_a_regular_file(db, tmp_path):
    """The probe's F6: a FIFO hung the relay at start, a device or directory failed only
    when written to. Each is refused when the relay starts, without waiting on it."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    (tmp_path / "adir").mkdir()
    link = tmp_path / "link-to-fifo"
    link.symlink_to(fifo)
    for path in (fifo, link, tmp_path / "adir", "/dev/null"):
        config = SinkConfig(name="f", kind="file", path=str(path))
        with pytest.raises(ConfigurationError) as caught:
            Relay(db, [config])
        assert str(caught.value) == (
            f"sink 'f': cannot append to {path}: not a regular file (a FIFO, a device or a "
            "directory)"
        )
    existing = tmp_path / "events.jsonl"
    existing.write_text('{"earlier": 1}\n')
    with Relay(db, [SinkConfig(name="f", kind="file", path=str(existing))]):
        pass
    assert existing.read_text() == '{"earlier": 1}\n'


# --- strict: the forms YAML writes pass, a value of another type is refused -------------


def test_every_documented_form_of_a_sinks_file_passes(tmp_path):
    """The example of docs/delivery.md: whole numbers where decimals are kept, a flow and
    a block list of event types, null for "none", 1e3-style and YAML 1.1 numbers."""
    hook, archive = load_sinks_file(
        _write(
            tmp_path,
            """
            sinks:
              - name: saas
                kind: webhook
                url: https://hooks.example.com/procobs
                secret_env: PROCOBS_SAAS_WEBHOOK_SECRET
                timeout_seconds: 10
                dead_after_rejections: 5
                dead_after_attempts: null
                backoff_base_seconds: 1.5e0
                backoff_cap_seconds: 3e2
                ordered: true
                enabled: yes
                event_types: [process.run.failed]
              - name: archive
                kind: file
                path: /var/lib/procobs/events.jsonl
                timeout_seconds: 0.5
                event_types:
                  - process.run.started
                  - process.run.failed
            """,
        )
    )
    assert hook.timeout_seconds == 10.0 and isinstance(hook.timeout_seconds, float)
    assert (hook.backoff_base_seconds, hook.backoff_cap_seconds) == (1.5, 300.0)
    assert hook.dead_after_attempts is None and hook.ordered and hook.enabled
    assert hook.event_types == ("process.run.failed",)
    assert archive.event_types == ("process.run.started", "process.run.failed")
    assert archive.timeout_seconds == 0.5


@pytest.mark.parametrize(
    ("setting", "problem"),
    [
        ('ordered: "true"', "ordered: Input should be a valid boolean"),
        ('enabled: "false"', "enabled: Input should be a valid boolean"),
        ("ordered: 1", "ordered: Input should be a valid boolean"),
        ('timeout_seconds: "5"', "timeout_seconds: Input should be a valid number"),
        ("timeout_seconds: true", "timeout_seconds: Input should be a valid number"),
        ("dead_after_rejections: 5.0", "dead_after_rejections: Input should be a valid integer"),
        ('dead_after_rejections: "5"', "dead_after_rejections: Input should be a valid integer"),
        ('backoff_cap_seconds: "1e3"', "backoff_cap_seconds: Input should be a valid number"),
        ("event_types: process.run.failed", "event_types: Input should be a valid tuple"),
        (
            "event_types: [1]",
            "event_types.0: Input should be a valid string (YAML read it as the int 1: quote it "
            "to keep it text)",
        ),
        ('allow_link_local: "yes"', "allow_link_local: Input should be a valid boolean"),
    ],
)
def test_a_sinks_file_value_of_another_type_is_refused_not_converted(tmp_path, setting, problem):
    with pytest.raises(ConfigurationError) as caught:
        load_sinks_file(_write(tmp_path, f"sinks:\n  - {{{WEBHOOK}, {setting}}}"))
    assert str(caught.value).endswith(f"sinks.yaml[0] sink 'a': {problem}")
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("sink", "problem"),
    [
        (
            "{name: 7, kind: 'null'}",
            "sink 7: name: Input should be a valid string (YAML read it as the int 7: quote it",
        ),
        (
            "{name: 1e3, kind: 'null'}",
            "sink 1000.0: name: Input should be a valid string (YAML read it as the float 1000.0",
        ),
        (
            "{name: a, kind: null}",
            "sink 'a': kind: Input should be 'webhook', 'file' or 'null' (YAML read it as null:",
        ),
        ("{name: a, kind: 'null', event_types: [1e3]}", "(YAML read it as the float 1000.0"),
    ],
)
def test_text_yaml_reads_as_no_text_is_refused_saying_so(tmp_path, sink, problem):
    # The message shows 1000.0 where the file says 1e3: it says why, and what to do.
    with pytest.raises(ConfigurationError) as caught:
        load_sinks_file(_write(tmp_path, f"sinks:\n  - {sink}"))
    assert problem in str(caught.value)
    assert str(caught.value).endswith(": quote it to keep it text)")


def test_a_number_for_a_number_gets_no_yaml_hint(tmp_path):
    with pytest.raises(ConfigurationError) as caught:
        load_sinks_file(_write(tmp_path, f"sinks:\n  - {{{WEBHOOK}, max_attempts: 1e3}}"))
    assert "YAML read" not in str(caught.value)


def test_a_stored_sink_is_read_back_alike_on_both_databases(db):
    """event_types comes back from the JSON column as a list on either database; a row
    whose event_types is no list (a hand-written UPDATE) is left aside, named."""
    hook = webhook_config(
        "http://127.0.0.1:9/", timeout_seconds=5, ordered=True, event_types=["process.run.failed"]
    )
    with db.begin() as conn:
        save_sinks(conn, [hook, SinkConfig(name="plain", kind="null", dead_after_attempts=3)])
        conn.execute(
            sa.insert(delivery_sink),
            {"name": "texty", "kind": "null", "event_types": "process.run.failed"},
        )
    with db.read() as conn:
        stored = load_sinks_table(conn)
    assert {c.name: c for c in stored.configs} == {
        "plain": SinkConfig(name="plain", kind="null", dead_after_attempts=3),
        hook.name: hook,
    }
    (texty,) = stored.unusable
    assert texty.key == "texty"
    assert "event_types: Input should be a valid tuple" in str(texty)
