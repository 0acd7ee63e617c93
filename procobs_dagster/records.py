"""The base of the immutable row records the domains hand to callers, the CLI and events.

A record is a dataclass whose fields are columns: ``from_row`` builds one from a result
row (columns that are not fields are ignored), ``as_row`` gives the values back as the
database takes them, and ``as_dict`` as JSON takes them (UUIDs and datetimes as strings).
"""

import dataclasses
import datetime as dt
import functools
import uuid
from typing import Any, Self

from sqlalchemy.engine import RowMapping

from procobs_dagster.limits import shown


def _jsonable(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return value


@functools.cache
def _field_names(cls: type) -> frozenset[str]:
    # Every ledger call builds records from rows: the field set is worked out once a class.
    return frozenset(f.name for f in dataclasses.fields(cls))


class Record:
    @classmethod
    def from_row(cls, row: RowMapping) -> Self:
        names = _field_names(cls)
        return cls(**{k: v for k, v in row.items() if k in names})

    def as_row(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def as_dict(self) -> dict[str, Any]:
        return {f.name: _jsonable(getattr(self, f.name)) for f in dataclasses.fields(self)}


@dataclasses.dataclass(frozen=True)
class UnusableRow:
    """A stored setting a job found outside its bounds (written by an older procobs, or by
    hand with SQL): the job leaves it aside, says so in one line, and does the rest."""

    table: str
    key: str  # the row's key as stored
    problem: str
    fix: str

    def __str__(self) -> str:
        return f"{self.table} row {shown(self.key)} is not used: {self.problem}; {self.fix}"

    def as_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "message": str(self)}
