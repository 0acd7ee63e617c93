import json

from procobs_dagster.errors import EXIT_REFUSED
from procobs_dagster.events import DomainEventType
from procobs_dagster.events import schemas as event_schemas
from procobs_dagster_tests.hostile import row_counts


def test_types_lists_the_registry_by_family(procobs):
    everything = procobs.json("events", "types")
    assert len(everything) == 7 + 4 + 38
    process = procobs.json("events", "types", "--family", "process")
    assert {t["event_type"] for t in process} == {
        "process.run.started",
        "process.run.completed",
        "process.run.failed",
        "process.step.started",
        "process.step.completed",
        "process.correlation.missing",
        "process.evidence.missing",
    }
    assert not any(t["active"] for t in everything)
    domain = procobs.json("events", "types", "--family", "domain")
    assert {t["event_type"] for t in domain} == {t.value for t in DomainEventType}
    assert "process.run.failed" in procobs("events", "types").stdout
    assert procobs("events", "types", "--family", "nope", expect_exit=2).exit_code == 2


def test_stage_show_apply_and_refusals(procobs, tmp_path):
    packet = tmp_path / "packet.json"
    types = ["process.run.started", "process.run.completed"]
    staged = procobs("events", "activation", "stage", *types, "--out", str(packet))
    assert "nothing changed" in staged.stdout and "inactive  active" in staged.stdout
    assert [c["event_type"] for c in json.loads(packet.read_text())["changes"]] == types
    assert procobs.json("events", "status")["active_types"] == []

    refused = procobs("events", "activation", "apply", str(packet), expect_exit=1)
    assert refused.stderr.strip() == (
        "procobs: error: applying an activation packet is owner-gated: "
        "name the approver with --approved-by"
    )
    assert procobs.json("events", "status")["active_types"] == []

    applied = procobs("events", "activation", "apply", str(packet), "--approved-by", "alice")
    assert "process.run.started: active=false → true" in applied.stdout
    assert procobs.json("events", "status")["active_types"] == sorted(types)
    shown = procobs.json("events", "activation", "show", str(packet))
    assert shown["state"].startswith("applied by alice")

    again = procobs(
        "events", "activation", "apply", str(packet), "--approved-by", "bob", expect_exit=1
    )
    assert "was already applied by alice" in again.stderr
    (audit_row,) = procobs.json("events", "audit", "--action", "activation.applied")
    assert audit_row["actor"] == "alice"


def test_stage_refuses_unknown_types_and_bad_packets_are_one_line_errors(procobs, tmp_path):
    out = tmp_path / "packet.json"
    unknown = procobs(
        "events", "activation", "stage", "process.nope", "--out", str(out), expect_exit=1
    )
    assert "not in event_type_registry: process.nope" in unknown.stderr
    assert not out.exists()
    out.write_text("{not json")
    bad = procobs("events", "activation", "apply", str(out), "--approved-by", "a", expect_exit=1)
    assert bad.stderr.count("\n") == 1 and "not an activation packet" in bad.stderr
    missing = procobs(
        "events",
        "activation",
        "apply",
        str(tmp_path / "nope.json"),
        "--approved-by",
        "a",
        expect_exit=1,
    )
    assert "cannot read packet" in missing.stderr


def test_emission_and_dry_run_switches(procobs):
    assert "owner-gated" in procobs("events", "emission", "off", expect_exit=1).stderr
    off = procobs("events", "emission", "off", "--approved-by", "alice")
    assert "piece_event_runtime.emit_enabled: True → False (by alice)" in off.stdout
    assert "already False" in procobs("events", "emission", "off", "--approved-by", "a").stdout
    procobs("events", "dry-run", "on", "--approved-by", "bob")
    switches = {s["name"]: s for s in procobs.json("events", "status")["switches"]}
    assert switches["piece_event_runtime.emit_enabled"]["value"] is False
    assert switches["process_dot_runtime.dry_run_only"]["value"] is True
    assert switches["process_dot_runtime.dry_run_only"]["updated_by"] == "bob"
    actors = [r["actor"] for r in procobs.json("events", "audit")]
    assert actors == ["bob", "alice"]


def test_the_schemas_command_writes_every_schema_and_removes_stale_ones(procobs, tmp_path):
    stale = tmp_path / "process.run.exploded.schema.json"
    stale.write_text('{"$id": "urn:procobs:schema:process.run.exploded"}')
    refused = procobs("events", "schemas", "--out", str(tmp_path), expect_exit=1)
    assert "pass --yes" in refused.stderr and stale.exists()
    result = procobs("events", "schemas", "--out", str(tmp_path), "--yes")
    assert "wrote 49 schemas" in result.stdout and "removed" in result.stdout
    assert not stale.exists()
    assert {p.name for p in tmp_path.iterdir()} == set(event_schemas.render_all())
    # Unchanged files are rewritten without asking; a changed one needs --yes.
    procobs("events", "schemas", "--out", str(tmp_path))
    changed = tmp_path / "process.run.failed.schema.json"
    changed.write_text('{"$id": "urn:procobs:schema:process.run.failed", "edited": true}')
    refused = procobs("events", "schemas", "--out", str(tmp_path), expect_exit=1)
    assert refused.stderr.strip() == (
        f"procobs: error: {changed} exists: pass --yes to go ahead (nothing changed)"
    )
    procobs("events", "schemas", "--out", str(tmp_path), "--yes")
    assert changed.read_text() == event_schemas.render_all()[changed.name]


def test_the_schemas_command_never_removes_a_file_procobs_did_not_write(procobs, tmp_path):
    mine = tmp_path / "invoice.schema.json"
    mine.write_text('{"my": "precious schema"}')
    result = procobs("events", "schemas", "--out", str(tmp_path), "--yes")
    assert "removed" not in result.stdout
    assert mine.read_text() == '{"my": "precious schema"}'


def _jsonl(path, *documents):
    path.write_text(
        "".join(json.dumps(d) + "\n" if isinstance(d, dict) else d + "\n" for d in documents)
    )
    return str(path)


def test_ingest_reports_what_it_wrote_and_lists_every_bad_line(procobs, tmp_path):
    good = _jsonl(
        tmp_path / "good.jsonl",
        {"event_type": "plan.created", "timestamp": "2026-03-05T10:00:00Z", "plan_id": "p1"},
        {"event_type": "plan.applied", "timestamp": "2026-03-05T10:05:00Z", "plan_id": "p1"},
    )
    report = procobs.json("events", "ingest", good)
    assert (report["events"], report["runs_started"], report["runs_ended"]) == (2, 1, 1)
    again = procobs("events", "ingest", good).stdout
    assert f"read 2 events from {good}: 0 new, 2 already ingested" in again
    (run,) = procobs.json("runs", "list")
    assert run["status"] == "completed" and run["source_system"] == "domain_event"

    bad = _jsonl(
        tmp_path / "bad.jsonl",
        {"event_type": "plan.created", "timestamp": "2026-03-05T11:00:00Z", "plan_id": "p2"},
        "[1, 2]",
        {"event_type": "plan.nope", "timestamp": "2026-03-05T11:00:00Z"},
    )
    result = procobs("events", "ingest", bad, expect_exit=1)
    lines = result.stderr.splitlines()
    assert lines[0].endswith("line 2: a domain event is a JSON object, not list")
    assert lines[1].endswith("line 3: unknown domain event type 'plan.nope'")
    assert lines[2].startswith("procobs: error: ") and "2 bad line(s), nothing ingested" in lines[2]
    assert len(procobs.json("runs", "list")) == 1


def test_ingest_refuses_a_value_of_another_type_naming_its_line_and_field(db, procobs, tmp_path):
    plan = {"event_type": "plan.created", "timestamp": "2026-03-05T10:00:00Z", "plan_id": "p1"}
    tool = {**plan, "event_type": "tool.retried", "details": {"tool_name": "pytest"}}
    bad = _jsonl(
        tmp_path / "bad.jsonl",
        {**plan, "timestamp": "1700000000"},
        {**plan, "timestamp": 1700000000},
        {**plan, "actor_name": 42},
        {**plan, "plan_id": True},
        {**tool, "details": {"tool_name": "pytest", "attempt": "2"}},
        {**tool, "details": {"tool_name": 7}},
    )
    before = row_counts(db)
    result = procobs("events", "ingest", bad, expect_exit=EXIT_REFUSED)
    lines = result.stderr.splitlines()
    problems = [line.split(f"{bad}: ", 1)[1] for line in lines[:-1]]
    assert problems == [
        "line 1: plan.created: timestamp: Input should be an ISO 8601 timestamp "
        "(e.g. 2026-03-05T10:00:01Z)",
        "line 2: plan.created: timestamp: Input should be a valid datetime",
        "line 3: plan.created: actor_name: Input should be a valid string",
        "line 4: plan.created: plan_id: Input should be a valid string",
        "line 5: tool.retried: invalid payload: details.attempt: Input should be a valid "
        "integer (1 error(s))",
        "line 6: tool.retried: invalid payload: details.tool_name: Input should be a valid "
        "string (1 error(s))",
    ]
    assert lines[-1].startswith("procobs: error: ") and "6 bad line(s), nothing" in lines[-1]
    assert row_counts(db) == before


def test_ingest_takes_every_documented_form_of_a_domain_event(procobs, tmp_path):
    """ISO 8601 with Z, an offset or fractions; details' known keys typed, other keys kept
    as given, whatever their type."""
    good = _jsonl(
        tmp_path / "good.jsonl",
        {"event_type": "plan.created", "timestamp": "2026-03-05T10:00:00Z", "plan_id": "p1"},
        {
            "event_type": "tool.retried",
            "timestamp": "2026-03-05T11:01:00.123456+01:00",
            "plan_id": "p1",
            "details": {"tool_name": "pytest", "attempt": 2, "tokens": "12", "extra": [1, None]},
        },
        {
            "event_type": "budget.warning",
            "timestamp": "2026-03-05T10:02:00.5Z",
            "session_id": "s1",
            "details": {"spent": 3, "limit": 10.5, "unit": "USD"},
        },
        {"event_type": "plan.applied", "timestamp": "2026-03-05 10:05:00+00:00", "plan_id": "p1"},
    )
    report = procobs.json("events", "ingest", good)
    assert (report["events"], report["runs_started"], report["runs_ended"]) == (4, 1, 1)
