"""The two runtime switches, stored in the database (docs/design.md, "Event types and
the activation gate").

- ``piece_event_runtime.emit_enabled`` — the emission kill switch. Off keeps the outbox
  empty even for active types.
- ``process_dot_runtime.dry_run_only`` — while on, every run the DOT wrapper records is
  a dry run (``source_system='dry_run'``): it proves wiring, never a process.

Both are owner actions: a change names its approver and writes an audit_log row in the
same transaction. A change is a guarded compare-and-set (``WHERE flag = :current``), so
of two owners flipping the same switch at once exactly one changes it.
"""

import dataclasses
import datetime as dt

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from procobs_dagster.clock import utcnow
from procobs_dagster.events import audit
from procobs_dagster.events.outbox import forget_gates
from procobs_dagster.store.dialect import is_postgres
from procobs_dagster.store.driver import DriverStatement
from procobs_dagster.store.tables import piece_event_runtime, process_dot_runtime


@dataclasses.dataclass(frozen=True)
class Switch:
    """One boolean setting: its table, column, and the name operators know it by."""

    table: sa.Table
    column: str

    @property
    def name(self) -> str:
        return f"{self.table.name}.{self.column}"


EMISSION = Switch(piece_event_runtime, "emit_enabled")
DRY_RUN_ONLY = Switch(process_dot_runtime, "dry_run_only")
SWITCHES = (EMISSION, DRY_RUN_ONLY)


@dataclasses.dataclass(frozen=True)
class SwitchState:
    name: str
    value: bool
    updated_at: dt.datetime | None
    updated_by: str | None

    def as_dict(self) -> dict:
        return {
            "name": self.name,
            "value": self.value,
            "updated_at": self.updated_at.isoformat() if self.updated_at else None,
            "updated_by": self.updated_by,
        }


@dataclasses.dataclass(frozen=True)
class SwitchChange:
    name: str
    before: bool
    after: bool

    @property
    def changed(self) -> bool:
        return self.before != self.after


def read(conn: Connection, switch: Switch) -> SwitchState:
    t = switch.table
    row = conn.execute(sa.select(t.c[switch.column], t.c.updated_at, t.c.updated_by)).one()
    return SwitchState(switch.name, bool(row[0]), row.updated_at, row.updated_by)


def emission_enabled(conn: Connection) -> bool:
    return read(conn, EMISSION).value


# Read by every run the DOT wrapper opens: on Postgres through the driver, as the
# ledger's own writes are (store/driver.py).
_DRY_RUN_ONLY = DriverStatement(sa.select(process_dot_runtime.c.dry_run_only))


def dry_run_only(conn: Connection) -> bool:
    if not is_postgres(conn):
        return read(conn, DRY_RUN_ONLY).value
    row = _DRY_RUN_ONLY.first(conn, {})
    if row is None:
        raise sa.exc.NoResultFound(f"{DRY_RUN_ONLY.name} has no row")
    return bool(row["dry_run_only"])


def set_switch(conn: Connection, switch: Switch, value: bool, *, approved_by: str) -> SwitchChange:
    """Set ``switch`` to ``value`` as ``approved_by``; no-op (and no audit row) when it
    already has that value."""
    approver = audit.require_approver(approved_by, f"setting {switch.name}")
    column = switch.table.c[switch.column]
    forget_gates(conn)
    at = utcnow()
    written = conn.execute(
        switch.table.update()
        .where(column == sa.literal(not value))
        .values({switch.column: value, "updated_at": at, "updated_by": approver})
    ).rowcount
    if not written:
        return SwitchChange(switch.name, value, value)
    audit.record(
        conn,
        actor=approver,
        action="runtime.switch",
        subject=switch.name,
        details={"setting": switch.name, "from": not value, "to": value},
        at=at,
    )
    return SwitchChange(switch.name, not value, value)


def set_emission(conn: Connection, enabled: bool, *, approved_by: str) -> SwitchChange:
    return set_switch(conn, EMISSION, enabled, approved_by=approved_by)


def set_dry_run_only(conn: Connection, on: bool, *, approved_by: str) -> SwitchChange:
    return set_switch(conn, DRY_RUN_ONLY, on, approved_by=approved_by)
