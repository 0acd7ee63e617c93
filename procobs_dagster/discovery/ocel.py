"""Export the ledger as an OCEL 2.0 object-centric event log (JSON or SQLite).

Process-mining tools (PM4Py and others) discover models from event logs; this hands them
the ledger's real runtime evidence. The mapping:

* object types ``process_run``, ``component``, ``correlation``, ``candidate``; a run's and
  a component's ``status`` is a dynamic attribute, one value per recorded transition;
* one event per row of ``process_status_history`` (every run and component transition),
  at its ``changed_at``: type ``process_run <status>`` or ``<dot_code> <status>``;
* event-to-object links (E2O), qualified: the subject (``run``, or the component's role),
  its ``run``, ``correlation`` and ``candidate``;
* object-to-object links (O2O): component ``part_of`` run, run ``child_of`` parent run,
  run ``instance_of`` candidate, run and component ``correlated_by`` correlation.

Runs, components and transitions are read from the live and archive tables together:
retention moves old runs into the archive, and they stay part of the log (as they stay
evidence for the scoring), so an export is the same before and after retention.

Ids are deterministic — ``run:<uuid>``, ``component:<uuid>``, ``correlation:<id>``,
``candidate:<code>``, ``event:<history_id>`` — so exporting twice gives the same log.
Dry runs are left out unless asked for. A run's ancestors are exported as objects (their
own events only when in scope), so no ``child_of`` link points outside the log.

The JSON file follows https://www.ocel-standard.org/specification/formats/json; the SQLite
file the relational format (type tables, ``event_object``, ``object_object``, the map
tables), with the primary and foreign keys of the standard's validation scheme. Both are
written as they are read, row by row, so the log may be larger than memory.
"""

import contextlib
import dataclasses
import datetime as dt
import itertools
import json
import re
import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from procobs_dagster.discovery.evidence import live_and_archived
from procobs_dagster.discovery.sql import has_content
from procobs_dagster.errors import InvalidInput
from procobs_dagster.output_files import check_target, replace_atomically
from procobs_dagster.store.engine import Database
from procobs_dagster.store.tables import (
    process_component_observation,
    process_component_observation_archive,
    process_run_observation,
    process_run_observation_archive,
    process_status_history,
    process_status_history_archive,
)

RUN, COMPONENT, CORRELATION, CANDIDATE = "process_run", "component", "correlation", "candidate"
EPOCH = "1970-01-01T00:00:00Z"  # the standard's time for values that hold from the start
JSON_SUFFIXES = (".json", ".jsonocel")
SQLITE_SUFFIXES = (".sqlite", ".sqlite3", ".db")

# name -> OCEL attribute type; ``status`` changes over time, the rest are fixed.
OBJECT_ATTRIBUTES = {
    RUN: {
        "candidate_code": "string",
        "source_system": "string",
        "dry_run": "boolean",
        "input_ref": "string",
        "output_ref": "string",
        "status": "string",
    },
    COMPONENT: {
        "dot_code": "string",
        "component_role": "string",
        "source_system": "string",
        "dry_run": "boolean",
        "has_evidence": "boolean",
        "status": "string",
    },
    CORRELATION: {},
    CANDIDATE: {},
}
EVENT_ATTRIBUTES = {"from_status": "string", "reason": "string", "actor": "string"}
STREAM_ROWS = 2_000  # rows fetched at a time: the log is written as it is read
SQLITE_TYPES = {"string": "TEXT", "boolean": "BOOLEAN", "time": "TIMESTAMP"}


def run_oid(run_id) -> str:
    return f"run:{run_id}"


def component_oid(component_run_id) -> str:
    return f"component:{component_run_id}"


def correlation_oid(correlation_id: str) -> str:
    return f"correlation:{correlation_id}"


def candidate_oid(code: str) -> str:
    return f"candidate:{code}"


def event_type_of(subject_kind: str, dot_code: str | None, status: str) -> str:
    subject = RUN if subject_kind == "run" else dot_code or COMPONENT
    return f"{subject} {status}"


def _time(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclasses.dataclass(frozen=True)
class OcelObject:
    id: str
    type: str
    fixed: dict[str, Any]  # attribute values that hold from the start
    changes: tuple[tuple[str, str, Any], ...]  # (time, attribute, value)
    links: tuple[tuple[str, str], ...]  # (object id, qualifier)


@dataclasses.dataclass(frozen=True)
class OcelEvent:
    id: str
    type: str
    time: str
    attributes: dict[str, Any]
    links: tuple[tuple[str, str], ...]


@dataclasses.dataclass(frozen=True)
class ExportSummary:
    path: str
    format: str
    events: int
    objects: dict[str, int]
    event_types: int

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class _Scope:
    """Which ledger rows the export covers, as SQL."""

    candidate: str | None
    include_dry_run: bool
    dialect: str

    def _ledger(self, live: sa.Table, archive: sa.Table, name: str) -> sa.Subquery:
        """``live`` and its archive as one relation of the live table's columns."""
        columns = [column.name for column in live.columns]
        return live_and_archived(live, archive, columns, lambda _: (), name, self.dialect)

    def run_rows(self, name: str = "run") -> sa.Subquery:
        return self._ledger(process_run_observation, process_run_observation_archive, name)

    def component_rows(self, name: str = "component") -> sa.Subquery:
        return self._ledger(
            process_component_observation, process_component_observation_archive, name
        )

    def history_rows(self) -> sa.Subquery:
        return self._ledger(process_status_history, process_status_history_archive, "history")

    def runs(self) -> sa.CTE:
        """The runs whose events are exported."""
        r = self.run_rows()
        where = []
        if self.candidate is not None:
            where.append(r.c.process_candidate_code == self.candidate)
        if not self.include_dry_run:
            where.append(r.c.source_system != "dry_run")
        return sa.select(r.c.process_run_id).where(*where).cte("scoped_run")

    def run_objects(self, scoped: sa.CTE) -> sa.CTE:
        """The scoped runs and every ancestor of one, so child_of links stay inside."""
        r = self.run_rows()
        ancestry = (
            sa.select(r.c.parent_run_id.label("process_run_id"))
            .where(
                r.c.process_run_id.in_(sa.select(scoped.c.process_run_id)),
                r.c.parent_run_id.is_not(None),
            )
            .cte("ancestor", recursive=True)
        )
        up = self.run_rows("up")
        ancestry = ancestry.union(
            sa.select(up.c.parent_run_id).where(
                up.c.process_run_id == ancestry.c.process_run_id, up.c.parent_run_id.is_not(None)
            )
        )
        return sa.union(
            sa.select(scoped.c.process_run_id), sa.select(ancestry.c.process_run_id)
        ).cte("exported_run")

    def components(self, scoped: sa.CTE) -> sa.CTE:
        """Components of the scoped runs; without a candidate, the run-less ones too."""
        c = self.component_rows()
        belongs = c.c.process_run_id.in_(sa.select(scoped.c.process_run_id))
        if self.candidate is None:
            belongs = sa.or_(belongs, c.c.process_run_id.is_(None))
        where = [belongs]
        if not self.include_dry_run:
            where.append(c.c.source_system != "dry_run")
        return sa.select(c.c.component_run_id).where(*where).cte("scoped_component")


def _with_status(
    conn: Connection, scope: _Scope, table: sa.Subquery, kind: str, key: str, where, *extra
) -> Iterator[tuple[Any, tuple[tuple[str, str, Any], ...]]]:
    """Each row of ``table`` matching ``where``, with its status changes from the history."""
    h, key_column = scope.history_rows(), table.c[key]
    rows = conn.execute(
        sa.select(table, *extra, h.c.to_status, h.c.changed_at)
        .select_from(
            table.outerjoin(h, sa.and_(h.c.subject_kind == kind, h.c.subject_id == key_column))
        )
        .where(where)
        .order_by(key_column, h.c.history_id)
        .execution_options(yield_per=STREAM_ROWS)
    ).mappings()
    for _, group in itertools.groupby(rows, key=lambda row: row[key]):
        group = list(group)
        changes = tuple(
            (_time(row["changed_at"]), "status", row["to_status"])
            for row in group
            if row["changed_at"] is not None
        )
        yield group[0], changes


def _run_objects(conn: Connection, scope: _Scope) -> Iterator[OcelObject]:
    r = scope.run_rows()
    exported = scope.run_objects(scope.runs())
    in_scope = r.c.process_run_id.in_(sa.select(exported.c.process_run_id))
    for run, changes in _with_status(conn, scope, r, "run", "process_run_id", in_scope):
        links = [
            (candidate_oid(run["process_candidate_code"]), "instance_of"),
            (correlation_oid(run["correlation_id"]), "correlated_by"),
        ]
        if run["parent_run_id"] is not None:
            links.append((run_oid(run["parent_run_id"]), "child_of"))
        fixed = {
            "candidate_code": run["process_candidate_code"],
            "source_system": run["source_system"],
            "dry_run": run["source_system"] == "dry_run",
            "input_ref": run["input_ref"],
            "output_ref": run["output_ref"],
        }
        yield OcelObject(run_oid(run["process_run_id"]), RUN, fixed, changes, tuple(links))


def _component_objects(conn: Connection, scope: _Scope) -> Iterator[OcelObject]:
    c = scope.component_rows()
    scoped = scope.components(scope.runs())
    in_scope = c.c.component_run_id.in_(sa.select(scoped.c.component_run_id))
    evidence = has_content(c.c.evidence_ref).label("has_evidence")
    for component, changes in _with_status(
        conn, scope, c, "component", "component_run_id", in_scope, evidence
    ):
        links = [(correlation_oid(component["correlation_id"]), "correlated_by")]
        if component["process_run_id"] is not None:
            links.append((run_oid(component["process_run_id"]), "part_of"))
        fixed = {
            "dot_code": component["dot_code"],
            "component_role": component["component_role"],
            "source_system": component["source_system"],
            "dry_run": component["source_system"] == "dry_run",
            "has_evidence": bool(component["has_evidence"]),
        }
        oid = component_oid(component["component_run_id"])
        yield OcelObject(oid, COMPONENT, fixed, changes, tuple(links))


def _plain_objects(conn: Connection, scope: _Scope) -> Iterator[OcelObject]:
    """The correlation and candidate objects every exported run or component names."""
    r, c = scope.run_rows(), scope.component_rows()
    scoped = scope.runs()
    exported = scope.run_objects(scoped)
    components = scope.components(scoped)
    correlations = sa.union(
        sa.select(r.c.correlation_id).where(
            r.c.process_run_id.in_(sa.select(exported.c.process_run_id))
        ),
        sa.select(c.c.correlation_id).where(
            c.c.component_run_id.in_(sa.select(components.c.component_run_id))
        ),
    ).subquery()
    for (correlation_id,) in conn.execute(
        sa.select(correlations.c.correlation_id).order_by(correlations.c.correlation_id)
    ):
        yield OcelObject(correlation_oid(correlation_id), CORRELATION, {}, (), ())
    code = r.c.process_candidate_code
    for (candidate_code,) in conn.execute(
        sa.select(code)
        .distinct()
        .where(r.c.process_run_id.in_(sa.select(exported.c.process_run_id)))
        .order_by(code)
    ):
        yield OcelObject(candidate_oid(candidate_code), CANDIDATE, {}, (), ())


def _event_rows(scope: _Scope) -> sa.Select:
    """Every transition of a scoped run or component, with what its links need."""
    h, r, c = scope.history_rows(), scope.run_rows(), scope.component_rows()
    scoped = scope.runs()
    components = scope.components(scoped)
    transition = (
        h.c.history_id,
        h.c.subject_kind,
        h.c.from_status,
        h.c.to_status,
        h.c.changed_at,
        h.c.reason,
        h.c.actor,
    )
    run_events = (
        sa.select(
            *transition,
            sa.cast(sa.null(), sa.Uuid).label("component_run_id"),
            sa.cast(sa.null(), sa.Text).label("dot_code"),
            sa.cast(sa.null(), sa.Text).label("component_role"),
            r.c.process_run_id,
            r.c.correlation_id,
            r.c.process_candidate_code,
        )
        .select_from(h.join(r, r.c.process_run_id == h.c.subject_id))
        .where(h.c.subject_kind == "run", h.c.subject_id.in_(sa.select(scoped.c.process_run_id)))
    )
    component_events = (
        sa.select(
            *transition,
            c.c.component_run_id,
            c.c.dot_code,
            c.c.component_role,
            c.c.process_run_id,
            c.c.correlation_id,
            r.c.process_candidate_code,
        )
        .select_from(
            h.join(c, c.c.component_run_id == h.c.subject_id).outerjoin(
                r, r.c.process_run_id == c.c.process_run_id
            )
        )
        .where(
            h.c.subject_kind == "component",
            h.c.subject_id.in_(sa.select(components.c.component_run_id)),
        )
    )
    both = sa.union_all(run_events, component_events).subquery()
    return sa.select(both).order_by(both.c.changed_at, both.c.history_id)


def _events(conn: Connection, scope: _Scope) -> Iterator[OcelEvent]:
    for row in conn.execute(_event_rows(scope).execution_options(yield_per=STREAM_ROWS)).mappings():
        if row["subject_kind"] == "run":
            links = [(run_oid(row["process_run_id"]), "run")]
        else:
            links = [(component_oid(row["component_run_id"]), row["component_role"] or COMPONENT)]
            if row["process_run_id"] is not None:
                links.append((run_oid(row["process_run_id"]), "run"))
        links.append((correlation_oid(row["correlation_id"]), "correlation"))
        if row["process_candidate_code"] is not None:
            links.append((candidate_oid(row["process_candidate_code"]), "candidate"))
        yield OcelEvent(
            id=f"event:{row['history_id']}",
            type=event_type_of(row["subject_kind"], row["dot_code"], row["to_status"]),
            time=_time(row["changed_at"]),
            attributes={name: row[name] for name in EVENT_ATTRIBUTES if row[name] is not None},
            links=tuple(links),
        )


def _event_types(conn: Connection, scope: _Scope) -> list[str]:
    rows = _event_rows(scope).subquery()
    distinct = conn.execute(
        sa.select(rows.c.subject_kind, rows.c.dot_code, rows.c.to_status).distinct()
    )
    return sorted({event_type_of(*row) for row in distinct})


def _objects(conn: Connection, scope: _Scope) -> Iterator[OcelObject]:
    yield from _run_objects(conn, scope)
    yield from _component_objects(conn, scope)
    yield from _plain_objects(conn, scope)


# --- JSON -----------------------------------------------------------------------------


def _types_json(attributes: dict[str, dict[str, str]]) -> list[dict]:
    return [
        {"name": name, "attributes": [{"name": a, "type": t} for a, t in attrs.items()]}
        for name, attrs in attributes.items()
    ]


def _object_json(obj: OcelObject) -> dict:
    fixed = [{"name": n, "time": EPOCH, "value": v} for n, v in obj.fixed.items() if v is not None]
    changes = [{"name": n, "time": t, "value": v} for t, n, v in obj.changes]
    relationships = [{"objectId": oid, "qualifier": q} for oid, q in obj.links]
    return {
        "id": obj.id,
        "type": obj.type,
        "attributes": fixed + changes,
        "relationships": relationships,
    }


def _event_json(event: OcelEvent) -> dict:
    return {
        "id": event.id,
        "type": event.type,
        "time": event.time,
        "attributes": [{"name": n, "value": v} for n, v in event.attributes.items()],
        "relationships": [{"objectId": oid, "qualifier": q} for oid, q in event.links],
    }


def _write_array(out, items: Iterable[dict]) -> int:
    count = 0
    out.write("[")
    for item in items:
        out.write(("," if count else "") + "\n" + json.dumps(item, sort_keys=True))
        count += 1
    out.write("\n]")
    return count


def _write_json(
    conn: Connection, scope: _Scope, path: Path, counts: dict[str, int]
) -> tuple[int, int]:
    event_types = _event_types(conn, scope)
    header = {
        "eventTypes": _types_json({t: EVENT_ATTRIBUTES for t in event_types}),
        "objectTypes": _types_json(OBJECT_ATTRIBUTES),
    }

    def counted(objects: Iterator[OcelObject]) -> Iterator[dict]:
        for obj in objects:
            counts[obj.type] += 1
            yield _object_json(obj)

    with path.open("w", encoding="utf-8") as out:
        out.write("{" + json.dumps(header, sort_keys=True)[1:-1] + ',\n"objects": ')
        _write_array(out, counted(_objects(conn, scope)))
        out.write(',\n"events": ')
        events = _write_array(out, (_event_json(e) for e in _events(conn, scope)))
        out.write("}\n")
    return events, len(event_types)


# --- SQLite ---------------------------------------------------------------------------


def _table_names(types: Iterable[str]) -> dict[str, str]:
    """A deterministic, SQL-safe, distinct table-name suffix per type (``ocel_type_map``)."""
    names: dict[str, str] = {}
    used: set[str] = set()
    for name in sorted(types):
        base = re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_") or "type"
        mapped, n = base, 2
        while mapped.lower() in used:
            mapped, n = f"{base}_{n}", n + 1
        used.add(mapped.lower())
        names[name] = mapped
    return names


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _sqlite_schema(
    db: sqlite3.Connection, event_maps: dict[str, str], object_maps: dict[str, str]
) -> None:
    db.executescript(
        """
        CREATE TABLE event_map_type (ocel_type TEXT PRIMARY KEY, ocel_type_map TEXT NOT NULL);
        CREATE TABLE object_map_type (ocel_type TEXT PRIMARY KEY, ocel_type_map TEXT NOT NULL);
        CREATE TABLE event (
            ocel_id TEXT PRIMARY KEY,
            ocel_type TEXT NOT NULL REFERENCES event_map_type (ocel_type));
        CREATE TABLE object (
            ocel_id TEXT PRIMARY KEY,
            ocel_type TEXT NOT NULL REFERENCES object_map_type (ocel_type));
        CREATE TABLE event_object (
            ocel_event_id TEXT NOT NULL REFERENCES event (ocel_id),
            ocel_object_id TEXT NOT NULL REFERENCES object (ocel_id),
            ocel_qualifier TEXT NOT NULL,
            PRIMARY KEY (ocel_event_id, ocel_object_id, ocel_qualifier));
        CREATE TABLE object_object (
            ocel_source_id TEXT NOT NULL REFERENCES object (ocel_id),
            ocel_target_id TEXT NOT NULL REFERENCES object (ocel_id),
            ocel_qualifier TEXT NOT NULL,
            PRIMARY KEY (ocel_source_id, ocel_target_id, ocel_qualifier));
        """
    )
    db.executemany("INSERT INTO event_map_type VALUES (?, ?)", sorted(event_maps.items()))
    db.executemany("INSERT INTO object_map_type VALUES (?, ?)", sorted(object_maps.items()))
    event_columns = "".join(f", {_quote(a)} {SQLITE_TYPES[t]}" for a, t in EVENT_ATTRIBUTES.items())
    for mapped in event_maps.values():
        db.execute(
            f"CREATE TABLE {_quote('event_' + mapped)} "
            "(ocel_id TEXT PRIMARY KEY REFERENCES event (ocel_id), "
            f"ocel_time TIMESTAMP NOT NULL{event_columns})"
        )
    for name, mapped in object_maps.items():
        columns = "".join(
            f", {_quote(a)} {SQLITE_TYPES[t]}" for a, t in OBJECT_ATTRIBUTES[name].items()
        )
        db.execute(
            f"CREATE TABLE {_quote('object_' + mapped)} "
            "(ocel_id TEXT NOT NULL REFERENCES object (ocel_id), "
            f"ocel_time TIMESTAMP NOT NULL, ocel_changed_field TEXT{columns})"
        )


def _write_sqlite(
    conn: Connection, scope: _Scope, path: Path, counts: dict[str, int]
) -> tuple[int, int]:
    event_types = _event_types(conn, scope)
    event_maps, object_maps = _table_names(event_types), _table_names(OBJECT_ATTRIBUTES)
    db = sqlite3.connect(path)
    try:
        db.execute("PRAGMA foreign_keys = ON")
        _sqlite_schema(db, event_maps, object_maps)
        links = []
        for obj in _objects(conn, scope):
            counts[obj.type] += 1
            db.execute("INSERT INTO object VALUES (?, ?)", (obj.id, obj.type))
            names = list(OBJECT_ATTRIBUTES[obj.type])
            table = _quote("object_" + object_maps[obj.type])
            marks = ", ".join("?" * (3 + len(names)))
            # The fixed values hold from the start; each change is a row naming its field.
            db.execute(
                f"INSERT INTO {table} VALUES ({marks})",
                (obj.id, EPOCH, None, *(_sqlite_value(obj.fixed.get(n)) for n in names)),
            )
            db.executemany(
                f"INSERT INTO {table} VALUES ({marks})",
                [
                    (obj.id, t, field, *(value if n == field else None for n in names))
                    for t, field, value in obj.changes
                ],
            )
            links.extend((obj.id, target, qualifier) for target, qualifier in obj.links)
        # Links last: every object they name exists by now.
        db.executemany("INSERT INTO object_object VALUES (?, ?, ?)", links)
        events = 0
        for event in _events(conn, scope):
            events += 1
            db.execute("INSERT INTO event VALUES (?, ?)", (event.id, event.type))
            db.execute(
                f"INSERT INTO {_quote('event_' + event_maps[event.type])} "
                f"VALUES (?, ?{', ?' * len(EVENT_ATTRIBUTES)})",
                (event.id, event.time, *(event.attributes.get(a) for a in EVENT_ATTRIBUTES)),
            )
            db.executemany(
                "INSERT INTO event_object VALUES (?, ?, ?)",
                [(event.id, oid, q) for oid, q in event.links],
            )
        db.commit()
    finally:
        db.close()
    return events, len(event_types)


def _sqlite_value(value: Any) -> Any:
    return int(value) if isinstance(value, bool) else value


@contextlib.contextmanager
def _snapshot(db: Database) -> Iterator[Connection]:
    """One consistent view for every read of the export, so no link names a row that
    appeared between two reads. SQLite's read transaction already is one."""
    with db.connect() as conn:
        if db.dialect == "postgresql":
            conn = conn.execution_options(
                isolation_level="REPEATABLE READ", postgresql_readonly=True
            )
        with conn.begin():
            yield conn


def export_ocel(
    db: Database,
    path: "str | Path",
    *,
    candidate: str | None = None,
    include_dry_run: bool = False,
) -> ExportSummary:
    """Write the ledger (or one candidate's runs) as OCEL 2.0 to ``path``: ``.json`` or
    ``.jsonocel`` for JSON, ``.sqlite``, ``.sqlite3`` or ``.db`` for SQLite. Reads one
    snapshot of the database and writes nothing to it."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in JSON_SUFFIXES:
        writer, fmt = _write_json, "json"
    elif suffix in SQLITE_SUFFIXES:
        writer, fmt = _write_sqlite, "sqlite"
    else:
        raise InvalidInput(
            f"cannot tell the OCEL format of {path.name!r}: name it *.json or *.sqlite"
        )
    check_target(path, "OCEL log")
    counts = dict.fromkeys(OBJECT_ATTRIBUTES, 0)
    scope = _Scope(candidate, include_dry_run, db.dialect)
    with _snapshot(db) as conn:
        events, event_types = replace_atomically(
            path, lambda temporary: writer(conn, scope, temporary, counts)
        )
    return ExportSummary(str(path), fmt, events, counts, event_types)
