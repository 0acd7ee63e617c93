"""The dossier payloads' validation rules, one by one, and the process payload contract."""

import pytest

from procobs_dagster.events import InvalidPayload, validate_payload

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
