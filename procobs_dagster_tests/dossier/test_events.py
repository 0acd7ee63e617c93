import os
from collections import Counter

import pytest
import sqlalchemy as sa

from procobs_dagster import dossier, events
from procobs_dagster.dossier import emission, storage
from procobs_dagster.events import DossierEventType
from procobs_dagster_tests.dossier.helpers import FEATURE, put, scan
from procobs_dagster_tests.events.helpers import outbox_rows, set_active

INDEXED = DossierEventType.ARTIFACT_INDEXED.value
MISSING = DossierEventType.ARTIFACT_MISSING.value
COMPUTED = DossierEventType.SNAPSHOT_COMPUTED.value
DRIFT = DossierEventType.PARITY_DRIFT_DETECTED.value


@pytest.fixture
def active(db):
    set_active(db, INDEXED, MISSING, COMPUTED, DRIFT)


def rows_of(db, snapshot):
    rows = [r for r in outbox_rows(db) if r["correlation_id"] == str(snapshot.snapshot_id)]
    return rows, Counter(r["event_type"] for r in rows)


def test_inactive_types_emit_nothing_but_the_scan_says_what_was_due(db, mission):
    result = scan(db, mission)
    assert outbox_rows(db) == []
    assert result.emission.due == {INDEXED: 12, MISSING: 0, COMPUTED: 1, DRIFT: 0}
    assert sum(result.emission.emitted.values()) == 0


def test_a_complete_scan_emits_indexed_per_artifact_and_one_snapshot(db, mission, active):
    result = scan(db, mission)
    rows, counts = rows_of(db, result.snapshot)
    assert counts == {INDEXED: 12, COMPUTED: 1}
    assert result.emission.emitted == result.emission.due
    computed = next(r for r in rows if r["event_type"] == COMPUTED)["safe_payload"]
    assert computed["parity_hash_sha256"] == result.snapshot.parity_hash
    assert computed["completeness_status"] == "complete"
    assert computed["artifact_counts"]["required_present"] == 10
    wp = next(r for r in rows if r["subject"] == f"{FEATURE}/tasks/WP02-atomic-writer.md")
    assert wp["safe_payload"]["wp_id"] == "WP02" and wp["safe_payload"]["step_id"] == "tasks"


def test_missing_is_emitted_for_required_artifacts_only(db, mission, active, tmp_path):
    os.remove(mission / "spec.md")  # required, blocking
    os.remove(mission / "meta.json")  # required, not blocking
    os.remove(mission / "data-model.md")  # optional: no event
    (mission / "constitution.md").symlink_to(put(tmp_path, "x.md"))  # optional, unreadable
    result = scan(db, mission)
    rows, counts = rows_of(db, result.snapshot)
    missing = {
        r["safe_payload"]["artifact_key"]: r["safe_payload"]
        for r in rows
        if r["event_type"] == MISSING
    }
    assert set(missing) == {"spec", "meta"}
    assert missing["spec"]["blocking"] and not missing["meta"]["blocking"]
    assert missing["spec"]["reason_code"] == "not_found"
    assert missing["spec"]["expected_path_pattern"] == "spec.md"
    assert counts[DRIFT] == 0  # no baseline: never drift


def test_drift_is_emitted_only_on_divergence_with_paths_and_severity(db, mission, active):
    scan(db, mission)
    with db.begin() as conn:
        dossier.capture_baseline(conn, FEATURE)
    _, counts = rows_of(db, scan(db, mission).snapshot)
    assert counts[DRIFT] == 0  # parity
    os.remove(mission / "tasks" / "WP01-streaming-reader.md")
    put(mission, "quickstart.md", "# Quickstart\n")
    result = scan(db, mission)
    rows, counts = rows_of(db, result.snapshot)
    assert counts[DRIFT] == 1
    drift = next(r for r in rows if r["event_type"] == DRIFT)["safe_payload"]
    assert drift["missing_in_local"] == ["tasks/WP01-streaming-reader.md"]
    assert drift["missing_in_baseline"] == ["quickstart.md"]
    assert drift["severity"] == "error"
    assert drift["local_parity_hash"] == result.snapshot.parity_hash


def _comparable(rows):
    """Event rows without what differs between any two scans (ids, times)."""
    out = []
    for r in rows:
        payload = {k: v for k, v in r["safe_payload"].items() if k != "snapshot_id"}
        out.append((r["event_type"], r["subject"], payload))
    return out


def test_an_unchanged_rescan_emits_exactly_the_events_of_a_full_scan(db, mission, active):
    scan(db, mission)
    with db.begin() as conn:
        dossier.capture_baseline(conn, FEATURE)
    os.remove(mission / "spec.md")  # a blocking artifact missing: missing event, drift
    put(mission, "quickstart.md", "# Quickstart\n")  # new: indexed, missing in baseline
    scan(db, mission)
    reused = scan(db, mission)
    full = scan(db, mission, full=True)
    assert reused.reused and not full.reused
    assert reused.emission == full.emission
    reused_rows, counts = rows_of(db, reused.snapshot)
    full_rows, _ = rows_of(db, full.snapshot)
    assert counts == {INDEXED: 12, MISSING: 1, COMPUTED: 1, DRIFT: 1}
    assert _comparable(reused_rows) == _comparable(full_rows)
    assert reused.reconciliation.divergences == full.reconciliation.divergences


def test_a_failed_emission_is_reported_and_the_scan_still_commits(db, mission, active, monkeypatch):
    real_emit = events.emit
    calls = []

    def emit_then_break(conn, *args, **kwargs):
        real_emit(conn, *args, **kwargs)  # a row is written, then the transaction errors
        calls.append(1)
        if len(calls) == 3:
            conn.exec_driver_sql("SELECT * FROM no_such_table")

    monkeypatch.setattr(emission.events, "emit", emit_then_break)
    result = scan(db, mission)
    assert result.emission.error.startswith("OperationalError") or result.emission.error.startswith(
        "ProgrammingError"
    )
    assert result.emission.emitted == dict.fromkeys(result.emission.due, 0)
    assert outbox_rows(db) == []  # the savepoint took back the rows written before the failure
    with db.read() as conn:
        assert storage.latest_snapshot(conn, FEATURE) == result.snapshot
        assert conn.execute(sa.text("SELECT count(*) FROM audit_log")).scalar_one() == 0
