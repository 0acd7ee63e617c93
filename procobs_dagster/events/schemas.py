"""JSON Schemas of the event payloads, generated from the payload models.

One file per event type, ``<event_type>.schema.json`` (JSON Schema 2020-12), describing
the event's ``data``. The repository's ``schemas/`` folder holds them for consumers; a
test fails when it drifts from the models (regenerate with ``make schemas``). Fields
marked ``"internal": true`` (a domain event's ``details``) are valid in a payload but
never leave through the outbox.
"""

import json
from pathlib import Path
from typing import Any

from procobs_dagster.events.payloads import PAYLOAD_MODELS
from procobs_dagster.events.types import FAMILIES

DIALECT = "https://json-schema.org/draft/2020-12/schema"
SUFFIX = ".schema.json"

_FAMILY_OF = {t.value: family.value for family, members in FAMILIES.items() for t in members}


def schema_for(event_type: str) -> dict[str, Any]:
    model = PAYLOAD_MODELS[event_type]
    return {
        "$schema": DIALECT,
        "$id": f"urn:procobs:schema:{event_type}",
        "x-procobs-event-type": event_type,
        "x-procobs-family": _FAMILY_OF[event_type],
        **model.model_json_schema(),
    }


def render_all() -> dict[str, str]:
    """File name → file text, for every event type."""
    return {
        f"{event_type}{SUFFIX}": json.dumps(schema_for(event_type), indent=2, sort_keys=True) + "\n"
        for event_type in sorted(PAYLOAD_MODELS)
    }


def write(out: Path) -> tuple[list[Path], list[Path]]:
    """Write every schema into ``out``; remove schema files of types that no longer exist.
    Returns (written, removed)."""
    out.mkdir(parents=True, exist_ok=True)
    rendered = render_all()
    written = []
    for name, text in rendered.items():
        path = out / name
        path.write_text(text)
        written.append(path)
    removed = [p for p in sorted(out.glob(f"*{SUFFIX}")) if p.name not in rendered]
    for path in removed:
        path.unlink()
    return written, removed
