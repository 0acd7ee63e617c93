"""One strict payload model per event type.

Unknown fields are rejected and every field is validated. Fields marked ``internal``
stay out of the outbox's ``safe_payload``: they are free-form and may carry what should
not leave the platform (the audit log keeps them).
"""

import enum
import re
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model, model_serializer

from procobs_dagster.events.json_forms import UUIDText, enum_text
from procobs_dagster.events.types import DomainEventType, DossierEventType, ProcessEventType
from procobs_dagster.limits import Identifier
from procobs_dagster.store.vocabulary import (
    ARTIFACT_CLASSES,
    COMPLETENESS,
    MISSING_REASONS,
    REQUIRED_STATUSES,
    RUN_STATUSES,
    SEVERITIES,
)

SHA256_HEX = re.compile(r"^[a-f0-9]{64}$")
PARITY_HASH = re.compile(r"^sha256:[a-f0-9]{64}$")


class Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    event_type: ClassVar[str]

    def safe_payload(self) -> dict[str, Any]:
        """The allow-listed fields, JSON-ready: what leaves through the outbox."""
        internal = {
            name
            for name, field in type(self).model_fields.items()
            if (field.json_schema_extra or {}).get("internal")
        }
        return self.model_dump(mode="json", exclude=internal)


# --- process.* (docs/design.md, "The event payload contract") ------------------


class EvidenceType(enum.StrEnum):
    RUNTIME = "RUNTIME"  # evidence of a real execution
    DRY_RUN = "DRY_RUN"  # wiring proof only (anti-fake rule)
    MISSING = "MISSING"  # completed without evidence


RunStatus = Literal[RUN_STATUSES]  # type: ignore[valid-type]


class ProcessPayload(Payload):
    """Ids and the evidence type as values or as JSON writes them (events.json_forms)."""

    process_run_id: UUIDText | None
    correlation_id: Annotated[str, Field(min_length=1)]
    component_run_id: UUIDText | None = None
    dot_code: str | None = None
    status: RunStatus
    evidence_type: enum_text(EvidenceType)  # type: ignore[valid-type]
    input_ref: str | None = None
    output_ref: str | None = None


def _process_model(event_type: ProcessEventType, name: str, statuses: tuple[str, ...], doc: str):
    model = create_model(
        name,
        __base__=ProcessPayload,
        __doc__=doc,
        status=(Literal[statuses], ...),  # type: ignore[valid-type]
    )
    model.event_type = event_type.value
    return model


PROCESS_PAYLOADS = {
    t: _process_model(t, name, statuses, doc)
    for t, name, statuses, doc in (
        (ProcessEventType.RUN_STARTED, "ProcessRunStarted", ("started",), "A run started."),
        (ProcessEventType.RUN_COMPLETED, "ProcessRunCompleted", ("completed",), "A run completed."),
        (ProcessEventType.RUN_FAILED, "ProcessRunFailed", ("failed",), "A run failed."),
        (
            ProcessEventType.STEP_STARTED,
            "ProcessStepStarted",
            ("step_started",),
            "A component (step) of a run started.",
        ),
        (
            ProcessEventType.STEP_COMPLETED,
            "ProcessStepCompleted",
            ("step_completed",),
            "A component (step) of a run completed.",
        ),
        (
            ProcessEventType.CORRELATION_MISSING,
            "ProcessCorrelationMissing",
            ("orphan",),
            "A component reported a correlation_id that matches no run; it is kept as orphan.",
        ),
        (
            ProcessEventType.EVIDENCE_MISSING,
            "ProcessEvidenceMissing",
            ("completed",),
            "A run or component completed without evidence.",
        ),
    )
}


# --- mission dossier (docs/design.md, "The mission dossier and the parity recipe") ----


class DossierPayload(Payload):
    feature_slug: Annotated[str, Field(min_length=1)]


# Patterns (not validators) so the generated JSON Schemas carry the rule too.
Sha256Hex = Annotated[str, Field(pattern=SHA256_HEX.pattern, description="lowercase sha256 hex")]
ParityHash = Annotated[
    str, Field(pattern=PARITY_HASH.pattern, description="'sha256:' + 64 lowercase hex")
]


class MissionDossierArtifactIndexed(DossierPayload):
    """Emitted per successfully indexed artifact."""

    event_type: ClassVar[str] = DossierEventType.ARTIFACT_INDEXED.value
    artifact_key: Annotated[str, Field(min_length=1)]
    artifact_class: Literal[ARTIFACT_CLASSES]  # type: ignore[valid-type]
    relative_path: Annotated[str, Field(min_length=1)]
    content_hash_sha256: Sha256Hex
    size_bytes: Annotated[int, Field(ge=0)]
    wp_id: str | None = None
    step_id: str | None = None
    required_status: Literal[REQUIRED_STATUSES]  # type: ignore[valid-type]


class MissionDossierArtifactMissing(DossierPayload):
    """Emitted when a required (or blocking) artifact is missing or unreadable."""

    event_type: ClassVar[str] = DossierEventType.ARTIFACT_MISSING.value
    artifact_key: Annotated[str, Field(min_length=1)]
    artifact_class: Literal[ARTIFACT_CLASSES]  # type: ignore[valid-type]
    expected_path_pattern: Annotated[str, Field(min_length=1)]
    reason_code: Literal[MISSING_REASONS]  # type: ignore[valid-type]
    reason_detail: str | None = None
    blocking: bool


class ArtifactCounts(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    total: Annotated[int, Field(ge=0)]
    required: Annotated[int, Field(ge=0)]
    required_present: Annotated[int, Field(ge=0)]
    required_missing: Annotated[int, Field(ge=0)]
    optional: Annotated[int, Field(ge=0)]
    optional_present: Annotated[int, Field(ge=0)]


class MissionDossierSnapshotComputed(DossierPayload):
    """Emitted after every scan, with the snapshot's counts and parity hash."""

    event_type: ClassVar[str] = DossierEventType.SNAPSHOT_COMPUTED.value
    parity_hash_sha256: ParityHash
    artifact_counts: ArtifactCounts
    completeness_status: Literal[COMPLETENESS]  # type: ignore[valid-type]
    snapshot_id: Annotated[str, Field(min_length=1)]


class MissionDossierParityDriftDetected(DossierPayload):
    """Emitted only when the local snapshot's parity hash differs from its baseline."""

    event_type: ClassVar[str] = DossierEventType.PARITY_DRIFT_DETECTED.value
    local_parity_hash: ParityHash
    baseline_parity_hash: ParityHash
    missing_in_local: list[str] = []
    missing_in_baseline: list[str] = []
    severity: Literal[SEVERITIES]  # type: ignore[valid-type]


DOSSIER_PAYLOADS = {
    DossierEventType(m.event_type): m
    for m in (
        MissionDossierArtifactIndexed,
        MissionDossierArtifactMissing,
        MissionDossierSnapshotComputed,
        MissionDossierParityDriftDetected,
    )
}


# --- domain events (docs/design.md, "Domain events") -----------------------------


class Details(BaseModel):
    """``details`` of a domain event, typed per event type (docs/design.md, "Domain events").

    The keys procobs knows are typed and documented per category; other keys are kept
    as given, since agents put their own context there. Only the keys given are
    serialised. The known keys are strict as every payload is ("5" is no ``attempt``);
    the others are kept as given (a DomainEvent's ``details`` holds JSON values only)."""

    model_config = ConfigDict(extra="allow", frozen=True, strict=True)

    phase: str | None = Field(None, description="the plan's phase when the event happened")
    state: str | None = Field(None, description="the plan's state when the event happened")

    @model_serializer(mode="wrap")
    def _only_given(self, handler):
        data = handler(self)
        given = self.model_fields_set | set(self.model_extra or {})
        return {k: v for k, v in data.items() if k in given}


class PlanDetails(Details):
    candidate_code: Identifier | None = Field(
        None, description="plan.created: the process candidate its run is recorded under"
    )
    error: str | None = Field(None, description="plan.errored: what went wrong")
    reason: str | None = Field(None, description="plan.cancelled: why")


class DecisionDetails(Details):
    decision_id: str | None = None
    summary: str | None = None
    superseded_by: str | None = Field(None, description="decision.superseded: the new decision")


class InvariantDetails(Details):
    invariant: str | None = Field(None, description="the invariant's name")
    expected: Any = None
    actual: Any = None


class InvocationDetails(Details):
    invocation_id: Identifier | None = Field(
        None, description="pairs an invocation with its completion or error"
    )
    error: str | None = Field(None, description="*.errored / *.failed: what went wrong")


class ActorDetails(InvocationDetails):
    reason: str | None = Field(None, description="actor.escalated: why")


class ToolDetails(InvocationDetails):
    tool_name: Identifier | None = Field(
        None, description="the tool invoked (required by ingestion)"
    )
    attempt: Annotated[int, Field(ge=1)] | None = Field(None, description="tool.retried")


class ValidationDetails(InvocationDetails):
    validator: Identifier | None = Field(None, description="the validation that ran")


class ResourceDetails(Details):
    uri: str | None = Field(None, description="the resource accessed, modified or indexed")


class SandboxDetails(Details):
    sandbox_id: str | None = None


class CheckpointDetails(Details):
    checkpoint_id: str | None = None


class ContextDetails(Details):
    query: str | None = None
    tokens: Annotated[int, Field(ge=0)] | None = None


class SessionDetails(Details):
    message_id: str | None = None


class BudgetDetails(Details):
    spent: Annotated[float, Field(ge=0)] | None = None
    limit: Annotated[float, Field(ge=0)] | None = None
    unit: str | None = Field(None, description="e.g. USD, tokens")


DETAILS_BY_CATEGORY: dict[str, type[Details]] = {
    "plan": PlanDetails,
    "decision": DecisionDetails,
    "invariant": InvariantDetails,
    "actor": ActorDetails,
    "tool": ToolDetails,
    "resource": ResourceDetails,
    "sandbox": SandboxDetails,
    "checkpoint": CheckpointDetails,
    "context": ContextDetails,
    "validation": ValidationDetails,
    "session": SessionDetails,
    "budget": BudgetDetails,
}


class DomainPayload(Payload):
    """The DomainEvent correlation fields, and the type-specific ``details``
    (internal: kept in the audit log, never sent through the outbox)."""

    plan_id: Identifier | None = None
    root_plan_id: Identifier | None = None
    session_id: Identifier | None = None
    actor_name: Identifier | None = None
    project_name: Identifier | None = None
    details: Details = Field(default_factory=Details, json_schema_extra={"internal": True})


def _domain_model(event_type: DomainEventType):
    name = "".join(part.capitalize() for part in re.split(r"[._]", event_type.value))
    details = DETAILS_BY_CATEGORY[event_type.value.split(".")[0]]
    model = create_model(
        name,
        __base__=DomainPayload,
        __doc__=f'Domain event {event_type.value} (docs/design.md, "Domain events").',
        details=(
            details,
            Field(default_factory=details, json_schema_extra={"internal": True}),
        ),
    )
    model.event_type = event_type.value
    return model


DOMAIN_PAYLOADS = {t: _domain_model(t) for t in DomainEventType}

PAYLOAD_MODELS: dict[str, type[Payload]] = {
    **{t.value: m for t, m in PROCESS_PAYLOADS.items()},
    **{t.value: m for t, m in DOSSIER_PAYLOADS.items()},
    **{t.value: m for t, m in DOMAIN_PAYLOADS.items()},
}
