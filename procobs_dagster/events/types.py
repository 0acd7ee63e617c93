"""The event types procobs knows, by family: process, dossier, domain (docs/design.md,
"Event types and the activation gate"). Their stream, lane, severity and activation live
in the database (event_type_registry, seeded by migration 0002); a test proves both list
the same types."""

import enum


class EventFamily(enum.StrEnum):
    PROCESS = "process"
    DOSSIER = "dossier"
    DOMAIN = "domain"


class ProcessEventType(enum.StrEnum):
    RUN_STARTED = "process.run.started"
    RUN_COMPLETED = "process.run.completed"
    RUN_FAILED = "process.run.failed"
    STEP_STARTED = "process.step.started"
    STEP_COMPLETED = "process.step.completed"
    CORRELATION_MISSING = "process.correlation.missing"
    EVIDENCE_MISSING = "process.evidence.missing"


class DossierEventType(enum.StrEnum):
    ARTIFACT_INDEXED = "mission_dossier_artifact_indexed"
    ARTIFACT_MISSING = "mission_dossier_artifact_missing"
    SNAPSHOT_COMPUTED = "mission_dossier_snapshot_computed"
    PARITY_DRIFT_DETECTED = "mission_dossier_parity_drift_detected"


class DomainEventType(enum.StrEnum):
    """The domain event types: 38 types in 12 categories (docs/design.md, "Domain events")."""

    PLAN_CREATED = "plan.created"
    PLAN_PHASE_CHANGED = "plan.phase_changed"
    PLAN_STATE_CHANGED = "plan.state_changed"
    PLAN_APPLIED = "plan.applied"
    PLAN_CANCELLED = "plan.cancelled"
    PLAN_ERRORED = "plan.errored"
    DECISION_CREATED = "decision.created"
    DECISION_APPROVED = "decision.approved"
    DECISION_CORRECTED = "decision.corrected"
    DECISION_SUPERSEDED = "decision.superseded"
    INVARIANT_RECONCILED = "invariant.reconciled"
    INVARIANT_VIOLATED = "invariant.violated"
    INVARIANT_ENFORCED = "invariant.enforced"
    ACTOR_INVOKED = "actor.invoked"
    ACTOR_COMPLETED = "actor.completed"
    ACTOR_ERRORED = "actor.errored"
    ACTOR_ESCALATED = "actor.escalated"
    TOOL_INVOKED = "tool.invoked"
    TOOL_COMPLETED = "tool.completed"
    TOOL_ERRORED = "tool.errored"
    TOOL_RETRIED = "tool.retried"
    RESOURCE_ACCESSED = "resource.accessed"
    RESOURCE_MODIFIED = "resource.modified"
    RESOURCE_INDEXED = "resource.indexed"
    SANDBOX_CREATED = "sandbox.created"
    SANDBOX_COMMITTED = "sandbox.committed"
    SANDBOX_ROLLED_BACK = "sandbox.rolled_back"
    CHECKPOINT_CREATED = "checkpoint.created"
    CHECKPOINT_RESTORED = "checkpoint.restored"
    CONTEXT_BUILT = "context.built"
    CONTEXT_QUERY_EXECUTED = "context.query_executed"
    VALIDATION_STARTED = "validation.started"
    VALIDATION_PASSED = "validation.passed"
    VALIDATION_FAILED = "validation.failed"
    SESSION_CREATED = "session.created"
    SESSION_MESSAGE_SENT = "session.message_sent"
    BUDGET_WARNING = "budget.warning"
    BUDGET_EXCEEDED = "budget.exceeded"


FAMILIES: dict[EventFamily, type[enum.StrEnum]] = {
    EventFamily.PROCESS: ProcessEventType,
    EventFamily.DOSSIER: DossierEventType,
    EventFamily.DOMAIN: DomainEventType,
}

ALL_EVENT_TYPES: tuple[str, ...] = tuple(t.value for members in FAMILIES.values() for t in members)
