"""The dossier payloads' validation rules, one by one, the process payload contract, and
the strictness of every event model."""

import datetime as dt
import uuid

import pydantic
import pytest

from procobs_dagster.events import (
    DomainEvent,
    DomainEventType,
    Envelope,
    InvalidPayload,
    validate_payload,
)
from procobs_dagster.events.payloads import EvidenceType

HEX = "a" * 64
PARITY = "sha256:" + "b" * 64

INDEXED = {
    "feature_slug": "042-dossier",
    "artifact_key": "spec",
    "artifact_class": "input",
    "relative_path": "spec.md",
    "content_hash_sha256": HEX,
    "size_bytes": 10,
    "required_status": "required",
}
MISSING = {
    "feature_slug": "042-dossier",
    "artifact_key": "plan",
    "artifact_class": "workflow",
    "expected_path_pattern": "plan.md",
    "reason_code": "not_found",
    "blocking": True,
}
SNAPSHOT = {
    "feature_slug": "042-dossier",
    "parity_hash_sha256": PARITY,
    "artifact_counts": {
        "total": 2,
        "required": 2,
        "required_present": 1,
        "required_missing": 1,
        "optional": 0,
        "optional_present": 0,
    },
    "completeness_status": "incomplete",
    "snapshot_id": "s1",
}
DRIFT = {
    "feature_slug": "042-dossier",
    "local_parity_hash": PARITY,
    "baseline_parity_hash": "sha256:" + "c" * 64,
    "missing_in_local": ["plan.md"],
    "severity": "error",
}
VALID = {
    "mission_dossier_artifact_indexed": INDEXED,
    "mission_dossier_artifact_missing": MISSING,
    "mission_dossier_snapshot_computed": SNAPSHOT,
    "mission_dossier_parity_drift_detected": DRIFT,
}


@pytest.mark.parametrize("event_type", sorted(VALID))
def test_valid_dossier_payloads_are_accepted(event_type):
    validate_payload(event_type, VALID[event_type])


@pytest.mark.parametrize(
    ("event_type", "field", "bad"),
    [
        ("mission_dossier_artifact_indexed", "content_hash_sha256", "A" * 64),
        ("mission_dossier_artifact_indexed", "content_hash_sha256", "abc"),
        ("mission_dossier_artifact_indexed", "artifact_class", "binary"),
        ("mission_dossier_artifact_indexed", "required_status", "mandatory"),
        ("mission_dossier_artifact_indexed", "size_bytes", -1),
        ("mission_dossier_artifact_indexed", "size_bytes", "10"),
        ("mission_dossier_artifact_missing", "reason_code", "lost"),
        ("mission_dossier_artifact_missing", "blocking", "yes"),
        ("mission_dossier_snapshot_computed", "parity_hash_sha256", HEX),
        ("mission_dossier_snapshot_computed", "completeness_status", "partial"),
        ("mission_dossier_parity_drift_detected", "severity", "fatal"),
        ("mission_dossier_parity_drift_detected", "local_parity_hash", "sha256:xyz"),
        ("mission_dossier_artifact_indexed", "feature_slug", ""),
    ],
)
def test_each_invalid_field_is_rejected_by_name(event_type, field, bad):
    with pytest.raises(InvalidPayload, match=field):
        validate_payload(event_type, {**VALID[event_type], field: bad})


@pytest.mark.parametrize("event_type", sorted(VALID))
def test_missing_required_field_and_unknown_field_are_rejected(event_type):
    payload = dict(VALID[event_type])
    payload.pop("feature_slug")
    with pytest.raises(InvalidPayload, match="feature_slug"):
        validate_payload(event_type, payload)
    with pytest.raises(InvalidPayload, match="surprise"):
        validate_payload(event_type, {**VALID[event_type], "surprise": 1})


def test_process_payload_contract():
    payload = validate_payload(
        "process.step.completed",
        {
            "process_run_id": "0191e0a4-0000-7000-8000-000000000001",
            "correlation_id": "corr",
            "component_run_id": "0191e0a4-0000-7000-8000-000000000002",
            "dot_code": "DOT_KG_EXPLAIN",
            "status": "step_completed",
            "evidence_type": "DRY_RUN",
            "input_ref": "in",
            "output_ref": "out",
        },
    )
    assert set(payload.safe_payload()) == {
        "process_run_id",
        "correlation_id",
        "component_run_id",
        "dot_code",
        "status",
        "evidence_type",
        "input_ref",
        "output_ref",
    }
    with pytest.raises(InvalidPayload, match="evidence_type"):
        validate_payload(
            "process.run.started",
            {**payload.model_dump(), "status": "started", "evidence_type": "GUESS"},
        )


def test_a_hash_with_a_trailing_newline_is_no_hash():
    with pytest.raises(InvalidPayload, match="content_hash_sha256"):
        validate_payload(
            "mission_dossier_artifact_indexed", {**INDEXED, "content_hash_sha256": HEX + "\n"}
        )


def test_domain_details_are_typed_per_category_and_keep_other_keys():
    payload = validate_payload(
        "tool.retried",
        {"plan_id": "p1", "details": {"tool_name": "grep", "attempt": 2, "cwd": "/tmp"}},
    )
    assert payload.model_dump(mode="json")["details"] == {
        "tool_name": "grep",
        "attempt": 2,
        "cwd": "/tmp",
    }
    with pytest.raises(InvalidPayload, match=r"details\.attempt"):
        validate_payload("tool.retried", {"details": {"attempt": 0}})
    with pytest.raises(InvalidPayload, match=r"details\.tokens"):
        validate_payload("context.built", {"details": {"tokens": -5}})
    with pytest.raises(InvalidPayload, match="details"):
        validate_payload("plan.created", {"details": ["not", "a", "mapping"]})


# --- strict: a value or its JSON form passes, a value of another type is refused --------

RUN_ID = "0191e0a4-0000-7000-8000-000000000001"
FAILED = {
    "process_run_id": RUN_ID,
    "correlation_id": "order-17",
    "status": "failed",
    "evidence_type": "RUNTIME",
}


def test_a_process_payload_takes_its_values_or_the_text_json_writes_them_as():
    as_json = validate_payload("process.run.failed", FAILED)
    as_values = validate_payload(
        "process.run.failed",
        {**FAILED, "process_run_id": uuid.UUID(RUN_ID), "evidence_type": EvidenceType.RUNTIME},
    )
    assert as_json == as_values
    assert as_json.process_run_id == uuid.UUID(RUN_ID)
    assert as_json.evidence_type is EvidenceType.RUNTIME
    assert validate_payload("process.run.failed", {**FAILED, "process_run_id": RUN_ID.upper()})
    # What it dumps validates again (the audit log's copy, a caller's model_dump()).
    assert validate_payload("process.run.failed", as_json.model_dump()) == as_json


@pytest.mark.parametrize(
    ("field", "bad", "problem"),
    [
        ("process_run_id", "abc", "Input should be a UUID (8-4-4-4-12 hex digits)"),
        ("process_run_id", RUN_ID.replace("-", ""), "Input should be a UUID (8-4-4-4-12"),
        ("process_run_id", f"{{{RUN_ID}}}", "Input should be a UUID (8-4-4-4-12"),
        ("process_run_id", 1234, "Input should be an instance of UUID"),
        ("component_run_id", f"urn:uuid:{RUN_ID}", "Input should be a UUID (8-4-4-4-12"),
        ("evidence_type", "runtime", "Input should be 'RUNTIME', 'DRY_RUN' or 'MISSING'"),
        ("evidence_type", 1, "Input should be an instance of EvidenceType"),
        ("correlation_id", 17, "Input should be a valid string"),
        ("input_ref", 5, "Input should be a valid string"),
        ("status", True, "Input should be 'failed'"),
    ],
)
def test_a_process_payload_value_of_another_type_is_refused(field, bad, problem):
    with pytest.raises(InvalidPayload) as caught:
        validate_payload("process.run.failed", {**FAILED, field: bad})
    assert str(caught.value).startswith(f"process.run.failed: invalid payload: {field}: {problem}")
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("event_type", "fields", "problem"),
    [
        ("tool.retried", {"details": {"attempt": "2"}}, "details.attempt: Input should be a valid"),
        ("tool.retried", {"details": {"attempt": 2.0}}, "details.attempt: Input should be a valid"),
        ("tool.retried", {"details": {"tool_name": 7}}, "details.tool_name: Input should be a val"),
        ("budget.warning", {"details": {"spent": "3"}}, "details.spent: Input should be a valid"),
        ("plan.created", {"details": {"phase": False}}, "details.phase: Input should be a valid"),
        ("plan.created", {"actor_name": 5}, "actor_name: Input should be a valid string"),
    ],
)
def test_a_domain_payload_value_of_another_type_is_refused(event_type, fields, problem):
    with pytest.raises(InvalidPayload) as caught:
        validate_payload(event_type, fields)
    assert f"invalid payload: {problem}" in str(caught.value)


def test_details_keep_other_keys_as_given_whatever_their_type():
    payload = validate_payload(
        "budget.warning", {"details": {"spent": 3, "limit": 10.5, "note": "5", "flag": "true"}}
    )
    assert payload.details.spent == 3.0 and isinstance(payload.details.spent, float)
    assert payload.model_dump(mode="json")["details"] == {
        "spent": 3.0,
        "limit": 10.5,
        "note": "5",
        "flag": "true",
    }


def test_a_domain_event_takes_its_values_or_the_text_json_writes_them_as():
    at = dt.datetime(2026, 3, 5, 10, 0, 1, tzinfo=dt.UTC)
    document = {"event_type": "plan.created", "timestamp": "2026-03-05T11:00:01+01:00"}
    assert DomainEvent.parse(document) == DomainEvent(
        event_type=DomainEventType.PLAN_CREATED, timestamp=at
    )
    assert DomainEvent.parse({**document, "timestamp": at}).timestamp == at
    for stamp, problem in [
        ("1700000000", "Input should be an ISO 8601 timestamp (e.g. 2026-03-05T10:00:01Z)"),
        (1700000000, "Input should be a valid datetime"),
        ("2026-03-05T10:00:01", "must be timezone-aware"),
    ]:
        with pytest.raises(InvalidPayload) as caught:
            DomainEvent.parse({**document, "timestamp": stamp})
        assert str(caught.value).startswith(f"plan.created: timestamp: {problem}")


@pytest.mark.parametrize(
    "stamp",
    [
        "2026-03-05T10:00:01Z",
        "2026-03-05T10:00:01z",
        "2026-03-05t10:00:01+00:00",
        "2026-03-05 10:00:01Z",
        "2026-03-05T11:00:01+0100",
        "2026-03-05T10:00:01,0Z",
    ],
)
def test_a_domain_event_timestamp_is_read_as_pydantic_read_it_before_strict(stamp):
    # The event id hashes the event: a form read differently would ingest a line twice.
    first = DomainEvent.parse({"event_type": "plan.created", "timestamp": "2026-03-05T10:00:01Z"})
    event = DomainEvent.parse({"event_type": "plan.created", "timestamp": stamp})
    assert event.timestamp == dt.datetime(2026, 3, 5, 10, 0, 1, tzinfo=dt.UTC)
    assert event.event_id == first.event_id


@pytest.mark.parametrize(
    "stamp", ["20260305T100001Z", "2026-W10-4T10:00:01Z", "2026-03-05T10Z", "2026-03-05"]
)
def test_a_timestamp_form_no_doc_names_is_refused(stamp):
    # datetime.fromisoformat alone takes all of these.
    with pytest.raises(InvalidPayload) as caught:
        DomainEvent.parse({"event_type": "plan.created", "timestamp": stamp})
    assert str(caught.value) == (
        "plan.created: timestamp: Input should be an ISO 8601 timestamp (e.g. 2026-03-05T10:00:01Z)"
    )


def test_an_envelope_takes_values_only():
    envelope = Envelope(
        id=uuid.UUID(RUN_ID),
        source="urn:procobs",
        type="process.run.failed",
        time=dt.datetime(2026, 3, 5, tzinfo=dt.UTC),
        correlationid="order-17",
        data={},
    )
    for field, bad in [("id", RUN_ID), ("time", "2026-03-05T00:00:00Z"), ("schemaversion", "1")]:
        with pytest.raises(pydantic.ValidationError, match=field):
            Envelope(**{**envelope.model_dump(), field: bad})
