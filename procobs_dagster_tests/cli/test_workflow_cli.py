"""`procobs serve` refusals and `procobs workflow ingest | replay | settle | runs`."""

import datetime as dt
import json
import os
import socket

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from procobs_dagster.cli import main
from procobs_dagster.discovery.catalog import EMPTY_CATALOG
from procobs_dagster.errors import EXIT_REFUSED, ConfigurationError
from procobs_dagster.sources import dagster_runs
from procobs_dagster.sources.dagster_runs import (
    DagsterRun,
    ProcobsLocation,
    RunChange,
    RunChangeKind,
)
from procobs_dagster.sources.openlineage import mapping, receiver
from procobs_dagster.store.tables import workflow_run
from procobs_dagster.store.types import JSONDoc
from procobs_dagster_tests.sources.helpers import T0, dag_run, ledger_snapshot, ol_event, run_id


def _jsonl(path, events) -> str:
    path.write_text("\n".join(json.dumps(e) for e in events) + "\n")
    return str(path)


def _snapshot(db) -> dict:
    with db.read() as conn:
        return ledger_snapshot(conn)


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.20", "procobs.example.org"])
def test_serve_without_keys_refuses_a_non_loopback_address(procobs, monkeypatch, host):
    monkeypatch.delenv("PROCOBS_API_KEYS", raising=False)
    result = procobs("serve", "--host", host, expect_exit=1)
    assert result.stderr == (
        f"procobs: error: no API keys configured (PROCOBS_API_KEYS): refusing to listen on "
        f"{host}, which is not a loopback address; set keys or listen on 127.0.0.1\n"
    )


def test_serve_refuses_a_short_key_without_showing_it(procobs, monkeypatch):
    monkeypatch.setenv("PROCOBS_API_KEYS", "a-long-enough-key-0123, short")
    result = procobs("serve", expect_exit=1)
    assert result.stderr.strip() == (
        "procobs: error: PROCOBS_API_KEYS: key 2 is shorter than 16 characters"
    )
    assert "short" not in result.stderr.replace("shorter", "")


@pytest.mark.parametrize(
    "key", ["clé-très-secrète-0123", "a-long-enough-key\u200b0123", "a-long-enough-key\u00a00123"]
)
def test_serve_refuses_a_key_no_client_can_send_without_showing_it(procobs, monkeypatch, key):
    """A header is ASCII: curl sent such a key as UTF-8, which never matched (401 for
    every request), and httpx would not send it at all."""
    keys = f"a-long-enough-key-0123,{key}"
    with pytest.raises(ConfigurationError, match="key 2 holds a character other than"):
        receiver.api_keys_from_env({receiver.API_KEYS_ENV: keys})  # (serve would start)
    monkeypatch.setenv("PROCOBS_API_KEYS", keys)
    result = procobs("serve", expect_exit=1)
    assert result.stderr == (
        "procobs: error: PROCOBS_API_KEYS: key 2 holds a character other than printable "
        "ASCII (a space, a control character or a letter outside ASCII)\n"
    )


def test_serve_refuses_a_database_not_at_the_schema(procobs_empty, monkeypatch):
    monkeypatch.delenv("PROCOBS_API_KEYS", raising=False)
    result = procobs_empty("serve", expect_exit=3)
    assert "run `procobs db upgrade`" in result.stderr


def test_serve_refuses_a_port_in_use_in_one_line(procobs, monkeypatch):
    monkeypatch.delenv("PROCOBS_API_KEYS", raising=False)
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = procobs("serve", "--port", str(port), expect_exit=1)
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"procobs: error: cannot listen on 127.0.0.1:{port}: ")


@pytest.mark.parametrize(
    ("host", "exit_code", "message"),
    [
        ("h" * 201, 2, "Invalid value for '--host': the value is 201 characters long"),
        ("a\x1bb", 2, "Invalid value for '--host': the value contains the control character"),
        # A label past 63 characters: the IDNA codec's UnicodeError was an internal error.
        ("h" * 64 + ".example", 1, "cannot listen on " + "h" * 64 + ".example:"),
    ],
)
def test_serve_refuses_a_host_it_cannot_name_in_one_line(
    procobs, monkeypatch, host, exit_code, message
):
    monkeypatch.setenv("PROCOBS_API_KEYS", "a-long-enough-key-0123")
    result = procobs("serve", "--host", host, expect_exit=exit_code)
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"procobs: error: {message}")


def test_ingest_a_file_then_again(procobs, db, tmp_path):
    dag, events = dag_run()
    path = _jsonl(tmp_path / "lineage.jsonl", events)
    first = procobs.json("workflow", "ingest", path)
    assert (first["received"], first["events"], first["runs_placed"]) == (
        len(events),
        len(events),
        1,
    )
    again = procobs("workflow", "ingest", path)
    assert (
        f"read {len(events)} events from {path}: 0 new, {len(events)} already ingested, "
        "0 without a run"
    ) in again.stdout
    assert _snapshot(db)[dag]["status"] == "completed"


@pytest.mark.parametrize("facts", ["[1, 2]", '{"source": "x"}'])
def test_facts_procobs_cannot_read_back_are_named_not_an_internal_error(hostile, tmp_path, facts):
    # Both databases keep any JSON in workflow_run.facts (a hand edit, another program):
    # `workflow runs` was an internal error (exit 4, TypeError or KeyError).
    _, events = dag_run()
    hostile.ok("workflow", "ingest", _jsonl(tmp_path / "lineage.jsonl", events))
    with hostile.db.begin() as conn:
        conn.execute(workflow_run.update().values(facts=sa.literal(json.loads(facts), JSONDoc)))
    message = hostile.refused("workflow", "runs", exit_code=EXIT_REFUSED)
    assert message.startswith("the database holds facts procobs cannot read for workflow run ")
    assert message.endswith(": correct or delete that row")


def test_a_file_with_bad_lines_is_refused_whole(procobs, db, tmp_path):
    _, events = dag_run()
    lines = [json.dumps(e) for e in events]
    lines[1] = "{oops"
    lines[3] = json.dumps({**events[3], "eventType": "DONE"})
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(lines))
    result = procobs("workflow", "ingest", str(path), expect_exit=1)
    assert f"{path}: line 2: not JSON" in result.stderr
    assert f"{path}: line 4: eventType: 'DONE' is not one of" in result.stderr
    assert (
        "procobs: error: " in result.stderr and "2 bad line(s), nothing ingested" in result.stderr
    )
    assert _snapshot(db) == {}


def test_lines_no_datetime_identifier_or_database_can_hold_are_bad_lines(procobs, db, tmp_path):
    # Year 1 at +14:00 has no UTC datetime; a surrogate cannot be encoded; a bidi override
    # would make a candidate code read differently from what is stored.
    _, events = dag_run()
    first = json.dumps({**events[0], "eventTime": "0001-01-01T00:00:00+14:00"})
    job = events[1]["job"]["name"]
    surrogate = json.dumps(events[1]).replace(f'"{job}"', '"\\udc00"')
    override = json.dumps({**events[2], "job": {**events[2]["job"], "name": "etl\u202e"}})
    path = tmp_path / "hostile.jsonl"
    # Kept as it came: PostgreSQL's jsonb refused a NUL anywhere in it, SQLite stored it.
    nul = json.dumps({**events[3], "x": "a\x00b"})
    path.write_text("\n".join([first, surrogate, override, nul]) + "\n")
    result = procobs("workflow", "ingest", str(path), expect_exit=1)
    assert "line 1: eventTime: '0001-01-01T00:00:00+14:00' is not an RFC 3339" in result.stderr
    assert "line 2: the event has a NUL or surrogate character in its text at job.name" in (
        result.stderr
    )
    assert "line 3: job.name: " in result.stderr
    assert "line 4: the event has a NUL or surrogate character in its text at x" in result.stderr
    assert "4 bad line(s), nothing ingested" in result.stderr
    assert _snapshot(db) == {}


def test_ingest_reads_regular_files_only(procobs, tmp_path):
    fifo = tmp_path / "events.fifo"
    os.mkfifo(fifo)
    result = procobs("workflow", "ingest", str(fifo), expect_exit=1)
    assert result.stderr.strip() == (
        f"procobs: error: OpenLineage events file {fifo} is a FIFO, not a regular file"
    )
    missing = procobs("workflow", "ingest", str(tmp_path / "none.jsonl"), expect_exit=1)
    assert "cannot read" in missing.stderr


def test_settle_places_a_run_whose_parent_never_arrived(procobs, db, tmp_path):
    task = run_id()
    event = ol_event("START", task, "etl.t", 1, parent=(run_id(), "etl"))
    procobs("workflow", "ingest", _jsonl(tmp_path / "child.jsonl", [event]))
    held = procobs.json("workflow", "runs", "--held")
    assert [(r["run_key"], r["placement"]) for r in held] == [(task, "held")]
    assert procobs.json("workflow", "settle")["runs_placed"] == 0  # within the grace
    result = procobs("workflow", "settle", "--parent-grace", "0")
    assert result.stdout.strip() == "placed 1 run(s) whose parent never arrived, 0 whose parent did"
    flagged = procobs.json("workflow", "runs", "--parent-missing")
    assert [(r["run_key"], r["placement"], r["parent_missing"]) for r in flagged] == [
        (task, "run", True)
    ]
    assert procobs.json("workflow", "runs", "--held") == []


def test_replay_applies_a_mapping_change_and_changes_nothing_twice(
    procobs, db, tmp_path, monkeypatch
):
    dag = run_id()
    events = [
        ol_event("START", dag, "etl", 0),
        ol_event("COMPLETE", dag, "etl", 1, sql="insert into t select 1"),
    ]
    path = _jsonl(tmp_path / "lineage.jsonl", events)
    with monkeypatch.context() as earlier:  # a mapping that did not read the code facets yet
        earlier.setattr(mapping, "_code", lambda facets: {})
        procobs("workflow", "ingest", path)
    assert _snapshot(db)[dag]["evidence"] is None
    replayed = procobs.json("workflow", "replay", "--batch", "1")
    assert (replayed["runs"], replayed["events"], replayed["batches"]) == (1, 2, 1)
    after = _snapshot(db)
    assert after[dag]["evidence"]["code"]["sql_sha256"]
    assert after[dag]["status"] == "completed"
    procobs("workflow", "replay")
    assert _snapshot(db) == after


def test_the_commands_are_listed():
    result = CliRunner().invoke(main, ["workflow", "--help"])
    assert {"ingest", "replay", "settle", "runs"} <= set(result.stdout.split())


def test_replay_of_dagster_runs_reads_their_own_reports(procobs, db):
    run = DagsterRun("run-1", "nightly_orders", "warehouse", "snap-1")
    changes = [
        RunChange(1, RunChangeKind.START, T0, run),
        RunChange(2, RunChangeKind.SUCCESS, T0 + dt.timedelta(seconds=5), run),
    ]
    procobs_location = ProcobsLocation("procobs_dagster", frozenset())
    events = [dagster_runs.parse(dagster_runs.run_document(c, procobs_location)) for c in changes]
    reading = dagster_runs.Reading(dagster_runs.Position(), announced=events)
    dagster_runs.record(db, reading, catalog=EMPTY_CATALOG)
    before = _snapshot(db)
    assert before["run-1"]["candidate"] == "PROC-CAND:workflow:dagster/warehouse/nightly_orders"
    replayed = procobs.json("workflow", "replay", "--source", "dagster")
    assert (replayed["runs"], replayed["events"], replayed["unreadable"]) == (1, 2, 0)
    assert _snapshot(db) == before
    # The OpenLineage replay (the default) has nothing of Dagster's to read.
    assert procobs.json("workflow", "replay")["runs"] == 0
