"""schemas/ is generated from the payload models and must not drift from them."""

import json
from pathlib import Path

from procobs_dagster.events import ALL_EVENT_TYPES
from procobs_dagster.events import schemas as event_schemas

COMMITTED = Path(__file__).resolve().parents[2] / "schemas"


def test_committed_schemas_match_the_payload_models():
    rendered = event_schemas.render_all()
    committed = {p.name: p.read_text() for p in COMMITTED.glob("*.schema.json")}
    assert sorted(committed) == sorted(rendered), "schemas/ lists other types: run `make schemas`"
    drifted = [name for name, text in rendered.items() if committed[name] != text]
    assert drifted == [], f"schemas/ drifted from the payload models: run `make schemas`: {drifted}"
    assert len(rendered) == len(ALL_EVENT_TYPES) == 49


def _schema(event_type):
    return json.loads((COMMITTED / f"{event_type}.schema.json").read_text())


def test_schemas_carry_the_validation_rules_of_the_models():
    indexed = _schema("mission_dossier_artifact_indexed")
    assert indexed["additionalProperties"] is False
    assert indexed["properties"]["content_hash_sha256"]["pattern"] == "^[a-f0-9]{64}$"
    assert indexed["properties"]["size_bytes"]["minimum"] == 0
    assert set(indexed["required"]) == {
        "feature_slug",
        "artifact_key",
        "artifact_class",
        "relative_path",
        "content_hash_sha256",
        "size_bytes",
        "required_status",
    }
    drift = _schema("mission_dossier_parity_drift_detected")
    assert drift["properties"]["severity"]["enum"] == ["info", "warning", "error"]
    step = _schema("process.step.completed")
    assert step["properties"]["status"]["const"] == "step_completed"
    assert step["x-procobs-family"] == "process"
    tool = _schema("tool.retried")
    assert tool["properties"]["details"]["internal"] is True
    details = tool["$defs"]["ToolDetails"]
    assert details["additionalProperties"] is True and "tool_name" in details["properties"]
