"""Event registry, outbox, audit log and emission settings.

Revision ID: 0002_events
Revises: 0001_ledger
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from procobs_dagster.store.sql import current_txid
from procobs_dagster.store.triggers import append_only, drop_append_only

revision = "0002_events"
down_revision = "0001_ledger"
branch_labels = None
depends_on = None

JSON_DOC = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

APPEND_ONLY = {"event_outbox": ("UPDATE",), "audit_log": ("UPDATE", "DELETE")}

# The registry as first shipped (docs/design.md, "Event types and the activation gate"). Every type starts inactive.
_PROCESS = [
    ("process.run.started", "update", "delayed", "info", "A process run started."),
    ("process.run.completed", "update", "delayed", "info", "A process run completed."),
    ("process.run.failed", "alert", "immediate", "warning", "A process run failed."),
    ("process.step.started", "update", "delayed", "info", "A component (step) of a run started."),
    (
        "process.step.completed",
        "update",
        "delayed",
        "info",
        "A component (step) of a run completed.",
    ),
    (
        "process.correlation.missing",
        "alert",
        "immediate",
        "warning",
        "A component was reported under a correlation_id that matches no run.",
    ),
    (
        "process.evidence.missing",
        "alert",
        "immediate",
        "warning",
        "A run or component completed without evidence.",
    ),
]
_DOSSIER = [
    (
        "mission_dossier_artifact_indexed",
        "update",
        "delayed",
        "info",
        "A dossier artifact was indexed.",
    ),
    (
        "mission_dossier_artifact_missing",
        "alert",
        "immediate",
        "warning",
        "A required dossier artifact is missing or unreadable.",
    ),
    (
        "mission_dossier_snapshot_computed",
        "update",
        "delayed",
        "info",
        "A dossier snapshot and its parity hash were computed.",
    ),
    (
        "mission_dossier_parity_drift_detected",
        "alert",
        "immediate",
        "warning",
        "The dossier's parity hash differs from its baseline.",
    ),
]
_DOMAIN_ALERTS = {
    "plan.errored": ("immediate", "error"),
    "invariant.violated": ("immediate", "error"),
    "budget.exceeded": ("immediate", "error"),
    "actor.errored": ("immediate", "warning"),
    "actor.escalated": ("immediate", "warning"),
    "tool.errored": ("immediate", "warning"),
    "validation.failed": ("immediate", "warning"),
    "budget.warning": ("delayed", "warning"),
}
_DOMAIN = {
    "plan": ["created", "phase_changed", "state_changed", "applied", "cancelled", "errored"],
    "decision": ["created", "approved", "corrected", "superseded"],
    "invariant": ["reconciled", "violated", "enforced"],
    "actor": ["invoked", "completed", "errored", "escalated"],
    "tool": ["invoked", "completed", "errored", "retried"],
    "resource": ["accessed", "modified", "indexed"],
    "sandbox": ["created", "committed", "rolled_back"],
    "checkpoint": ["created", "restored"],
    "context": ["built", "query_executed"],
    "validation": ["started", "passed", "failed"],
    "session": ["created", "message_sent"],
    "budget": ["warning", "exceeded"],
}


def _registry_rows() -> list[dict]:
    rows = [
        dict(event_type=t, family="process", stream=s, lane=la, severity=sv, description=d)
        for t, s, la, sv, d in _PROCESS
    ]
    rows += [
        dict(event_type=t, family="dossier", stream=s, lane=la, severity=sv, description=d)
        for t, s, la, sv, d in _DOSSIER
    ]
    for category, verbs in _DOMAIN.items():
        for verb in verbs:
            event_type = f"{category}.{verb}"
            lane, severity = _DOMAIN_ALERTS.get(event_type, ("delayed", "info"))
            rows.append(
                dict(
                    event_type=event_type,
                    family="domain",
                    stream="alert" if event_type in _DOMAIN_ALERTS else "update",
                    lane=lane,
                    severity=severity,
                    description=f"Domain event: {category} {verb.replace('_', ' ')}.",
                )
            )
    return [dict(row, active=False, schema_version=1) for row in rows]


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column(
            "audit_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=True),
        sa.Column("event_type", sa.Text(), nullable=True),
        sa.Column("correlation_id", sa.Text(), nullable=True),
        sa.Column("subject", sa.Text(), nullable=True),
        sa.Column("details", JSON_DOC, nullable=True),
        sa.PrimaryKeyConstraint("audit_id", name=op.f("pk_audit_log")),
    )
    op.create_index(op.f("ix_audit_log_action"), "audit_log", ["action"], unique=False)
    op.create_index(
        op.f("ix_audit_log_correlation_id"), "audit_log", ["correlation_id"], unique=False
    )
    op.create_index(op.f("ix_audit_log_event_type"), "audit_log", ["event_type"], unique=False)
    op.create_table(
        "event_type_registry",
        sa.Column("event_type", sa.Text(), nullable=False),
        sa.Column("family", sa.Text(), nullable=False),
        sa.Column("stream", sa.Text(), nullable=False),
        sa.Column("lane", sa.Text(), nullable=False),
        sa.Column("severity", sa.Text(), nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("schema_version", sa.Integer(), server_default="1", nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_by", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "family IN ('process', 'dossier', 'domain')", name=op.f("ck_event_type_registry_family")
        ),
        sa.CheckConstraint(
            "lane IN ('delayed', 'immediate')", name=op.f("ck_event_type_registry_lane")
        ),
        sa.CheckConstraint(
            "severity IN ('info', 'warning', 'error')", name=op.f("ck_event_type_registry_severity")
        ),
        sa.CheckConstraint(
            "stream IN ('update', 'alert')", name=op.f("ck_event_type_registry_stream")
        ),
        sa.PrimaryKeyConstraint("event_type", name=op.f("pk_event_type_registry")),
    )
    op.create_index(
        op.f("ix_event_type_registry_family"), "event_type_registry", ["family"], unique=False
    )
    op.create_table(
        "piece_event_runtime",
        sa.Column("singleton", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("emit_enabled", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_by", sa.Text(), nullable=True),
        sa.CheckConstraint("singleton", name=op.f("ck_piece_event_runtime_one_row")),
        sa.PrimaryKeyConstraint("singleton", name=op.f("pk_piece_event_runtime")),
    )
    op.create_table(
        "process_dot_runtime",
        sa.Column("singleton", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("dry_run_only", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_by", sa.Text(), nullable=True),
        sa.CheckConstraint("singleton", name=op.f("ck_process_dot_runtime_one_row")),
        sa.PrimaryKeyConstraint("singleton", name=op.f("pk_process_dot_runtime")),
    )
    op.create_table(
        "event_outbox",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("tx_id", sa.BigInteger(), server_default=current_txid(), nullable=True),
        sa.Column("event_type", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=True),
        sa.Column("correlation_id", sa.Text(), nullable=False),
        sa.Column("causation_id", sa.Text(), nullable=True),
        sa.Column("process_run_id", sa.Uuid(), nullable=True),
        sa.Column("schema_version", sa.Integer(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "recorded_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("safe_payload", JSON_DOC, nullable=False),
        sa.ForeignKeyConstraint(
            ["event_type"],
            ["event_type_registry.event_type"],
            name=op.f("fk_event_outbox_event_type_event_type_registry"),
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_event_outbox")),
        sa.UniqueConstraint("event_id", name=op.f("uq_event_outbox_event_id")),
    )
    op.create_index(
        op.f("ix_event_outbox_correlation_id"), "event_outbox", ["correlation_id"], unique=False
    )
    op.create_index(
        op.f("ix_event_outbox_event_type"), "event_outbox", ["event_type"], unique=False
    )
    op.create_index(
        op.f("ix_event_outbox_tx_id_seq"), "event_outbox", ["tx_id", "seq"], unique=False
    )

    registry = sa.table(
        "event_type_registry",
        *(
            sa.column(name, sa.Text)
            for name in ("event_type", "family", "stream", "lane", "severity")
        ),
        sa.column("active", sa.Boolean),
        sa.column("schema_version", sa.Integer),
        sa.column("description", sa.Text),
    )
    op.bulk_insert(registry, _registry_rows())
    op.bulk_insert(
        sa.table(
            "process_dot_runtime",
            sa.column("singleton", sa.Boolean),
            sa.column("dry_run_only", sa.Boolean),
        ),
        [{"singleton": True, "dry_run_only": False}],
    )
    op.bulk_insert(
        sa.table(
            "piece_event_runtime",
            sa.column("singleton", sa.Boolean),
            sa.column("emit_enabled", sa.Boolean),
        ),
        [{"singleton": True, "emit_enabled": True}],
    )
    dialect = op.get_context().dialect.name
    for table, ops in APPEND_ONLY.items():
        for statement in append_only(table, dialect, ops):
            op.execute(statement)


def downgrade() -> None:
    dialect = op.get_context().dialect.name
    for table, ops in APPEND_ONLY.items():
        for statement in drop_append_only(table, dialect, ops):
            op.execute(statement)

    op.drop_index(op.f("ix_event_outbox_tx_id_seq"), table_name="event_outbox")
    op.drop_index(op.f("ix_event_outbox_event_type"), table_name="event_outbox")
    op.drop_index(op.f("ix_event_outbox_correlation_id"), table_name="event_outbox")
    op.drop_table("event_outbox")
    op.drop_table("process_dot_runtime")
    op.drop_table("piece_event_runtime")
    op.drop_index(op.f("ix_event_type_registry_family"), table_name="event_type_registry")
    op.drop_table("event_type_registry")
    op.drop_index(op.f("ix_audit_log_event_type"), table_name="audit_log")
    op.drop_index(op.f("ix_audit_log_correlation_id"), table_name="audit_log")
    op.drop_index(op.f("ix_audit_log_action"), table_name="audit_log")
    op.drop_table("audit_log")
