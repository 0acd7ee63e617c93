"""Trace classes, stored: the summaries grouped as the scoring groups them (``evidence.classes``),
kept current in the summaries' own transaction (docs/discovery.md, "Trace classes").

A changed summary subtracts its old row from its old class and adds its new row to its
new one, so a refresh costs time in the changed summaries and the classes they touch,
not in every summary: one read of the touched classes and one multi-row write. Counts
and sums add and subtract; the two maxima of a class (last seen, representative trace)
only grow by adding: when a removed summary held one of them, that class alone is
grouped again from its summaries (through the candidate index). A full rebuild that
changes summaries groups every summary once.
"""

import collections
import hashlib
import json
import uuid
from collections.abc import Iterable, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from procobs_dagster.discovery.evidence import LEDGER, classes
from procobs_dagster.store.dialect import is_postgres, upsert
from procobs_dagster.store.tables import discovery_trace_class, discovery_trace_summary

stored = discovery_trace_class
summary = discovery_trace_summary
KEY = ("candidate_code", "origin", "variant", "dry_run", "completed", "timed", "enough_steps")
SUMS = ("traces", "components", "components_with_evidence")


def class_key(values: Sequence) -> str:
    """The digest naming the class of ``values`` (the ``KEY`` columns, in order)."""
    text = json.dumps([None if v is None else str(v) for v in values], separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _uuid_text(conn: Connection, value: uuid.UUID) -> str:
    # How ``CAST(trace_id AS TEXT)`` spells the id on each dialect (SQLite stores 32 hex
    # digits), so that Python and SQL order representatives alike.
    return str(value) if is_postgres(conn) else value.hex


def _key_of(row) -> tuple:
    return (
        row.candidate_code,
        row.origin,
        row.variant,
        int(row.dry_run),
        int(row.completed),
        int(row.timed),
        int(row.n_steps >= 2),
    )


def _contribution(row) -> tuple[int, int, int]:
    components = row.n_steps if row.origin == LEDGER else 0
    return 1, components, (row.n_evidence or 0) if row.origin == LEDGER else 0


def _row(values) -> dict:
    row = {name: values[name] for name in (*KEY, "last_seen_at", "representative")}
    row["components"] = int(values["components"] or 0)
    row["components_with_evidence"] = int(values["components_with_evidence"] or 0)
    row["traces"] = int(values["traces"])
    row["class_key"] = class_key([row[name] for name in KEY])
    return row


def _summaries_of(key: tuple) -> sa.Subquery:
    s = summary.c
    candidate, origin, variant, dry_run, completed, timed, enough = key
    return (
        sa.select(summary)
        .where(
            s.candidate_code == candidate,
            s.origin == origin,
            s.variant.is_not_distinct_from(variant),
            s.dry_run == dry_run,
            s.completed == completed,
            s.timed == timed,
            (s.n_steps >= 2) if enough else (s.n_steps < 2),
        )
        .subquery("class_summary")
    )


def _grouped(conn: Connection, summaries: sa.FromClause) -> list[dict]:
    """``summaries`` grouped into their classes, as stored class rows."""
    return [_row(r) for r in conn.execute(classes(summaries)).mappings()]


def _regroup(conn: Connection, keys: Iterable[tuple]) -> None:
    """Group the classes ``keys`` again from their summaries (after the summaries changed)."""
    for key in keys:
        conn.execute(stored.delete().where(stored.c.class_key == class_key(key)))
        rows = _grouped(conn, _summaries_of(key))
        if rows:
            conn.execute(stored.insert(), rows)


def rebuild_classes(conn: Connection) -> int:
    """Group every summary into its class, replacing the stored classes; how many."""
    conn.execute(stored.delete())
    rows = _grouped(conn, summary)
    if rows:
        conn.execute(stored.insert(), rows)
    return len(rows)


def repair_classes(conn: Connection) -> int:
    """Group every summary into its class and rewrite only the stored classes that
    differ from that grouping (or are left over); how many. A full pass's check of the
    classes the refreshes kept by adding and subtracting: the grouping is one read
    (parallel on Postgres), the classes are few, and when all agree nothing is written."""
    grouped = {row["class_key"]: row for row in _grouped(conn, summary)}
    # Held under the key they are stored with, which must be their key columns' digest.
    held = {
        row["class_key"]: {**_row(row), "class_key": row["class_key"]}
        for row in conn.execute(sa.select(stored)).mappings()
    }
    wrong = [key for key in grouped.keys() | held.keys() if grouped.get(key) != held.get(key)]
    if wrong:
        conn.execute(stored.delete().where(stored.c.class_key.in_(wrong)))
        rows = [grouped[key] for key in wrong if key in grouped]
        if rows:
            conn.execute(stored.insert(), rows)
    return len(wrong)


def apply_changes(conn: Connection, removed: Sequence, added: Sequence) -> int:
    """Subtract the ``removed`` summary rows from their classes and add the ``added`` ones
    (rows with ``TRACE_COLUMNS``), after the summaries were changed; how many classes
    changed. A summary removed and written again unchanged cancels out."""
    if removed and added:  # new runs only (the common refresh) have nothing to cancel
        both = collections.Counter(tuple(r) for r in removed) & collections.Counter(
            tuple(r) for r in added
        )
        removed, added = _without(removed, both), _without(added, both)
    delta: dict[tuple, list[int]] = collections.defaultdict(lambda: [0, 0, 0])
    newest: dict[tuple, tuple] = {}
    for row in added:
        key, part = _key_of(row), _contribution(row)
        delta[key] = [a + b for a, b in zip(delta[key], part, strict=True)]
        candidate = (row.seen_at, _uuid_text(conn, row.trace_id))
        seen, rep = newest.get(key, candidate)
        newest[key] = (max(seen, candidate[0]), max(rep, candidate[1]))
    lost: dict[tuple, list] = collections.defaultdict(list)
    for row in removed:
        key, part = _key_of(row), _contribution(row)
        delta[key] = [a - b for a, b in zip(delta[key], part, strict=True)]
        lost[key].append(row)
    # One read of every touched class and one write of all of them: the refresh holds the
    # summary state's lock, so no other writer changes a class in between.
    names = {key: class_key(key) for key in delta}
    c = stored.c
    found = {
        row.class_key: row
        for row in conn.execute(
            sa.select(
                c.class_key, *[c[name] for name in SUMS], c.last_seen_at, c.representative
            ).where(c.class_key.in_(list(names.values())))
        )
    }
    regroup, rows = set(), []
    for key, part in delta.items():
        current = found.get(names[key])
        if any(
            current is None
            or row.seen_at >= current.last_seen_at
            or _uuid_text(conn, row.trace_id) >= current.representative
            for row in lost.get(key, ())
        ):
            # A removed summary may have held a maximum, which subtraction cannot undo.
            regroup.add(key)
            continue
        if current is None:  # a new class: only added rows, so newest holds its maxima
            sums, (seen, rep) = part, newest[key]
        else:
            sums = [getattr(current, name) + d for name, d in zip(SUMS, part, strict=True)]
            seen, rep = current.last_seen_at, current.representative
            if key in newest:
                seen, rep = max(seen, newest[key][0]), max(rep, newest[key][1])
        rows.append(
            {
                "class_key": names[key],
                **dict(zip(KEY, key, strict=True)),
                **dict(zip(SUMS, sums, strict=True)),
                "last_seen_at": seen,
                "representative": rep,
            }
        )
    if rows:
        conn.execute(upsert(conn.dialect.name, stored, rows, key=["class_key"]))
    _regroup(conn, regroup)
    return len(delta)


def _without(rows: Sequence, common: collections.Counter) -> list:
    left = collections.Counter(common)
    kept = []
    for row in rows:
        if left[tuple(row)]:
            left[tuple(row)] -= 1
        else:
            kept.append(row)
    return kept


def stored_classes(codes: Sequence[str] | None) -> sa.Select:
    """The stored classes (of ``codes``), as ``evidence.classes`` computes them."""
    c = stored.c
    return sa.select(
        *[c[name] for name in KEY],
        *[c[name] for name in SUMS],
        c.last_seen_at,
        c.representative,
    ).where(sa.true() if codes is None else c.candidate_code.in_(codes))
