import functools
import importlib
import json

import pytest

from procobs_dagster import delivery
from procobs_dagster.cli.relay import _default_actor
from procobs_dagster.delivery import Relay, SinkConfig
from procobs_dagster.errors import EXIT_REFUSED, EXIT_USAGE
from procobs_dagster.store.tables import delivery_state
from procobs_dagster_tests.delivery.helpers import (
    SECRET,
    SECRET_ENV,
    Receiver,
    emit_events,
    state_counts,
    webhook_config,
    write_sinks_file,
)
from procobs_dagster_tests.hostile import Hostile, row_counts


@pytest.fixture
def archive(tmp_path):
    config = SinkConfig(name="archive", kind="file", path=str(tmp_path / "events.jsonl"))
    return config, write_sinks_file(tmp_path / "sinks.yaml", config)


def test_run_once_then_status(db, procobs, archive, tmp_path):
    _, sinks_file = archive
    emit_events(db, 3)
    report = procobs.json("relay", "run", "--once", "--sinks", str(sinks_file))
    assert report["archive"]["delivered"] == 3
    assert len((tmp_path / "events.jsonl").read_text().splitlines()) == 3
    (row,) = procobs.json("relay", "status")
    assert row["sink"] == "archive" and row["delivered"] == 3 and row["pending"] == 0
    assert row["oldest_undelivered_age_seconds"] is None and row["outbox_unscanned"] == 0
    assert "archive" in procobs("relay", "status").stdout
    assert "one cycle" in procobs("relay", "run", "--once", "--sinks", str(sinks_file)).stdout


def test_sinks_from_the_table_and_the_sink_filter(db, procobs, archive, monkeypatch):
    _, sinks_file = archive
    monkeypatch.delenv(SECRET_ENV, raising=False)
    assert "stored 1 sink(s): archive" in procobs("relay", "import-sinks", str(sinks_file)).stdout
    (shown,) = procobs.json("relay", "sinks")
    assert shown["name"] == "archive" and shown["kind"] == "file"
    emit_events(db, 2)
    assert procobs.json("relay", "run", "--once", "--sink", "archive")["archive"]["delivered"] == 2
    error = procobs("relay", "run", "--once", "--sink", "nope", expect_exit=1).stderr
    assert "unknown sink 'nope' (configured: archive)" in error


def test_a_misconfigured_sink_is_an_error_at_start(db, procobs, tmp_path, monkeypatch):
    monkeypatch.delenv(SECRET_ENV, raising=False)
    sinks_file = write_sinks_file(tmp_path / "s.yaml", webhook_config("http://127.0.0.1:9/"))
    emit_events(db, 1)
    result = procobs("relay", "run", "--once", "--sinks", str(sinks_file), expect_exit=1)
    assert result.stderr.strip() == (
        f"procobs: error: sink 'hook': environment variable {SECRET_ENV} is not set "
        "(it must hold the webhook's signing secret)"
    )
    assert state_counts(db, "hook") == {}  # nothing was claimed
    (shown,) = procobs.json("relay", "sinks", "--sinks", str(sinks_file))
    assert shown["secret_env"] == SECRET_ENV and shown["secret_set"] is False
    empty = write_sinks_file(tmp_path / "empty.yaml")
    assert (
        "no enabled sinks" in procobs("relay", "run", "--sinks", str(empty), expect_exit=1).stderr
    )
    assert "no sinks configured" in procobs("relay", "sinks").stdout


def test_dead_and_redrive(db, procobs, tmp_path, monkeypatch):
    monkeypatch.setenv(SECRET_ENV, SECRET)
    receiver = Receiver()
    try:
        receiver.respond = lambda _id, _body: 400
        hook = webhook_config(receiver.url, dead_after_rejections=1)
        sinks_file = write_sinks_file(tmp_path / "s.yaml", hook)
        first, second = emit_events(db, 2)
        assert (
            procobs.json("relay", "run", "--once", "--sinks", str(sinks_file))["hook"]["dead"] == 2
        )
        dead = procobs.json("relay", "dead")
        assert {d["event_id"] for d in dead} == {str(first), str(second)}
        assert dead[0]["last_error"].startswith("HTTP 400") and len(dead[0]["errors"]) == 1
        assert "HTTP 400" in procobs("relay", "dead", "--sink", "hook").stdout
        assert procobs("relay", "dead", "--sink", "other").stdout.strip() == "no dead deliveries"
        receiver.respond = lambda _id, _body: 200
        assert "redriven: 1" in procobs("relay", "redrive", str(first), "--actor", "ops").stdout
        procobs("relay", "run", "--once", "--sinks", str(sinks_file))
        assert state_counts(db, "hook") == {"delivered": 1, "dead": 1}
        # A delivered event is replayed when named; a pending one is left alone.
        out = procobs.json("relay", "redrive", str(first), str(second))
        assert len(out["redriven"]) == 2 and out["skipped"] == []
        assert procobs.json("relay", "redrive", str(first))["skipped"][0]["state"] == "pending"
        procobs("relay", "run", "--once", "--sinks", str(sinks_file))
        assert state_counts(db, "hook") == {"delivered": 2}
        assert receiver.event_ids().count(str(first)) == 2
        # The probe's E2: a misspelt sink redrove nothing and reported success.
        before = row_counts(db)
        typo = procobs("relay", "redrive", "--all", "--sink", "hookk", expect_exit=1)
        assert typo.stderr == (
            "procobs: error: no delivery to sink 'hookk' at all (sinks with deliveries: 'hook')\n"
        )
        assert row_counts(db) == before
    finally:
        receiver.close()


def test_redrive_input_errors_write_nothing(db, procobs):
    (event_id,) = emit_events(db, 1)
    assert procobs("relay", "redrive", expect_exit=2).exit_code == 2
    assert procobs("relay", "redrive", str(event_id), "--all", expect_exit=2).exit_code == 2
    assert "malformed event_id" in procobs("relay", "redrive", "42", expect_exit=1).stderr
    assert (
        f"no delivery of event {event_id}"
        in procobs("relay", "redrive", str(event_id), expect_exit=1).stderr
    )
    assert json.loads(procobs("relay", "redrive", "--all", "--json").stdout)["redriven_count"] == 0
    # Nothing was audited: no redrive id to look for.
    assert procobs("relay", "redrive", "--all").stdout == "redriven: nothing (no dead delivery)\n"


@pytest.mark.parametrize(
    "args",
    [
        ("--all", "--batch", "0"),
        ("--all", "--batch", "10001"),
        ("--all", "--batch", "many"),
    ],
)
def test_a_bad_redrive_batch_size_is_refused(hostile, args):
    emit_events(hostile.db, 1)
    message = hostile.refused("relay", "redrive", *args, exit_code=EXIT_USAGE)
    assert "Invalid value for '--batch'" in message


def test_redrive_batch_goes_with_all_and_named_events_are_bounded(db, procobs):
    (event_id,) = emit_events(db, 1)
    before = row_counts(db)
    refused = procobs("relay", "redrive", str(event_id), "--batch", "5", expect_exit=2)
    assert "--batch goes with --all" in refused.stderr
    too_many = procobs("relay", "redrive", *[str(event_id)] * 1001, expect_exit=2)
    assert "at most 1,000 EVENT_IDs, got 1,001" in too_many.stderr
    assert row_counts(db) == before


def test_redrive_all_goes_in_batches_with_progress(db, procobs, monkeypatch):
    relay_cli = importlib.import_module("procobs_dagster.cli.relay")  # not the group
    ids = emit_events(db, 5)
    with Relay(db, [SinkConfig(name="nowhere", kind="null")]) as relay_:
        relay_.run_once()
    with db.begin() as conn:
        conn.execute(delivery_state.update().values(state="dead", attempts=1, delivered_at=None))
    lines: list[str] = []
    monkeypatch.setattr(
        relay_cli,
        "batch_progress",
        lambda as_json: lambda p: lines.append(f"{p.job}: batch {p.batch}: {p.counts}"),
    )
    text = procobs("relay", "redrive", "--all", "--batch", "2", "--actor", "ops").stdout
    assert text.startswith("redriven: 5 delivery(ies) in 3 batches (redrive ")
    assert lines == [
        f"relay redrive: batch {n}: {{'redriven': {k}}}" for n, k in [(1, 2), (2, 2), (3, 1)]
    ]
    assert state_counts(db, "nowhere") == {"pending": len(ids)}


def test_a_redrive_batch_past_the_statement_timeout_is_a_one_line_error(postgres_db, monkeypatch):
    """The CLI keeps the default timeout (30 s); a shorter one here, so the test is quick."""
    db = postgres_db
    emit_events(db, 3)
    with Relay(db, [SinkConfig(name="nowhere", kind="null")]) as relay_:
        relay_.run_once()
    with db.begin() as conn:
        conn.execute(delivery_state.update().values(state="dead", attempts=1, delivered_at=None))
    short = functools.partial(delivery.redrive_dead, statement_timeout_seconds=0.5)
    monkeypatch.setattr(delivery, "redrive_dead", short)
    with db.connect() as blocker, blocker.begin():
        # The batch's audit record cannot be written: the batch waits, and is cancelled.
        blocker.exec_driver_sql("LOCK TABLE audit_log IN EXCLUSIVE MODE")
        message = Hostile(db).refused("relay", "redrive", "--all", exit_code=EXIT_REFUSED)
    assert message == (
        "relay redrive: a statement ran past the 0.5 s statement timeout; the batch was rolled back"
    )
    assert state_counts(db, "nowhere") == {"dead": 3}


@pytest.mark.parametrize(("option", "value"), [("--lease", "86401"), ("--idle", "3601")])
def test_relay_durations_keep_the_relays_own_bounds(hostile, archive, option, value):
    """Tighter than any duration (test_probe_bounds): a dead relay's claims wait a day at
    most, and an idle relay looks for work at least hourly."""
    _, sinks_file = archive
    message = hostile.refused(
        "relay", "run", "--sinks", str(sinks_file), option, value, exit_code=EXIT_USAGE
    )
    assert f"Invalid value for '{option}'" in message


@pytest.mark.parametrize(
    ("user", "actor"),
    [
        ("alice", "alice"),
        (" ops ", "ops"),
        (" ", "procobs"),
        ("a\x1b[2Jb", "procobs"),
        (None, "procobs"),
    ],
)
def test_the_default_actor_is_user_when_the_audit_log_takes_it(monkeypatch, user, actor):
    # A USER the audit log refuses made `relay redrive` a usage error naming --actor,
    # which the user never passed.
    if user is None:
        monkeypatch.delenv("USER", raising=False)
    else:
        monkeypatch.setenv("USER", user)
    assert _default_actor() == actor


@pytest.mark.parametrize(
    ("setting", "problem"),
    [
        ('ordered: "true"', "ordered: Input should be a valid boolean"),
        ('timeout_seconds: "5"', "timeout_seconds: Input should be a valid number"),
        ("dead_after_rejections: 2.0", "dead_after_rejections: Input should be a valid integer"),
    ],
)
def test_a_sinks_file_value_of_another_type_is_one_line_exit_1_and_writes_nothing(
    db, procobs, tmp_path, setting, problem
):
    sinks_file = tmp_path / "sinks.yaml"
    sinks_file.write_text(f"sinks:\n  - {{name: n, kind: 'null', {setting}}}\n")
    emit_events(db, 1)
    before = row_counts(db)
    for command in (("relay", "import-sinks", str(sinks_file)), ("relay", "run", "--once")):
        args = command if command[1] == "import-sinks" else (*command, "--sinks", str(sinks_file))
        result = procobs(*args, expect_exit=EXIT_REFUSED)
        assert result.stderr == f"procobs: error: {sinks_file}[0] sink 'n': {problem}\n"
        assert row_counts(db) == before
