"""JSON Schemas of the event payloads, generated from the payload models.

One file per event type, ``<event_type>.schema.json`` (JSON Schema 2020-12), describing
the event's ``data``. The repository's ``schemas/`` folder holds them for consumers; a
test fails when it drifts from the models (regenerate with ``make schemas``). Fields
marked ``"internal": true`` (a domain event's ``details``) are valid in a payload but
never leave through the outbox.
"""

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

from procobs_dagster.errors import InvalidInput
from procobs_dagster.events.payloads import PAYLOAD_MODELS
from procobs_dagster.events.types import FAMILIES
from procobs_dagster.input_files import describe, read_text_file
from procobs_dagster.output_files import check_target, write_text

DIALECT = "https://json-schema.org/draft/2020-12/schema"
_ID_PREFIX = "urn:procobs:schema:"
SUFFIX = ".schema.json"

_FAMILY_OF = {t.value: family.value for family, members in FAMILIES.items() for t in members}


def schema_for(event_type: str) -> dict[str, Any]:
    model = PAYLOAD_MODELS[event_type]
    return {
        "$schema": DIALECT,
        "$id": f"{_ID_PREFIX}{event_type}",
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


def _is_ours(path: Path) -> bool:
    """A schema file procobs wrote (its ``$id`` says so); any other is the user's."""
    try:
        document = json.loads(read_text_file(path, "schema"))
    except (InvalidInput, ValueError):
        return False
    return isinstance(document, dict) and str(document.get("$id", "")).startswith(_ID_PREFIX)


@dataclasses.dataclass(frozen=True)
class SchemaUpdate:
    """What writing the schemas into a folder would do."""

    texts: dict[Path, str]  # every file to write, with its text
    changed: list[Path]  # files there now whose text would change
    stale: list[Path]  # procobs schema files of event types that no longer exist


def plan(out: Path) -> SchemaUpdate:
    # lexists: a link to nowhere, or a loop of links, is no folder either (exists() says
    # False, and mkdir then fails on the link).
    if os.path.lexists(out) and not out.is_dir():
        raise InvalidInput(f"cannot write schemas into {describe(out)}: it is not a directory")
    texts = {out / name: text for name, text in render_all().items()}
    changed, stale = [], []
    if out.is_dir():
        for path in texts:
            if os.path.lexists(path):
                check_target(path, "schema")
                if path.read_text(encoding="utf-8") != texts[path]:
                    changed.append(path)
        stale = [p for p in sorted(out.glob(f"*{SUFFIX}")) if p not in texts and _is_ours(p)]
    return SchemaUpdate(texts, changed, stale)


def write(out: Path, update: SchemaUpdate | None = None) -> tuple[list[Path], list[Path]]:
    """Write every schema into ``out``; remove the schema files procobs wrote for types
    that no longer exist (a file procobs did not write is never touched).
    Returns (written, removed)."""
    update = update or plan(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InvalidInput(f"cannot write schemas into {describe(out)}: {exc.strerror}") from None
    for path, text in update.texts.items():
        write_text(path, text)
    for path in update.stale:
        path.unlink()
    return list(update.texts), update.stale
