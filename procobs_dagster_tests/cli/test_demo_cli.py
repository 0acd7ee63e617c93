"""`procobs demo` end to end: the KG run's event types activated the owner's way, real
work observed three ways, its events in the outbox and delivered to a file, a dossier,
scores, and every asset and check through Dagster — and a second run stays correct."""

import json
import re
import uuid

import dagster as dg
import sqlalchemy as sa
from click.testing import CliRunner

from procobs_dagster.cli import main
from procobs_dagster.store.tables import event_outbox

KG_EVENTS = {
    "process.run.started": 1,
    "process.step.started": 2,
    "process.step.completed": 2,
    "process.run.completed": 1,
}


def outbox_events(db, process_run_id: str) -> dict[str, int]:
    """The event_outbox rows a run wrote, per type."""
    with db.read() as conn:
        rows = conn.execute(
            sa.select(event_outbox.c.event_type, sa.func.count())
            .where(event_outbox.c.process_run_id == uuid.UUID(process_run_id))
            .group_by(event_outbox.c.event_type)
        ).all()
    return dict(rows)


def test_the_demo_runs_the_whole_pipeline_twice(procobs, db, tmp_path):
    first = procobs("demo").stdout

    assert (
        "activated: process.run.started, process.step.started, process.step.completed,"
        ' process.run.completed by "procobs demo"' in first
    )
    assert "procobs events activation stage [--deactivate] TYPE…" in first
    assert re.search(r"observed:  PROC-CAND:dot:kg run \S+  completed", first)
    assert "DOT_KG_EXTRACT (producer, 10 rows) → DOT_KG_VALIDATE (verifier, 10 rows)" in first
    assert "job queue: PROC-CAND:job:kg-export run" in first
    assert (
        "events:    6 written to the outbox by the KG run (process.run.started 1,"
        " process.step.started 2, process.step.completed 2, process.run.completed 1),"
        " 0 by the dry run (event codes only); 6 in the outbox"
    ) in first
    sink_file = tmp_path / "procobs_home" / "delivered-events.jsonl"
    assert (
        f"delivery:  6 delivered by delivery_job to sink demo-file ({sink_file}): 6 in all, 0 dead"
    ) in first
    assert "dossier:   042-kg-export: complete" in first and "PARITY with its baseline" in first
    assert "discovery: PROC-CAND:dot:kg is verified_candidate" in first
    assert "discovery: PROC-CAND:job:kg-export is verified_candidate" in first
    assert "discovery: PROC-CAND:dot:kg-explain is wired" in first
    assert "discovery: PROC-CAND:job:cut is runtime_missing" in first
    dagster_line = next(line for line in first.splitlines() if line.startswith("dagster:"))
    assert re.search(
        r"(\d+) assets materialised, (\d+) checks run: \2 passed, 0 failed", dagster_line
    )
    # Not `make ui`: the test names its own database and instance, so the hint names them.
    instance = tmp_path / "procobs_home" / "dagster"
    assert f"next:      DAGSTER_HOME={instance} PROCOBS_DATABASE_URL=" in first

    runs = procobs.json("runs", "list")
    assert sorted((r["process_candidate_code"], r["source_system"]) for r in runs) == [
        ("PROC-CAND:dot:kg", "dot_runtime"),
        ("PROC-CAND:dot:kg-explain", "dry_run"),
    ]
    kg = next(r for r in runs if r["process_candidate_code"] == "PROC-CAND:dot:kg")
    shown = procobs.json("runs", "show", kg["process_run_id"])
    assert [(c["dot_code"], c["status"], c["event_code"]) for c in shown["components"]] == [
        ("DOT_KG_EXTRACT", "completed", "process.step.completed"),
        ("DOT_KG_VALIDATE", "completed", "process.step.completed"),
    ]

    # The KG run's events are real outbox rows; the dry run wrote none.
    dry = next(r for r in runs if r["source_system"] == "dry_run")
    assert outbox_events(db, kg["process_run_id"]) == KG_EVENTS
    assert outbox_events(db, dry["process_run_id"]) == {}
    # The activation went through the owner path: one packet, applied by a named approver.
    (applied,) = procobs.json("events", "audit", "--action", "activation.applied")
    assert applied["actor"] == "procobs demo"
    assert applied["details"]["changes"] == dict.fromkeys(KG_EVENTS, True)

    second = procobs("demo").stdout
    assert "already active, nothing staged" in second
    assert "runs:      4 in the ledger: completed 4 (2 dry)" in second
    assert "by the KG run (process.run.started 1," in second and "12 in the outbox" in second
    # Only the new events are delivered; the file holds exactly the outbox, once each.
    assert "delivery:  6 delivered by delivery_job to sink demo-file" in second
    assert ": 12 in all, 0 dead" in second
    assert len(procobs.json("events", "audit", "--action", "activation.applied")) == 1
    with db.read() as conn:
        outbox_ids = sorted(
            str(i) for i in conn.execute(sa.select(event_outbox.c.event_id)).scalars()
        )
    delivered_ids = [json.loads(line)["id"] for line in sink_file.read_text().splitlines()]
    assert sorted(delivered_ids) == outbox_ids
    assert "PARITY with its baseline" in second
    assert re.search(r"checks run: (\d+) passed, 0 failed", second)

    # What `make ui` shows: the demo's materialisations, in the instance under PROCOBS_HOME.
    with dg.DagsterInstance.from_config(str(instance)) as dagster:
        snapshot = dagster.get_latest_materialization_event(dg.AssetKey("dossier_snapshot"))
        assert snapshot.asset_materialization.partition == "042-kg-export"
        scores = dagster.get_latest_materialization_event(dg.AssetKey("discovery_scores"))
        assert scores.asset_materialization.metadata["verified_candidate"].value == 2


def test_make_demo_in_a_fresh_clone_uses_the_embedded_default_and_points_at_make_ui(
    tmp_path, monkeypatch
):
    """What `make demo` does in a fresh clone: no URL, no PROCOBS_HOME, no DAGSTER_HOME."""
    monkeypatch.chdir(tmp_path)
    for name in ("PROCOBS_HOME", "PROCOBS_DATABASE_URL", "DAGSTER_HOME"):
        monkeypatch.delenv(name, raising=False)
    result = CliRunner().invoke(main, ["demo"])
    assert result.exit_code == 0, result.output + str(result.exception or "")
    assert "database:  sqlite:///.procobs/procobs.db" in result.output
    assert re.search(r"checks run: (\d+) passed, 0 failed", result.output)
    assert "next:      make ui" in result.output
    # The instance `make ui` opens (DAGSTER_HOME=.procobs/dagster) holds the demo's runs.
    assert (tmp_path / ".procobs" / "dagster" / "history").is_dir()
