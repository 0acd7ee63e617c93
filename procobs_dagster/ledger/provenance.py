"""Where an observation comes from, and the anti-fake rule (docs/design.md, "Anti-fake rules")."""

from procobs_dagster.errors import InvalidInput
from procobs_dagster.store.vocabulary import SOURCE_SYSTEMS


def check_source(source_system: str) -> None:
    if source_system not in SOURCE_SYSTEMS:
        raise InvalidInput(
            f"unknown source_system {source_system!r}: expected one of {', '.join(SOURCE_SYSTEMS)}"
        )


def evidence_for(source_system: str, evidence: dict | None, what: str) -> dict | None:
    """The evidence_ref to store: a dry run is flagged, a real run may not claim to be one."""
    if evidence is not None and not isinstance(evidence, dict):
        raise InvalidInput(f"{what}: evidence must be a JSON object, got {type(evidence).__name__}")
    if source_system == "dry_run":
        return {**(evidence or {}), "dry_run": True}
    if (evidence or {}).get("dry_run"):
        raise InvalidInput(f"{what}: evidence says dry_run but source_system is {source_system!r}")
    return evidence
