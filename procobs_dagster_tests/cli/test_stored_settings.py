"""Stored settings outside their bounds — written by an older procobs, or by hand with SQL
— are never trusted: the command or Dagster job that reads them names each such row and
how to fix it in one line, leaves it aside, and does the rest of its work."""

import json
import logging

import dagster as dg
import pytest
import sqlalchemy as sa

from procobs_dagster import ledger
from procobs_dagster.definitions import build_definitions
from procobs_dagster.errors import EXIT_REFUSED
from procobs_dagster.store.tables import delivery_sink, stuck_sla_override
from procobs_dagster_tests.defs.conftest import resource_for
from procobs_dagster_tests.delivery.helpers import SECRET_ENV, emit_events, state_counts
from procobs_dagster_tests.hostile import row_counts
from procobs_dagster_tests.maintenance.helpers import T0, make_run

FIX_SINK = "fix it with `procobs relay import-sinks FILE`"
# name: (the columns a hand-written row sets, the problem the relay names)
BAD_SINKS = {
    "capless": (
        {"backoff_cap_seconds": float("inf")},
        "backoff_cap_seconds: Input should be a finite number",
    ),
    "counted": (
        {"dead_after_rejections": 2**31 - 1},
        "dead_after_rejections: Input should be less than or equal to 1000000",
    ),
    "hasty": (
        {"timeout_seconds": 1e-300},
        "timeout_seconds: Input should be greater than or equal to 0.1",
    ),
    "tokened": ({"url": "http://u:pw@127.0.0.1:9/x?token=t"}, "url must not carry credentials"),
    "imds": ({"url": "http://169.254.169.254/latest/"}, "169.254.169.254 is a link-local"),
    # The probe's V2: a type a later release renamed stopped delivery to every sink.
    "renamed": ({"event_types": ["no.such.type"]}, "unknown event type(s) no.such.type"),
}


def insert_sink(db, name: str, **columns) -> None:
    """A delivery_sink row written with SQL, past every check procobs makes."""
    row = {
        "name": name,
        "kind": "webhook",
        "url": "http://127.0.0.1:9/hook",
        "secret_env": SECRET_ENV,
        **columns,
    }
    with db.begin() as conn:
        conn.execute(sa.insert(delivery_sink), row)


def stored_bad_sinks(db, tmp_path) -> str:
    """The bad rows above, and one good file sink; returns the good sink's file."""
    for name, (columns, _) in BAD_SINKS.items():
        insert_sink(db, name, **columns)
    events = tmp_path / "events.jsonl"
    insert_sink(db, "good", kind="file", url=None, secret_env=None, path=str(events))
    return events


def warnings_in(stderr: str) -> dict[str, str]:
    lines = stderr.strip().splitlines()
    assert all(line.startswith("procobs: warning: delivery_sink row '") for line in lines)
    return {line.split("'")[1]: line for line in lines}


def test_relay_commands_leave_unusable_sinks_aside_and_deliver_to_the_rest(db, procobs, tmp_path):
    events = stored_bad_sinks(db, tmp_path)
    emit_events(db, 3)
    result = procobs("relay", "run", "--once", "--json")
    assert json.loads(result.stdout)["good"]["delivered"] == 3
    emit_events(db, 1)
    assert procobs.json("relay", "run", "--once", "--sink", "good")["good"]["delivered"] == 1
    assert len(events.read_text().splitlines()) == 4
    shown = warnings_in(result.stderr)
    assert sorted(shown) == sorted(BAD_SINKS)
    for name, (_, problem) in BAD_SINKS.items():
        assert problem in shown[name] and FIX_SINK in shown[name]
    assert "pw" not in result.stderr and "token=t" not in result.stderr
    for name in BAD_SINKS:  # their events wait: nothing fanned out, nothing lost
        assert state_counts(db, name) == {}
    # The probe's R6: `relay sinks --json` printed Infinity, which no strict parser takes.
    listing = procobs("relay", "sinks", "--json")
    strict = json.loads(listing.stdout, parse_constant=lambda c: pytest.fail(f"not JSON: {c}"))
    assert [s["name"] for s in strict] == ["good"]
    assert sorted(warnings_in(listing.stderr)) == sorted(BAD_SINKS)


def test_asking_for_an_unusable_sink_or_having_no_other_is_one_line_and_writes_nothing(db, procobs):
    insert_sink(db, "capless", backoff_cap_seconds=float("inf"))
    emit_events(db, 2)
    before = row_counts(db)
    for args in (("--sink", "capless"), ()):
        result = procobs("relay", "run", "--once", *args, expect_exit=1)
        assert result.stderr.count("\n") == 1
        assert result.stderr.startswith(
            "procobs: error: delivery_sink row 'capless' is not used: backoff_cap_seconds: "
            "Input should be a finite number; " + FIX_SINK
        )
        assert row_counts(db) == before


def _warnings(instance, result) -> list[str]:
    return [
        entry.user_message
        for entry in instance.all_logs(result.run_id)
        if entry.level == logging.WARNING and entry.user_message
    ]


def _observed(result, key: str) -> dict:
    """The metadata of the run's observation that carries ``key``."""
    for event in result.all_events:
        if event.event_type_value == "ASSET_OBSERVATION":
            metadata = event.event_specific_data.asset_observation.metadata
            if key in metadata:
                return {k: v.value for k, v in metadata.items()}
    raise AssertionError(f"no observation with {key}")


@pytest.mark.parametrize(
    ("job", "run_config"),
    [
        ("delivery_job", {}),
        ("alert_job", {"ops": {"raise_alerts": {"config": {"event_ids": []}}}}),
    ],
)
def test_delivery_and_alert_runs_report_unusable_sinks_and_deliver_to_the_rest(
    db, tmp_path, job, run_config
):
    events = stored_bad_sinks(db, tmp_path)
    emit_events(db, 2)
    defs = build_definitions(resource_for(db))
    with dg.instance_for_test() as instance:
        result = defs.resolve_job_def(job).execute_in_process(
            instance=instance, run_config=run_config
        )
        warnings = _warnings(instance, result)
    assert result.success
    assert len(events.read_text().splitlines()) == 2
    for name, (_, problem) in BAD_SINKS.items():
        (line,) = [w for w in warnings if w.startswith(f"delivery_sink row '{name}'")]
        assert problem in line and FIX_SINK in line and "\n" not in line
    unusable = _observed(result, "unusable_sinks")["unusable_sinks"]
    assert all(f"| delivery_sink | '{name}' |" in unusable for name in BAD_SINKS)


@pytest.mark.parametrize(
    ("job", "run_config"),
    [
        ("delivery_job", {}),
        ("alert_job", {"ops": {"raise_alerts": {"config": {"event_ids": []}}}}),
    ],
)
def test_delivery_and_alert_runs_fail_when_every_stored_sink_is_unusable(db, job, run_config):
    for name, (columns, _) in BAD_SINKS.items():
        insert_sink(db, name, **columns)
    emit_events(db, 2)
    before = row_counts(db)
    defs = build_definitions(resource_for(db))
    with dg.instance_for_test() as instance:
        result = defs.resolve_job_def(job).execute_in_process(
            instance=instance, run_config=run_config, raise_on_error=False
        )
    assert not result.success
    (failure,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    message = failure.event_specific_data.error.message
    assert "delivery_sink row '" in message and FIX_SINK in message
    assert row_counts(db) == before  # nothing fanned out or claimed: the events wait


def test_a_delivery_run_with_only_disabled_sinks_beside_an_unusable_one_succeeds(db, tmp_path):
    """Sinks switched off on purpose: the events wait by choice, nothing is wrong."""
    insert_sink(db, "capless", **BAD_SINKS["capless"][0])
    off = tmp_path / "off.jsonl"
    insert_sink(db, "off", kind="file", url=None, secret_env=None, path=str(off), enabled=False)
    emit_events(db, 1)
    defs = build_definitions(resource_for(db))
    with dg.instance_for_test() as instance:
        result = defs.resolve_job_def("delivery_job").execute_in_process(instance=instance)
    assert result.success and not off.exists()


def insert_sla(db, candidate: str, seconds) -> None:
    with db.begin() as conn:
        conn.execute(
            sa.insert(stuck_sla_override),
            {"process_candidate_code": candidate, "sla_seconds": seconds, "updated_at": T0},
        )


def overdue_runs(db) -> dict[str, ledger.RunRecord]:
    """Two runs in flight since T0: one of a candidate with a stored SLA, one without."""
    with db.begin() as conn:
        return {
            candidate: make_run(conn, "started", components=0, candidate=candidate)
            for candidate in ("PROC-CAND:poisoned", "PROC-CAND:plain")
        }


def status_of(db, run: ledger.RunRecord) -> str:
    with db.read() as conn:
        return ledger.get_run(conn, run.process_run_id).status


def test_postgres_refuses_a_stored_sla_out_of_bounds_itself(postgres_db):
    """PostgreSQL's INTEGER and the CHECK hold every value inside the bounds: there the
    database refuses such a row itself (SQLite stores any integer, or text, in it)."""
    for seconds, error in ((2**31, sa.exc.DataError), (0, sa.exc.IntegrityError)):
        with pytest.raises(error):
            insert_sla(postgres_db, "PROC-CAND:poisoned", seconds)


# Only SQLite can hold an SLA out of bounds (see the test above).
sqlite_only = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


@sqlite_only
def test_a_stored_sla_out_of_bounds_is_left_aside_and_the_sweep_judges_the_rest(db, procobs):
    """The probe's V1: one huge SLA made every stuck sweep crash, the scheduled one too."""
    insert_sla(db, "PROC-CAND:poisoned", 99_999_999_999_999)
    runs = overdue_runs(db)
    result = procobs("sweep", "stuck", "--json")
    assert result.stderr == (
        "procobs: warning: stuck_sla_override row 'PROC-CAND:poisoned' is not used: "
        "sla_seconds '99999999999999' is outside 1 to 2147483647; fix it with `procobs "
        "sweep sla set CANDIDATE SECONDS` (1 to 2147483647) or `procobs sweep sla clear "
        "CANDIDATE`; its runs are not judged until then\n"
    )
    report = json.loads(result.stdout)
    assert [v["subject_id"] for v in report["verdicts"]] == [
        str(runs["PROC-CAND:plain"].process_run_id)
    ]
    assert report["unusable"][0]["key"] == "PROC-CAND:poisoned"
    assert status_of(db, runs["PROC-CAND:poisoned"]) == "started"
    assert status_of(db, runs["PROC-CAND:plain"]) == "stuck"


@sqlite_only
@pytest.mark.parametrize("stored", [99_999_999_999_999, "forever", 2.5])
def test_the_scheduled_stuck_sweep_reports_a_stored_sla_out_of_bounds(db, stored):
    insert_sla(db, "PROC-CAND:poisoned", stored)
    runs = overdue_runs(db)
    defs = build_definitions(resource_for(db))
    with dg.instance_for_test() as instance:
        result = defs.resolve_job_def("stuck_sweep_job").execute_in_process(instance=instance)
        warnings = _warnings(instance, result)
    assert result.success
    (line,) = [w for w in warnings if w.startswith("stuck_sla_override row")]
    assert "'PROC-CAND:poisoned' is not used: sla_seconds" in line and "\n" not in line
    assert (
        "| stuck_sla_override | 'PROC-CAND:poisoned' |"
        in _observed(result, "unusable_settings")["unusable_settings"]
    )
    assert status_of(db, runs["PROC-CAND:poisoned"]) == "started"
    assert status_of(db, runs["PROC-CAND:plain"]) == "stuck"


@pytest.mark.parametrize("flag", ["no", "off", "false"])
def test_a_sinks_flag_stored_as_words_never_reads_as_true(db, procobs, tmp_path, flag):
    """A hand edit writing allow_link_local = 'no': PostgreSQL reads it as false, and
    SQLite kept the text, which read as true, so the relay took the metadata address."""
    insert_sink(db, "imds", url="http://169.254.169.254/latest/")
    insert_sink(db, "good", kind="file", url=None, secret_env=None, path=str(tmp_path / "e"))
    with db.begin() as conn:
        conn.execute(
            sa.update(delivery_sink)
            .where(delivery_sink.c.name == "imds")
            .values(allow_link_local=sa.literal_column(f"'{flag}'"))
        )
    emit_events(db, 1)
    result = procobs("relay", "run", "--once", "--json")
    assert json.loads(result.stdout)["good"]["delivered"] == 1
    problem = (
        "allow_link_local: Input should be a valid boolean"  # SQLite kept the text
        if db.dialect == "sqlite"
        else "169.254.169.254 is a link-local"  # PostgreSQL read it as false
    )
    assert problem in warnings_in(result.stderr)["imds"]
    assert state_counts(db, "imds") == {}


@sqlite_only
@pytest.mark.parametrize("args", [("events", "status"), ("events", "status", "--json")])
def test_a_switch_stored_as_a_word_is_named_not_read_as_true(hostile, args):
    """dry_run_only = 'false' by hand made every run the DOT wrapper opened a dry run."""
    with hostile.db.begin() as conn:
        conn.exec_driver_sql("UPDATE process_dot_runtime SET dry_run_only = 'false'")
    message = hostile.refused(*args, exit_code=EXIT_REFUSED)
    assert message == (
        "the database holds 'false' in a boolean column (0 or 1): correct or delete that row"
    )
    hostile.refused("observe", "--candidate", "c", "--dot", "d", "--", "true")
