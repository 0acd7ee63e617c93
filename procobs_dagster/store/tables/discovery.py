"""Process candidates, their discovery scores, and the owner-gated birth records.

Only ``procobs birth`` (discovery/birth.py) writes process_definition and birth_registry;
birth_registry is append-only (triggers refuse UPDATE and DELETE).
"""

import sqlalchemy as sa

from procobs_dagster.store.tables.base import BigSerial, metadata
from procobs_dagster.store.types import JSONDoc, StoredBoolean, StoredUuid, UTCDateTime
from procobs_dagster.store.vocabulary import (
    CANDIDATE_SOURCES,
    CANDIDATE_STATUSES,
    PROOF_SOURCES,
    sql_in,
)

# The verdict a row states must be the one its counts imply (docs/design.md, "The verified
# bar"): the database refuses a verified_candidate without a real run meeting the bar,
# whoever writes.
STATUS_FROM_COUNTS = (
    "status = CASE WHEN verified_runs > 0 THEN 'verified_candidate' "
    "WHEN support > 0 THEN 'observed' "
    "WHEN dry_runs > 0 THEN 'wired' "
    "ELSE 'runtime_missing' END"
)


def _ratio(column: str) -> sa.CheckConstraint:
    return sa.CheckConstraint(f"{column} IS NULL OR {column} BETWEEN 0 AND 1", name=column)


def _named_approver() -> sa.CheckConstraint:
    return sa.CheckConstraint("length(trim(approved_by)) > 0", name="approved_by")


# Every candidate procobs knows of: declared in the catalog, or discovered because a run
# named it. Kept up to date by each scoring.
process_candidate = sa.Table(
    "process_candidate",
    metadata,
    sa.Column("candidate_code", sa.Text, primary_key=True),
    # NULL for a discovered candidate nobody declared: its kind is not known.
    sa.Column("source", sa.Text),
    sa.Column("title", sa.Text),
    sa.Column("covers", JSONDoc),
    sa.Column("expected_steps", JSONDoc),
    sa.Column("declared", StoredBoolean, nullable=False),
    # A backfilled "last executed" stamp from the platform. Kept for display only:
    # it is never runtime evidence (docs/design.md, "Anti-fake rules").
    sa.Column("last_executed", UTCDateTime),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.CheckConstraint(f"source IS NULL OR {sql_in('source', CANDIDATE_SOURCES)}", name="source"),
    sa.CheckConstraint("NOT declared OR source IS NOT NULL", name="declared_has_source"),
)

# One row per candidate per scoring; the newest row per candidate is the current verdict.
discovery_score = sa.Table(
    "discovery_score",
    metadata,
    sa.Column("score_id", BigSerial, primary_key=True, autoincrement=True),
    sa.Column("computed_at", UTCDateTime, nullable=False),
    sa.Column("candidate_code", sa.Text, nullable=False),
    sa.Column("declared", StoredBoolean, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("support", sa.Integer, nullable=False),
    sa.Column("dry_runs", sa.Integer, nullable=False),
    sa.Column("completed_runs", sa.Integer, nullable=False),
    sa.Column("verified_runs", sa.Integer, nullable=False),
    sa.Column("fitting_runs", sa.Integer, nullable=False),
    sa.Column("completion_ratio", sa.Float),
    sa.Column("evidence_completeness", sa.Float),
    sa.Column("fitness", sa.Float),
    sa.Column("last_seen_at", UTCDateTime),
    sa.Column("proving_run_id", StoredUuid),
    sa.Column("proof_source", sa.Text),
    sa.Column("explanation", sa.Text, nullable=False),
    sa.Column("evidence", JSONDoc, nullable=False),
    sa.Column("directly_follows", JSONDoc, nullable=False),
    sa.CheckConstraint(sql_in("status", CANDIDATE_STATUSES), name="status"),
    sa.CheckConstraint(STATUS_FROM_COUNTS, name="status_from_counts"),
    sa.CheckConstraint(
        "(status = 'verified_candidate') = (proving_run_id IS NOT NULL)", name="proof_iff_verified"
    ),
    sa.CheckConstraint(
        f"(proving_run_id IS NULL) = (proof_source IS NULL) AND "
        f"(proof_source IS NULL OR {sql_in('proof_source', PROOF_SOURCES)})",
        name="proof_source",
    ),
    sa.CheckConstraint(
        "dry_runs >= 0 AND verified_runs >= 0 AND verified_runs <= completed_runs "
        "AND completed_runs <= support AND fitting_runs >= 0 AND fitting_runs <= support",
        name="counts",
    ),
    _ratio("completion_ratio"),
    _ratio("evidence_completeness"),
    _ratio("fitness"),
    # A candidate's scores newest first; with the tiebreak, retention's probe for the N-th
    # newer one reads the index alone.
    sa.Index(None, "candidate_code", "computed_at", "score_id"),
    sa.Index(None, "computed_at"),
    # Retention walks the old scores oldest first (maintenance/_pruning.py, walk).
    sa.Index(None, "computed_at", "score_id"),
    # A key is never given twice, SQLite included (migration 0013_sqlite_autoincrement).
    sqlite_autoincrement=True,
)

process_definition = sa.Table(
    "process_definition",
    metadata,
    sa.Column("definition_code", sa.Text, primary_key=True),
    sa.Column("candidate_code", sa.Text, nullable=False, unique=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("approved_by", sa.Text, nullable=False),
    _named_approver(),
)

birth_registry = sa.Table(
    "birth_registry",
    metadata,
    sa.Column("birth_id", BigSerial, primary_key=True, autoincrement=True),
    sa.Column(
        "definition_code",
        sa.Text,
        sa.ForeignKey("process_definition.definition_code"),
        nullable=False,
        unique=True,
    ),
    sa.Column("candidate_code", sa.Text, nullable=False),
    # No foreign key: retention archives old runs, the birth record must outlive them.
    # ``evidence`` keeps the verdict as it stood at birth.
    sa.Column("proving_run_id", StoredUuid, nullable=False),
    sa.Column("proof_source", sa.Text, nullable=False),
    sa.Column("approved_by", sa.Text, nullable=False),
    sa.Column("born_at", UTCDateTime, nullable=False),
    sa.Column("evidence", JSONDoc, nullable=False),
    sa.CheckConstraint(sql_in("proof_source", PROOF_SOURCES), name="proof_source"),
    _named_approver(),
)

# One row per trace (docs/discovery.md, "Trace summaries"): what the scoring needs of it —
# its variant and the bar's conditions — so a candidate's scores add up summaries instead
# of re-reading the ledger. A pure function of the live and archive tables: retention moves
# rows, it never changes a summary, so archived runs keep counting. No foreign key, and
# retention leaves the table alone.
discovery_trace_summary = sa.Table(
    "discovery_trace_summary",
    metadata,
    sa.Column("trace_id", StoredUuid, primary_key=True),
    sa.Column("origin", sa.Text, primary_key=True),
    sa.Column("candidate_code", sa.Text, primary_key=True),
    sa.Column("correlation_id", sa.Text),
    sa.Column("header_status", sa.Text),
    sa.Column("dry_run", sa.SmallInteger, nullable=False),
    sa.Column("completed", sa.SmallInteger, nullable=False),
    sa.Column("timed", sa.SmallInteger, nullable=False),
    sa.Column("n_steps", sa.Integer, nullable=False),
    sa.Column("n_evidence", sa.Integer),
    # The step activities in step order, as a JSON list; NULL for a trace without steps.
    sa.Column("variant", sa.Text),
    sa.Column("seen_at", UTCDateTime, nullable=False),
    sa.CheckConstraint(sql_in("origin", PROOF_SOURCES), name="origin"),
    sa.CheckConstraint(
        "dry_run IN (0, 1) AND completed IN (0, 1) AND timed IN (0, 1)", name="flags"
    ),
    sa.CheckConstraint(
        "n_steps >= 0 AND (n_evidence IS NULL OR n_evidence BETWEEN 0 AND n_steps)",
        name="counts",
    ),
    # A changed correlation_id re-summarises the ledger traces sharing it.
    sa.Index(None, "correlation_id"),
    sa.Index(None, "candidate_code"),
)

# The queue of ledger keys whose traces changed since they were summarised, filled by
# triggers on the ledger and job_queue (store/triggers.py) whoever writes, emptied by
# the refresh that re-summarises them (discovery/summaries.py).
discovery_trace_change = sa.Table(
    "discovery_trace_change",
    metadata,
    sa.Column("change_id", BigSerial, primary_key=True, autoincrement=True),
    # A ledger run's or component's correlation_id: re-summarise the runs sharing it.
    sa.Column("correlation_id", sa.Text),
    # A ledger run's id or a job_queue run_id: re-summarise the job traces of that run.
    sa.Column("run_id", StoredUuid),
    sa.CheckConstraint("correlation_id IS NOT NULL OR run_id IS NOT NULL", name="has_key"),
)

# One row: what the summaries were built against. ``job_coverage`` is the catalog's job
# kinds per job-backed candidate when the job traces were summarised (they depend on it);
# NULL until a first full build.
discovery_summary_state = sa.Table(
    "discovery_summary_state",
    metadata,
    sa.Column("state_id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("job_coverage", sa.Text),
    sa.Column("built_at", UTCDateTime),
    sa.Column("refreshed_at", UTCDateTime),
    sa.CheckConstraint("state_id = 1", name="singleton"),
)

# The trace summaries grouped into classes (candidate, origin, variant, the gate's
# conditions: discovery/evidence.py ``classes``), kept current with them in the same
# transaction by adding and subtracting what each changed summary contributes, so the
# scoring reads classes instead of grouping every summary (docs/discovery.md, "Trace
# classes"). Empty until the summaries' first build.
discovery_trace_class = sa.Table(
    "discovery_trace_class",
    metadata,
    # A digest of the class's key columns: the variant is unbounded text, too long to
    # index as it stands.
    sa.Column("class_key", sa.Text, primary_key=True),
    sa.Column("candidate_code", sa.Text, nullable=False),
    sa.Column("origin", sa.Text, nullable=False),
    sa.Column("variant", sa.Text),
    sa.Column("dry_run", sa.SmallInteger, nullable=False),
    sa.Column("completed", sa.SmallInteger, nullable=False),
    sa.Column("timed", sa.SmallInteger, nullable=False),
    sa.Column("enough_steps", sa.SmallInteger, nullable=False),
    sa.Column("traces", sa.BigInteger, nullable=False),
    sa.Column("components", sa.BigInteger, nullable=False),
    sa.Column("components_with_evidence", sa.BigInteger, nullable=False),
    sa.Column("last_seen_at", UTCDateTime, nullable=False),
    # The greatest trace id of the class, as text (bytewise order).
    sa.Column("representative", sa.Text, nullable=False),
    sa.CheckConstraint(sql_in("origin", PROOF_SOURCES), name="origin"),
    sa.CheckConstraint(
        "traces > 0 AND components >= 0 AND components_with_evidence BETWEEN 0 AND components",
        name="counts",
    ),
    sa.Index(None, "candidate_code"),
)
