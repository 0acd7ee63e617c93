"""Process candidates, their discovery scores, and the owner-gated birth records."""

import sqlalchemy as sa

from procobs_dagster.store.tables.base import BigSerial, metadata
from procobs_dagster.store.types import JSONDoc, UTCDateTime
from procobs_dagster.store.vocabulary import CANDIDATE_SOURCES, CANDIDATE_STATUSES, sql_in

process_candidate = sa.Table(
    "process_candidate",
    metadata,
    sa.Column("candidate_code", sa.Text, primary_key=True),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("title", sa.Text),
    sa.Column("covers", JSONDoc),
    sa.Column("expected_steps", JSONDoc),
    sa.Column("declared", sa.Boolean, nullable=False),
    # A backfilled "last executed" stamp from the platform. Kept for display only:
    # it is never runtime evidence (seed 002 §2.5).
    sa.Column("last_executed", UTCDateTime),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.CheckConstraint(sql_in("source", CANDIDATE_SOURCES), name="source"),
)

discovery_score = sa.Table(
    "discovery_score",
    metadata,
    sa.Column("score_id", BigSerial, primary_key=True, autoincrement=True),
    sa.Column("computed_at", UTCDateTime, nullable=False),
    sa.Column("candidate_code", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("support", sa.Integer, nullable=False),
    sa.Column("dry_runs", sa.Integer, nullable=False),
    sa.Column("completion_ratio", sa.Float),
    sa.Column("evidence_completeness", sa.Float),
    sa.Column("fitness", sa.Float),
    sa.Column("last_seen_at", UTCDateTime),
    sa.Column("proving_run_id", sa.Uuid),
    sa.Column("explanation", sa.Text, nullable=False),
    sa.Column("directly_follows", JSONDoc),
    sa.CheckConstraint(sql_in("status", CANDIDATE_STATUSES), name="status"),
    sa.CheckConstraint(
        "status <> 'verified_candidate' OR proving_run_id IS NOT NULL", name="verified_has_proof"
    ),
    sa.Index(None, "candidate_code", "computed_at"),
    sa.Index(None, "computed_at"),
)

process_definition = sa.Table(
    "process_definition",
    metadata,
    sa.Column("definition_code", sa.Text, primary_key=True),
    sa.Column("candidate_code", sa.Text, nullable=False, unique=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("approved_by", sa.Text, nullable=False),
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
    sa.Column("proving_run_id", sa.Uuid, nullable=False),
    sa.Column("approved_by", sa.Text, nullable=False),
    sa.Column("born_at", UTCDateTime, nullable=False),
    sa.Column("evidence", JSONDoc, nullable=False),
)
