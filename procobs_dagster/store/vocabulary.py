"""The closed vocabularies the database enforces with CHECK constraints.

Kept here, beside the tables, so a CHECK and the Python code that reasons about the
same values can never disagree.
"""

# The happy path, then the side states (docs/design.md, "The run lifecycle").
RUN_STATUSES = (
    "observed",
    "started",
    "step_started",
    "step_completed",
    "completed",
    "failed",
    "stuck",
    "cancelled",
    "orphan",
)
# Outcomes of the work itself. ``stuck`` and ``orphan`` are verdicts of the sweeps, not
# outcomes: they carry no ended_at and a late real outcome still overrides them.
TERMINAL_STATUSES = ("completed", "failed", "cancelled")

SOURCE_SYSTEMS = ("dot_runtime", "job_queue", "workflow_engine", "domain_event", "dry_run")
COMPONENT_ROLES = ("producer", "verifier", "step")
HISTORY_SUBJECTS = ("run", "component")

JOB_STATUSES = ("queued", "running", "completed", "failed", "cancelled")
JOB_TERMINAL_STATUSES = ("completed", "failed", "cancelled")

EVENT_FAMILIES = ("process", "dossier", "domain")
EVENT_STREAMS = ("update", "alert")
EVENT_LANES = ("delayed", "immediate")
SEVERITIES = ("info", "warning", "error")

DELIVERY_STATES = ("pending", "delivering", "delivered", "retry", "dead")
SINK_KINDS = ("webhook", "file", "null")

ARTIFACT_CLASSES = ("input", "workflow", "output", "evidence", "policy", "runtime")
REQUIRED_STATUSES = ("required", "optional")
MISSING_REASONS = ("not_found", "unreadable", "invalid_format", "deleted_after_scan")
COMPLETENESS = ("complete", "incomplete", "unknown")

CANDIDATE_SOURCES = ("dot", "job", "workflow")
CANDIDATE_STATUSES = ("runtime_missing", "wired", "observed", "verified_candidate")
# Where the run that proved a candidate is recorded (docs/design.md, "The verified bar").
PROOF_SOURCES = ("process_run_observation", "job_queue")


def sql_in(column: str, values: tuple[str, ...]) -> str:
    """``column IN ('a', 'b')`` for a CHECK constraint; the values are our own constants."""
    quoted = ", ".join("'" + v.replace("'", "''") + "'" for v in values)
    return f"{column} IN ({quoted})"


# Workflow engines reporting runs (issue 13): where a report came from, the run-state
# transitions of OpenLineage's run cycle (the Dagster-runs source maps onto the same), and
# where a reported run sits in the ledger — not yet (held until its parent is seen), as a
# run header, or as a component of a run.
WORKFLOW_SOURCES = ("openlineage", "dagster")
WORKFLOW_EVENT_TYPES = ("START", "RUNNING", "COMPLETE", "ABORT", "FAIL", "OTHER")
WORKFLOW_PLACEMENTS = ("held", "run", "component")
