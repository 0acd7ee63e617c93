"""Counts over the registry and the outbox, for dashboards (the Dagster assets) and the demo."""

import dataclasses
import datetime as dt
import uuid

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from procobs_dagster.events import runtime
from procobs_dagster.events.registry import RegisteredType, active_event_types
from procobs_dagster.store.stats import grouped_counts
from procobs_dagster.store.tables import event_outbox, event_type_registry


@dataclasses.dataclass(frozen=True)
class FamilyCounts:
    family: str
    types: int
    active: int
    immediate_lane: int


@dataclasses.dataclass(frozen=True)
class RegistrySummary:
    by_family: list[FamilyCounts]
    active: list[RegisteredType]
    emit_enabled: bool
    dry_run_only: bool

    @property
    def types(self) -> int:
        return sum(f.types for f in self.by_family)


@dataclasses.dataclass(frozen=True)
class TypeRows:
    """The outbox rows of one event type."""

    event_type: str
    lane: str
    rows: int
    newest: dt.datetime | None


@dataclasses.dataclass(frozen=True)
class OutboxSummary:
    by_event_type: list[TypeRows]
    newest_seq: int  # 0 while the outbox is empty

    @property
    def rows(self) -> int:
        return sum(t.rows for t in self.by_event_type)


def registry_summary(conn: Connection) -> RegistrySummary:
    r = event_type_registry.c
    counts = grouped_counts(conn, event_type_registry, [r.family, r.lane, r.active])
    families = sorted({family for family, _, _ in counts})
    return RegistrySummary(
        by_family=[
            FamilyCounts(
                family=family,
                types=sum(n for (f, _, _), n in counts.items() if f == family),
                active=sum(n for (f, _, a), n in counts.items() if f == family and a),
                immediate_lane=sum(
                    n for (f, lane, _), n in counts.items() if f == family and lane == "immediate"
                ),
            )
            for family in families
        ],
        active=active_event_types(conn),
        emit_enabled=runtime.emission_enabled(conn),
        dry_run_only=runtime.dry_run_only(conn),
    )


def outbox_summary(conn: Connection) -> OutboxSummary:
    o, r = event_outbox.c, event_type_registry.c
    per_type = conn.execute(
        sa.select(o.event_type, r.lane, sa.func.count(), sa.func.max(o.recorded_at))
        .join(event_type_registry, r.event_type == o.event_type)
        .group_by(o.event_type, r.lane)
        .order_by(o.event_type)
    ).all()
    return OutboxSummary(
        by_event_type=[TypeRows(*row) for row in per_type],
        newest_seq=conn.execute(sa.select(sa.func.coalesce(sa.func.max(o.seq), 0))).scalar_one(),
    )


def outbox_rows_by_type(conn: Connection, process_run_id: uuid.UUID) -> dict[str, int]:
    """``{event_type: rows}`` the run ``process_run_id`` wrote to the outbox."""
    counts = grouped_counts(
        conn,
        event_outbox,
        [event_outbox.c.event_type],
        where=[event_outbox.c.process_run_id == process_run_id],
    )
    return {event_type: n for (event_type,), n in counts.items()}
