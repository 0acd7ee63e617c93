"""`procobs retention run` and `procobs sweep …`, as a user runs them."""

import datetime as dt
import io
import sys

from procobs_dagster import ledger
from procobs_dagster.cli.output import batch_progress
from procobs_dagster.clock import utcnow
from procobs_dagster.maintenance import BatchProgress
from procobs_dagster.store.tables import audit_log
from procobs_dagster_tests.maintenance.helpers import make_run, snapshot
from procobs_dagster_tests.maintenance.table_helpers import emit, fan_out, rows, settle, sink

DAY = dt.timedelta(days=1)


def _ledger_of_old_runs(db) -> dict:
    now = utcnow()
    with db.begin() as conn:
        old = make_run(conn, "completed", started=now - 100 * DAY)
        failed = make_run(conn, "failed", started=now - 100 * DAY)
        in_flight = make_run(conn, "started", started=now - DAY, components=0)
        parent = make_run(conn, "started", started=now - DAY, components=0)
        child = make_run(conn, "started", started=now - DAY, parent=parent, components=0)
        ledger.finish_run(conn, parent.process_run_id, at=now - DAY + dt.timedelta(hours=1))
    return {"old": old, "failed": failed, "in_flight": in_flight, "child": child}


def test_retention_dry_run_then_run(db, procobs):
    runs = _ledger_of_old_runs(db)
    before = snapshot(db)
    counted = procobs.json("retention", "run", "--dry-run")
    assert snapshot(db) == before
    assert (counted["dry_run"], counted["runs"], counted["components"]) == (True, 1, 2)
    assert counted["runs_by_status"] == {"completed": 1}

    moved = procobs.json("retention", "run", "--batch", "1", "--keep", "failed=30")
    assert (moved["runs"], moved["batches"], moved["policy"]["failed"]) == (2, 2, 30)
    live = snapshot(db)["process_run_observation"]
    assert runs["old"].process_run_id not in live and runs["failed"].process_run_id not in live
    assert len(live) == 3

    text = procobs("retention", "run", "--dry-run").stdout
    assert "would archive: 0 runs" in text
    policy = "completed 90, failed 180, cancelled 90, stuck 180, orphan 180"
    assert f"policy (days kept): {policy}" in text


def test_retention_bad_options_are_one_line_errors(procobs):
    refused = procobs("retention", "run", "--keep", "done=3", expect_exit=1)
    assert "procobs: error: --keep 'done=3'" in refused.stderr
    assert procobs("retention", "run", "--batch", "0", expect_exit=2).exit_code == 2


def test_retention_refuses_a_status_kept_twice_and_archives_nothing(db, procobs):
    """The last --keep of a status won: a script's --keep failed=365 followed by a
    user's --keep failed=1 archived what the first said to keep."""
    _ledger_of_old_runs(db)
    before = snapshot(db)
    refused = procobs(
        "retention", "run", "--keep", "failed=365", "--keep", "failed=1", expect_exit=1
    )
    assert refused.stderr == (
        "procobs: error: --keep 'failed=1': failed is given twice (failed=365 before); "
        "give each status once\n"
    )
    assert snapshot(db) == before


def test_sweeps(db, procobs):
    runs = _ledger_of_old_runs(db)
    assert procobs.json("sweep", "stuck", "--sla", "172800")["verdicts"] == []
    stuck = procobs.json("sweep", "stuck", "--sla", "3600")
    assert stuck["lock_acquired"] and stuck["settings"]["default_sla_seconds"] == 3600
    assert {v["subject_id"] for v in stuck["verdicts"]} == {
        str(runs["in_flight"].process_run_id),
        str(runs["child"].process_run_id),
    }
    orphans = procobs.json("sweep", "orphans")
    assert [(v["subject_id"], v["from_status"]) for v in orphans["verdicts"]] == [
        (str(runs["child"].process_run_id), "stuck")
    ]
    text = procobs("sweep", "orphans", "--grace", "0").stdout
    assert "nothing to mark orphan" in text and "0 marked orphan" in text


def test_stuck_sla_overrides(db, procobs):
    runs = _ledger_of_old_runs(db)
    candidate = runs["in_flight"].process_candidate_code
    assert "no overrides" in procobs("sweep", "sla", "list").stdout
    procobs("sweep", "sla", "set", candidate, "172800", "--reason", "slow nightly job")
    overrides = procobs.json("sweep", "sla", "list")
    assert [(o["process_candidate_code"], o["sla_seconds"], o["reason"]) for o in overrides] == [
        (candidate, 172800, "slow nightly job")
    ]
    text = procobs("sweep", "stuck", "--sla", "3600").stdout
    assert "nothing to mark stuck" in text
    assert "back to the default" in procobs("sweep", "sla", "clear", candidate).stdout
    assert "had no own SLA" in procobs("sweep", "sla", "clear", candidate).stdout
    assert procobs("sweep", "sla", "set", candidate, "0", expect_exit=2).exit_code == 2
    text = procobs("sweep", "stuck", "--sla", "3600").stdout
    assert "2 marked stuck" in text and "SLA 3600 s" in text


def test_maintenance_refuses_an_unmigrated_database(procobs_empty):
    for args in (("retention", "run"), ("sweep", "stuck"), ("sweep", "orphans")):
        assert "procobs db upgrade" in procobs_empty(*args, expect_exit=3).stderr


def test_progress_is_printed_per_batch_only_to_a_person(monkeypatch):
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert batch_progress(as_json=False) is None  # pytest's stderr is no terminal
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert batch_progress(as_json=True) is None
    echo = batch_progress(as_json=False)
    echo(BatchProgress("retention", 2, {"runs": 500, "components": 1000}, 0.25))
    assert terminal.getvalue() == "retention: batch 2: 500 runs, 1000 components (0.25 s)\n"


def test_retention_covers_every_growing_table(db, procobs):
    now = utcnow()
    [event] = emit(db, at=now - 10 * DAY)
    fan_out(db, sink("a"))
    settle(db, event, "a", "delivered", now - 9 * DAY)
    with db.begin() as conn:
        conn.execute(
            audit_log.insert(),
            {"recorded_at": now - 400 * DAY, "actor": "t", "action": "a", "details": None},
        )
    before = rows(db)
    counted = procobs.json("retention", "run", "--dry-run")
    assert rows(db) == before
    assert counted["tables"]["delivery_state"] == {"deleted": 1}
    assert counted["tables"]["event_outbox"] == {"deleted": 1, "kept_back": 0}
    assert counted["tables"]["audit_log"] == {"archived": 1}
    assert counted["tables"]["process_run_observation"] == {"archived": 0}
    assert counted["table_policy"]["outbox_days"] == 7

    kept = procobs.json(
        "retention",
        "run",
        "--only",
        "delivery",
        "--delivered-days",
        "forever",
        "--outbox-days",
        "30",
    )
    assert kept["jobs"] == ["delivery"] and "audit_log" not in kept["tables"]
    assert kept["tables"]["delivery_state"] == {"deleted": 0}
    assert kept["table_policy"]["delivered_days"] is None

    text = procobs("retention", "run", "--audit-days", "100").stdout
    assert "delivery: delete 1 delivery_state, delete 1 event_outbox" in text
    assert "audit: archive 1 audit_log" in text
    assert "table policy: delivered_days 7, dead_days 30, outbox_days 7, audit_days 100" in text
    assert rows(db)["event_outbox"] == [] and len(rows(db)["audit_log_archive"]) == 1


def test_retention_table_options_are_bounded(procobs):
    for option, value in (
        ("--delivered-days", "-1"),
        ("--outbox-days", "0"),
        ("--audit-days", "24856"),
        ("--snapshots-per-feature", "0"),
        ("--scores-per-candidate", "always"),
        ("--only", "everything"),
    ):
        refused = procobs("retention", "run", option, value, expect_exit=2)
        assert option in refused.stderr
