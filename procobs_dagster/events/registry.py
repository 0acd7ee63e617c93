"""Reading the event type registry (event_type_registry): the types procobs knows, and
which of them an owner has activated. Changing ``active`` is activation.py's job."""

import dataclasses
from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from procobs_dagster.records import Record
from procobs_dagster.store.tables import event_type_registry

_r = event_type_registry.c


@dataclasses.dataclass(frozen=True)
class RegisteredType(Record):
    event_type: str
    family: str
    stream: str
    lane: str
    severity: str
    active: bool
    schema_version: int


_COLUMNS = [_r[f.name] for f in dataclasses.fields(RegisteredType)]


def registered_types(conn: Connection, family: str | None = None) -> list[RegisteredType]:
    """Every registered type (or those of ``family``), by family then name."""
    query = sa.select(*_COLUMNS).order_by(_r.family, _r.event_type)
    if family is not None:
        query = query.where(_r.family == family)
    return [RegisteredType.from_row(row) for row in conn.execute(query).mappings()]


def active_event_types(
    conn: Connection, among: Iterable[str] | None = None
) -> list[RegisteredType]:
    """The active types (or the active ones of ``among``), by name."""
    query = sa.select(*_COLUMNS).where(_r.active).order_by(_r.event_type)
    if among is not None:
        query = query.where(_r.event_type.in_(list(among)))
    return [RegisteredType.from_row(row) for row in conn.execute(query).mappings()]
