"""Domain-event ingestion: plans become runs, invocations components, bad batches nothing."""

import datetime as dt
import json
import re

import pytest
import sqlalchemy as sa

from procobs_dagster import ledger
from procobs_dagster.sources.domain_events import IngestError, ingest_file, parse_lines
from procobs_dagster.store.tables import process_component_observation as components
from procobs_dagster.store.tables import process_run_observation as runs
from procobs_dagster_tests.events.helpers import outbox_rows, set_active

T0 = dt.datetime(2026, 3, 5, 10, 0, tzinfo=dt.UTC)


def at(minutes: int) -> str:
    return (T0 + dt.timedelta(minutes=minutes)).isoformat()


def event(event_type: str, minutes: int, **fields) -> dict:
    return {"event_type": event_type, "timestamp": at(minutes), **fields}


AGENT_RUN = [
    event("plan.created", 0, plan_id="p0", project_name="shop"),
    event("plan.created", 1, plan_id="p1", root_plan_id="p0", project_name="shop"),
    event("actor.invoked", 2, plan_id="p1", actor_name="coder", details={"invocation_id": "a1"}),
    event("tool.invoked", 3, plan_id="p1", details={"tool_name": "pytest", "invocation_id": "c1"}),
    event(
        "tool.completed", 4, plan_id="p1", details={"tool_name": "pytest", "invocation_id": "c1"}
    ),
    event("tool.invoked", 5, plan_id="p1", details={"tool_name": "pytest"}),
    event("tool.errored", 6, plan_id="p1", details={"tool_name": "pytest", "error": "boom"}),
    event("validation.started", 7, plan_id="p1", details={"validator": "schema"}),
    event("validation.passed", 8, plan_id="p1", details={"validator": "schema"}),
    event("actor.completed", 9, plan_id="p1", actor_name="coder", details={"invocation_id": "a1"}),
    event("plan.phase_changed", 9, plan_id="p1", details={"phase": "review", "state": "ok"}),
    event("plan.applied", 10, plan_id="p1"),
    event("plan.errored", 11, plan_id="p0", details={"error": "quota"}),
    event("tool.invoked", 12, plan_id="p-unknown", details={"tool_name": "grep"}),
]


def write(tmp_path, documents, name="events.jsonl"):
    path = tmp_path / name
    path.write_text("\n".join(d if isinstance(d, str) else json.dumps(d) for d in documents) + "\n")
    return path


def _runs(db):
    with db.read() as conn:
        rows = conn.execute(sa.select(runs).order_by(runs.c.created_at)).mappings()
        return {r["correlation_id"]: ledger.RunRecord.from_row(r) for r in rows}


def _count(db, table):
    with db.read() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()


def test_an_agent_run_becomes_runs_and_components(db, tmp_path):
    report = ingest_file(db, write(tmp_path, AGENT_RUN))
    assert report.as_dict() == {
        "events": 14,
        "already_ingested": 0,
        "runs_started": 2,
        "runs_ended": 2,
        "steps_started": 4,
        "steps_ended": 4,
        "orphans": 1,
        "emitted": 0,
    }
    found = _runs(db)
    root, plan = found["p0"], found["p1"]
    assert root.process_candidate_code == "PROC-CAND:plan:shop"
    assert root.status == "failed" and root.error_ref == "quota"
    assert plan.parent_run_id == root.process_run_id
    assert plan.status == "completed" and plan.source_system == "domain_event"
    assert (plan.started_at, plan.ended_at) == (
        T0 + dt.timedelta(minutes=1),
        T0 + dt.timedelta(minutes=10),
    )
    with db.read() as conn:
        steps = ledger.components_of(conn, plan.process_run_id)
    assert [(c.dot_code, c.component_role, c.status, c.error_ref) for c in steps] == [
        ("actor:coder", "producer", "completed", None),
        ("tool:pytest", "step", "completed", None),
        ("tool:pytest", "step", "failed", "boom"),
        ("validation:schema", "verifier", "completed", None),
    ]
    assert {c.correlation_id for c in steps} == {"p1"}
    with db.read() as conn:
        (orphan,) = conn.execute(
            sa.select(components).where(components.c.process_run_id.is_(None))
        ).mappings()
    assert orphan["status"] == "orphan" and orphan["correlation_id"] == "p-unknown"
    assert orphan["dot_code"] == "tool:grep"


def test_ingesting_the_same_events_again_writes_nothing_new(db, tmp_path):
    set_active(db, "plan.created", "plan.phase_changed", "process.run.started")
    path = write(tmp_path, AGENT_RUN)
    first = ingest_file(db, path)
    counts = [_count(db, t) for t in (runs, components)] + [len(outbox_rows(db))]
    # plan.created twice, plan.phase_changed, and process.run.started for each plan run
    assert first.emitted == 3 and counts[2] == 5
    write(tmp_path, [*AGENT_RUN, event("plan.created", 20, plan_id="p2")])
    again = ingest_file(db, path)
    assert again.already_ingested == 13 and again.runs_started == 1
    assert _count(db, runs) == counts[0] + 1 and _count(db, components) == counts[1]
    assert len(outbox_rows(db)) == counts[2] + 2  # p2's plan.created and process.run.started


def test_ingested_events_are_emitted_through_the_gate_at_their_time(db, tmp_path):
    set_active(db, "tool.invoked", "process.correlation.missing")
    ingest_file(db, write(tmp_path, AGENT_RUN))
    rows = outbox_rows(db)
    assert [r["event_type"] for r in rows] == [
        "tool.invoked",
        "tool.invoked",
        "process.correlation.missing",
        "tool.invoked",
    ]
    assert rows[0]["occurred_at"] == T0 + dt.timedelta(minutes=3)
    assert rows[0]["correlation_id"] == "p1" and "details" not in rows[0]["safe_payload"]
    assert rows[2]["correlation_id"] == "p-unknown"


def test_malformed_lines_are_all_reported_by_number_and_nothing_is_written(db, tmp_path):
    path = write(
        tmp_path,
        [
            AGENT_RUN[0],
            "{not json",
            event("plan.exploded", 1, plan_id="p1"),
            event("process.run.started", 1),
            {"event_type": "plan.created", "timestamp": "2026-03-05T10:00:00"},
            event("tool.retried", 2, details={"attempt": 0}),
            event("plan.created", 2, surprise=True),
        ],
    )
    with pytest.raises(IngestError) as caught:
        ingest_file(db, path)
    problems = caught.value.problems
    assert [p.split(":")[0] for p in problems] == [f"line {n}" for n in (2, 3, 4, 5, 6, 7)]
    assert "not JSON" in problems[0]
    assert "unknown domain event type 'plan.exploded'" in problems[1]
    assert "unknown domain event type 'process.run.started'" in problems[2]
    assert "timezone-aware" in problems[3]
    assert "details.attempt" in problems[4]
    assert "surprise" in problems[5]
    assert str(caught.value).startswith(f"{path}: 6 bad line(s), nothing ingested; first: line 2")
    assert _count(db, runs) == 0


@pytest.mark.parametrize(
    ("bad", "problem"),
    [
        (event("plan.applied", 5, plan_id="p9"), "plan p9 has no run"),
        (event("tool.completed", 5, plan_id="p0", details={"tool_name": "x"}), "no open tool:x"),
        (event("tool.invoked", 5, plan_id="p0"), "details.tool_name is required"),
        (event("actor.invoked", 5, plan_id="p0"), "actor_name is required"),
        (event("plan.created", 5, plan_id="p0"), "plan p0 already has run"),
        (event("plan.created", 5, plan_id="p5", root_plan_id="p8"), "root plan p8 has no run"),
        (event("plan.applied", -5, plan_id="p0"), "before started_at"),
    ],
)
def test_an_event_the_ledger_refuses_rolls_the_whole_file_back(db, tmp_path, bad, problem):
    path = write(
        tmp_path,
        [AGENT_RUN[0], event("tool.invoked", 1, plan_id="p0", details={"tool_name": "y"}), bad],
    )
    with pytest.raises(IngestError, match=re.escape(problem)) as caught:
        ingest_file(db, path)
    assert caught.value.problems[0].startswith("line 3: ")
    assert _count(db, runs) == 0 and _count(db, components) == 0


def test_blank_lines_are_skipped_and_line_numbers_stay_true():
    parsed = parse_lines(["", json.dumps(AGENT_RUN[0]), "   ", json.dumps(AGENT_RUN[1])])
    assert [number for number, _ in parsed] == [2, 4]
