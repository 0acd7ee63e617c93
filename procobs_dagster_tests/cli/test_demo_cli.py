"""`procobs demo` end to end: the KG run's event types activated the owner's way, real
work observed three ways, an Airflow-like DAG run sent over OpenLineage through the HTTP
receiver and a Dagster job of another location recorded by the Dagster runs sensor, the
events in the outbox and delivered to a file, a dossier, scores, and every asset and check
through Dagster — and a second run stays correct."""

import json
import re
import uuid

import dagster as dg
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from procobs_dagster.cli import main
from procobs_dagster.cli.context import CliContext
from procobs_dagster.cli.demo import explain_command
from procobs_dagster.errors import EXIT_REFUSED
from procobs_dagster.store.tables import event_outbox, workflow_event

KG_EVENTS = {
    "process.run.started": 1,
    "process.step.started": 2,
    "process.step.completed": 2,
    "process.run.completed": 1,
}
# Each demo writes as many events for each of its three real runs with two steps: the KG
# run, the OpenLineage DAG run, the Dagster job's run.
EVENTS_PER_DEMO = 3 * sum(KG_EVENTS.values())
API_KEY = "demo-key-from-the-environment-0123"
WORKFLOW_LINE = re.compile(
    r"workflow:  (?P<engine>\w+): (?P<job>\S+) run (?P<key>\S+) \((?P<how>.*?)\) → "
    r"(?P<candidate>\S+) run (?P<run>\S+)  (?P<status>\w+)\n           (?P<steps>.*)"
)


def workflows(output: str) -> dict[str, dict[str, str]]:
    """The demo's workflow lines, by engine."""
    return {m["engine"]: m.groupdict() for m in WORKFLOW_LINE.finditer(output)}


def outbox_events(db, process_run_id: str) -> dict[str, int]:
    """The event_outbox rows a run wrote, per type."""
    with db.read() as conn:
        rows = conn.execute(
            sa.select(event_outbox.c.event_type, sa.func.count())
            .where(event_outbox.c.process_run_id == uuid.UUID(process_run_id))
            .group_by(event_outbox.c.event_type)
        ).all()
    return dict(rows)


def test_the_demo_runs_the_whole_pipeline_twice(procobs, db, tmp_path, monkeypatch):
    monkeypatch.setenv("PROCOBS_API_KEYS", API_KEY)
    first = procobs("demo").stdout
    assert API_KEY not in first

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
        f" 0 by the dry run (event codes only); {EVENTS_PER_DEMO} in the outbox"
    ) in first
    sink_file = tmp_path / "procobs_home" / "delivered-events.jsonl"
    assert (
        f"delivery:  {EVENTS_PER_DEMO} delivered by delivery_job to sink demo-file ({sink_file}):"
        f" {EVENTS_PER_DEMO} in all, 0 dead"
    ) in first
    seen = workflows(first)
    dag, job = seen["OpenLineage"], seen["Dagster"]
    assert (dag["job"], dag["how"]) == ("airflow-demo/kg_nightly", "6 events through procobs serve")
    assert (dag["candidate"], dag["status"]) == ("PROC-CAND:workflow:kg-nightly", "completed")
    assert dag["steps"] == (
        "kg_nightly.extract_triples (step, 10 rows) → kg_nightly.publish_graph (step, 8 rows)"
    )
    assert (job["job"], job["how"]) == (
        "procobs_demo/kg_graph_job",
        "dagster_runs_sensor, 2 tick(s)",
    )
    assert (job["candidate"], job["status"]) == ("PROC-CAND:workflow:kg-graph-job", "completed")
    assert job["steps"].startswith(
        "kg_graph_job.kg_triples (step, 10 rows) → kg_graph_job.kg_entities"
    )
    assert "discovery: PROC-CAND:workflow:kg-nightly is verified_candidate" in first
    assert "discovery: PROC-CAND:workflow:kg-graph-job is verified_candidate" in first
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
        ("PROC-CAND:workflow:kg-graph-job", "workflow_engine"),
        ("PROC-CAND:workflow:kg-nightly", "workflow_engine"),
    ]
    explained = procobs("discovery", "explain", "PROC-CAND:workflow:kg-graph-job").stdout
    assert f"run {job['run']} (process_run_observation) meets the bar" in explained
    reported = {r["run_key"]: r for r in procobs.json("workflow", "runs")}
    assert reported[job["key"]]["source"] == "dagster"
    assert reported[dag["key"]]["source"] == "openlineage"
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
    assert "runs:      8 in the ledger: completed 8 (2 dry)" in second
    assert "by the KG run (process.run.started 1," in second
    assert f"{2 * EVENTS_PER_DEMO} in the outbox" in second
    # The second demo's workflows are new runs; the first's were not recorded twice.
    again = workflows(second)
    assert again["OpenLineage"]["key"] != dag["key"] and again["Dagster"]["key"] != job["key"]
    assert "(2/2 real runs meet the bar)" in next(
        line for line in second.splitlines() if "PROC-CAND:workflow:kg-graph-job is" in line
    )
    with db.read() as conn:
        kept = dict(
            conn.execute(
                sa.select(workflow_event.c.source, sa.func.count()).group_by(
                    workflow_event.c.source
                )
            ).all()
        )
    # Per demo: 6 OpenLineage events; the Dagster run's start and end, each step's start,
    # materialisation and success.
    assert kept == {"openlineage": 12, "dagster": 16}
    # Only the new events are delivered; the file holds exactly the outbox, once each.
    assert f"delivery:  {EVENTS_PER_DEMO} delivered by delivery_job to sink demo-file" in second
    assert f": {2 * EVENTS_PER_DEMO} in all, 0 dead" in second
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
        assert scores.asset_materialization.metadata["verified_candidate"].value == 4
        job_runs = dagster.get_runs(dg.RunsFilter(job_name="kg_graph_job"))
        assert {r.run_id for r in job_runs} == {job["key"], again["Dagster"]["key"]}
        assert {r.tags["dagster/code_location"] for r in job_runs} == {"procobs_demo"}


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


def test_the_explain_hint_names_a_database_given_on_the_command_line(monkeypatch):
    """After `procobs --database-url URL demo`, a bare `procobs discovery explain` in the same
    shell would read PROCOBS_DATABASE_URL or the embedded default — another database — so
    the hint names the demo's (its password masked); without the option it is the bare
    command."""
    monkeypatch.delenv("PROCOBS_DATABASE_URL", raising=False)
    bare = "procobs discovery explain PROC-CAND:workflow:kg-graph-job"
    assert explain_command(CliContext(None)) == bare

    url = "postgresql+psycopg2://procobs:Zq9Secret@db.internal:5432/procobs"
    hint = explain_command(CliContext(url))
    assert hint == (
        "PROCOBS_DATABASE_URL='postgresql+psycopg2://procobs:***@db.internal:5432/procobs' "
        f"{bare}  (with your password for ***)"
    )
    other = "sqlite:///elsewhere/procobs.db"
    assert explain_command(CliContext(other)) == (f"PROCOBS_DATABASE_URL='{other}' {bare}")

    monkeypatch.setenv("PROCOBS_DATABASE_URL", url)  # the shell names it already
    assert explain_command(CliContext(None)) == bare
    assert explain_command(CliContext(url)) == bare


@pytest.mark.parametrize("dagster_yaml", [None, "storage: [not, a, mapping]\n"])
def test_a_dagster_home_dagster_cannot_use_is_one_line_and_writes_nothing(
    hostile, tmp_path, monkeypatch, dagster_yaml
):
    # A DAGSTER_HOME that is no folder (or holds a dagster.yaml Dagster refuses) was an
    # internal error (exit 4, DagsterInvariantViolationError).
    home = tmp_path / "dagster-home"
    if dagster_yaml is not None:
        home.mkdir()
        (home / "dagster.yaml").write_text(dagster_yaml)
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    message = hostile.refused("demo", exit_code=EXIT_REFUSED)
    assert message.startswith("cannot use the Dagster instance of DAGSTER_HOME: ")
