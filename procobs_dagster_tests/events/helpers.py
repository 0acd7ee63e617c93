"""Test helpers for the event system: flip the gate directly in the database."""

import sqlalchemy as sa

from procobs_dagster.store.tables import event_outbox, event_type_registry, piece_event_runtime


def set_active(db, *event_types: str, active: bool = True) -> None:
    with db.begin() as conn:
        conn.execute(
            event_type_registry.update()
            .where(event_type_registry.c.event_type.in_(event_types))
            .values(active=active)
        )


def set_emission(db, enabled: bool) -> None:
    with db.begin() as conn:
        conn.execute(piece_event_runtime.update().values(emit_enabled=enabled))


def outbox_rows(db) -> list[dict]:
    with db.read() as conn:
        return [
            dict(r)
            for r in conn.execute(sa.select(event_outbox).order_by(event_outbox.c.seq)).mappings()
        ]
