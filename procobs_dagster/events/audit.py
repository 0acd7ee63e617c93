"""The durable audit log: every emitted event and every owner action, who and when."""

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from procobs_dagster import limits
from procobs_dagster.clock import utcnow
from procobs_dagster.errors import ApprovalRequired
from procobs_dagster.store.tables import audit_log


def record(
    conn: Connection,
    *,
    actor: str,
    action: str,
    event_id: uuid.UUID | None = None,
    event_type: str | None = None,
    correlation_id: str | None = None,
    subject: str | None = None,
    details: dict[str, Any] | None = None,
    at: dt.datetime | None = None,
) -> None:
    conn.execute(
        audit_log.insert(),
        {
            "recorded_at": at or utcnow(),
            "actor": actor,
            "action": action,
            "event_id": event_id,
            "event_type": event_type,
            "correlation_id": correlation_id,
            "subject": subject,
            "details": details,
        },
    )


def require_approver(approved_by: str | None, action: str) -> str:
    """Owner-gated actions name a person; refuse before anything is written. The name
    is held to the rules of a name (docs/limits.md) and returned trimmed."""
    if approved_by is None or (isinstance(approved_by, str) and not approved_by.strip()):
        raise ApprovalRequired(f"{action} is owner-gated: name the approver with --approved-by")
    return limits.check_name(approved_by, "approver")


def newest(conn: Connection, limit: int, action: str | None = None) -> list[dict[str, Any]]:
    """The newest ``limit`` audit_log rows (of ``action`` only, when given), newest first."""
    limits.check_count(limit, "limit")
    query = sa.select(audit_log).order_by(audit_log.c.audit_id.desc()).limit(limit)
    if action is not None:
        query = query.where(audit_log.c.action == action)
    return [dict(row) for row in conn.execute(query).mappings()]
