"""Trace summaries: each trace's variant and the bar's conditions, stored, so that scoring
adds up summaries instead of re-reading the ledger (docs/discovery.md, "Trace summaries").

A summary is a pure function of the live and archive tables (``evidence.EvidenceQuery``):
retention moves rows, it changes no summary, so an archived run keeps counting. Triggers
on the ledger and job_queue queue the keys a write may change — correlation_ids for ledger
traces, run_ids for job traces — in ``discovery_trace_change``, whoever writes.

**The queue is the watermark.** A refresh takes the queued rows it can see and deletes
exactly those (``DELETE … RETURNING`` on Postgres), then re-summarises their keys from
the ledger as it stands; a change committed after that read is still queued, so a late
commit is never skipped — what the outbox feed needs an xid horizon for, since its rows
stay for many readers. Refreshes take the state row's lock (``FOR UPDATE``; SQLite's
single writer already serialises them), so two never interleave. A refresh after k
changed runs costs O(k) index reads, and carries the changed summaries into the stored
trace classes (``trace_classes``) in the same transaction; a queue longer than
``MAX_QUEUED`` rows (a bulk load) is rebuilt in full instead, which is then cheaper.

Job traces also depend on the catalog (its job kinds per job-backed candidate): when
the catalog's coverage differs from the one the summaries were built with, the job traces
are re-summarised in full.

Until the first build (right after the migration) nothing is stored and a read-only
scoring computes every trace from the ledger; after it, a read-only scoring takes the
stored summaries except for queued keys, which it computes, so it is exact either way.
"""

import dataclasses
import datetime as dt
import json
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection

from procobs_dagster.clock import utcnow
from procobs_dagster.discovery import trace_classes
from procobs_dagster.discovery.catalog import Catalog
from procobs_dagster.discovery.evidence import (
    JOBS,
    LEDGER,
    TRACE_COLUMNS,
    EvidenceQuery,
    Keys,
    among,
    classes,
)
from procobs_dagster.discovery.sql import KEYED_SETTINGS, analytical_settings
from procobs_dagster.store.dialect import is_postgres, upsert
from procobs_dagster.store.tables import (
    discovery_summary_state,
    discovery_trace_change,
    discovery_trace_summary,
)

# Queued change rows (a run writes a few: start, steps, end) beyond which a refresh rebuilds
# every summary: past this, one sequential pass beats as many index lookups.
MAX_QUEUED = 100_000
# Differences a full pass writes from Python (one multi-row statement); beyond them, the
# statement that computes and writes every summary in SQL runs instead.
MAX_DIFFERENCES = 10_000

summary = discovery_trace_summary
KEY = ("trace_id", "origin", "candidate_code")
VALUES = tuple(name for name in TRACE_COLUMNS if name not in KEY)
change = discovery_trace_change
state = discovery_summary_state


@dataclasses.dataclass(frozen=True)
class SummaryRefresh:
    """What a refresh did: rebuilt every summary, or re-summarised the queued keys."""

    full: bool
    queued: int  # change rows consumed
    correlation_ids: int  # distinct ledger keys re-summarised (0 when full)
    run_ids: int  # distinct job keys re-summarised (0 when full)
    jobs_rebuilt: bool  # the catalog's job coverage changed: every job trace re-summarised
    summaries: int  # summary rows written or removed
    classes: int = 0  # trace classes changed (all of them when rebuilt)

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def job_coverage(catalog: Catalog) -> str:
    """The part of the catalog job traces depend on, as stable text."""
    return json.dumps(
        sorted([c.code, sorted(c.covered_codes)] for c in catalog.job_backed),
        separators=(",", ":"),
    )


def _state(conn: Connection, *, lock: bool = False):
    query = sa.select(state.c.job_coverage, state.c.built_at).where(state.c.state_id == 1)
    if lock and is_postgres(conn):
        query = query.with_for_update()
    return conn.execute(query).one()


def scoring_state(conn: Connection):
    """What a read-only scoring needs to know of the summaries, in one read: the job
    coverage they were built with, when they were built, and whether changes are queued."""
    queued = sa.exists().select_from(change).label("queued")
    return conn.execute(
        sa.select(state.c.job_coverage, state.c.built_at, queued).where(state.c.state_id == 1)
    ).one()


def stored_are_current(current, catalog: Catalog) -> bool:
    """The stored summaries and classes are exact (``current``: ``scoring_state``): built,
    nothing queued, the job traces built with this catalog."""
    return (
        current.built_at is not None
        and not current.queued
        and current.job_coverage == job_coverage(catalog)
    )


def current_traces(
    conn: Connection, catalog: Catalog, codes: Sequence[str] | None = None, current=None
) -> sa.Subquery:
    """Every trace (of ``codes``) as the scoring sees it, read-only and exact: the stored
    summaries, except those a queued change may have changed, which are computed from the
    ledger as it stands (every trace, before the first build). ``current`` is the
    ``scoring_state`` if the caller read it already."""
    scope = None if codes is None else tuple(codes)
    dialect = conn.dialect.name
    current = current or scoring_state(conn)
    s = summary.c
    in_scope = sa.true() if scope is None else s.candidate_code.in_(scope)
    if current.built_at is None:
        return EvidenceQuery(dialect, catalog, scope).traces().subquery("trace")
    if stored_are_current(current, catalog):
        return sa.select(*[s[name] for name in TRACE_COLUMNS]).where(in_scope).subquery("trace")
    queued_correlations = sa.select(change.c.correlation_id).where(
        change.c.correlation_id.is_not(None)
    )
    queued_runs = sa.select(change.c.run_id).where(change.c.run_id.is_not(None))
    jobs_stale = current.job_coverage != job_coverage(catalog)
    fresh_ledger = sa.and_(s.origin == LEDGER, s.correlation_id.not_in(queued_correlations))
    fresh_jobs = sa.and_(s.origin == JOBS, s.trace_id.not_in(queued_runs))
    stored = sa.select(*[s[name] for name in TRACE_COLUMNS]).where(
        sa.or_(fresh_ledger, fresh_jobs) if not jobs_stale else fresh_ledger, in_scope
    )
    ledger = EvidenceQuery(
        dialect, catalog, scope, correlation_ids=queued_correlations, jobs=False
    ).traces()
    jobs = EvidenceQuery(
        dialect, catalog, scope, run_ids=None if jobs_stale else queued_runs, ledger=False
    ).traces()
    return sa.union_all(stored, ledger, jobs).subquery("trace")


def trace_class_rows(
    catalog: Catalog, traces: sa.FromClause, current, codes: Sequence[str] | None = None
) -> sa.Select:
    """The trace classes (of ``codes``) the scoring adds up: the stored ones when they are
    current (``stored_are_current``), else ``traces`` (``current_traces``) grouped, which
    stays exact but reads every summary."""
    if stored_are_current(current, catalog):
        return trace_classes.stored_classes(codes)
    return classes(traces)


def _consume(conn: Connection) -> tuple[int, set, set]:
    """Take up to ``MAX_QUEUED`` queued changes out of the queue: (rows, correlation_ids,
    run_ids). Only rows this transaction can see are taken; later commits stay queued."""
    oldest = sa.select(change.c.change_id).order_by(change.c.change_id).limit(MAX_QUEUED)
    if is_postgres(conn):
        rows = conn.execute(
            change.delete()
            .where(change.c.change_id.in_(oldest.scalar_subquery()))
            .returning(change.c.correlation_id, change.c.run_id)
        ).all()
    else:
        # The single writer holds the database from BEGIN IMMEDIATE: nothing can be
        # queued between the read and the delete.
        rows = conn.execute(
            sa.select(change.c.change_id, change.c.correlation_id, change.c.run_id).where(
                change.c.change_id.in_(oldest.scalar_subquery())
            )
        ).all()
        if rows:
            conn.execute(change.delete().where(change.c.change_id <= rows[-1].change_id))
    correlations = {row.correlation_id for row in rows if row.correlation_id is not None}
    runs = {row.run_id for row in rows if row.run_id is not None}
    return len(rows), correlations, runs


def _insert_traces(conn: Connection, query: EvidenceQuery) -> int:
    """Store the traces ``query`` computes; how many."""
    written = conn.execute(summary.insert().from_select(TRACE_COLUMNS, query.traces())).rowcount
    if written < 0:  # pysqlite reports no count for an INSERT that begins WITH …
        written = conn.execute(sa.text("SELECT changes()")).scalar_one()
    return written


def _resummarise(
    conn: Connection, origin: str, key: sa.ColumnElement, keys: Keys, query
) -> tuple[list, list]:
    """Replace the summaries of ``origin`` whose ``key`` is among ``keys`` by the traces
    ``query`` computes for them now: (the rows removed, the rows written)."""
    columns = [summary.c[name] for name in TRACE_COLUMNS]
    removed = conn.execute(
        summary.delete()
        .where(summary.c.origin == origin, among(key, keys, conn.dialect.name))
        .returning(*columns)
    ).all()
    added = conn.execute(
        summary.insert().from_select(TRACE_COLUMNS, query.traces()).returning(*columns)
    ).all()
    return removed, added


def _rebuild_jobs(conn: Connection, catalog: Catalog) -> int:
    conn.execute(summary.delete().where(summary.c.origin == JOBS))
    return _insert_traces(conn, EvidenceQuery(conn.dialect.name, catalog, ledger=False))


def _rebuild(
    conn: Connection, catalog: Catalog, queued: int, *, expect_changes: bool
) -> SummaryRefresh:
    """Re-summarise every trace. On Postgres, unless most summaries are expected to change
    (the first build, a bulk load), the differences are found by a read-only statement
    first: a statement that writes runs without parallel workers, and a repair usually
    finds few differences (none, when the summaries are right), which are then written
    from here. Past ``MAX_DIFFERENCES`` the one statement that computes and writes runs
    instead."""
    # Everything queued and visible now is covered by the rebuild, which reads later.
    queued += conn.execute(change.delete()).rowcount
    query = EvidenceQuery(conn.dialect.name, catalog)
    if is_postgres(conn) and not expect_changes:
        # A row past the bound says there are too many; no more is read into memory.
        differences = conn.execute(_differences(query).limit(MAX_DIFFERENCES + 1)).all()
        if len(differences) <= MAX_DIFFERENCES:
            return _write_differences(conn, differences, queued)
    result = _rebuild_summaries(conn, query, queued)
    return dataclasses.replace(result, classes=trace_classes.rebuild_classes(conn))


def _differences(query: EvidenceQuery) -> sa.Select:
    """Every trace ``query`` computes, matched to its stored summary in one full join:
    only the traces whose summary is missing or differs (their computed columns) and the
    summaries of traces no longer there (``stored_*``: their key, the rest NULL)."""
    computed = query.traces().subquery("computed")
    stored = summary.alias("stored")
    return (
        sa.select(
            *[computed.c[name] for name in TRACE_COLUMNS],
            *[stored.c[k].label(f"stored_{k}") for k in KEY],
        )
        .select_from(
            computed.outerjoin(
                stored, sa.and_(*[computed.c[k] == stored.c[k] for k in KEY]), full=True
            )
        )
        .where(
            sa.or_(
                computed.c.trace_id.is_(None),
                stored.c.trace_id.is_(None),
                sa.tuple_(*[computed.c[v] for v in VALUES]).is_distinct_from(
                    sa.tuple_(*[stored.c[v] for v in VALUES])
                ),
            )
        )
    )


def _write_differences(conn: Connection, differences: Sequence, queued: int) -> SummaryRefresh:
    """Write the ``differences`` a full pass found (``_differences``): remove the summaries
    of traces gone, write the new and changed ones, and group every summary into its
    class again — if there was any difference by rewriting them all, else by checking the
    classes the refreshes kept against the grouping and rewriting only those that differ
    (none, unless something other than procobs changed them)."""
    rows = [row._mapping for row in differences]
    gone = [tuple(row[f"stored_{k}"] for k in KEY) for row in rows if row["trace_id"] is None]
    fresh = [
        {name: row[name] for name in TRACE_COLUMNS} for row in rows if row["trace_id"] is not None
    ]
    if gone:
        conn.execute(summary.delete().where(sa.tuple_(*[summary.c[k] for k in KEY]).in_(gone)))
    if fresh:
        conn.execute(upsert(conn.dialect.name, summary, fresh, key=list(KEY)))
    if differences:
        changed = trace_classes.rebuild_classes(conn)
    else:
        changed = trace_classes.repair_classes(conn)
    return SummaryRefresh(True, queued, 0, 0, True, len(differences), changed)


def _rebuild_summaries(conn: Connection, query: EvidenceQuery, queued: int) -> SummaryRefresh:
    """Recompute every summary and write them, in SQL: the first build, a bulk load, a
    repair that finds many differences."""
    if not is_postgres(conn):
        conn.execute(summary.delete())
        return SummaryRefresh(True, queued, 0, 0, True, _insert_traces(conn, query))
    # One statement: every trace computed once and matched to its stored summary in one
    # full join; only the differences are kept, and from them the summaries of traces no
    # longer there are removed and the new or changed ones written.
    diff = _differences(query).cte("diff")
    stale = (
        summary.delete()
        .where(diff.c.trace_id.is_(None), *[summary.c[k] == diff.c[f"stored_{k}"] for k in KEY])
        .returning(summary.c.trace_id)
        .cte("stale")
    )
    write = postgresql.insert(summary).from_select(
        TRACE_COLUMNS,
        sa.select(*[diff.c[name] for name in TRACE_COLUMNS]).where(diff.c.trace_id.is_not(None)),
    )
    written = (
        write.on_conflict_do_update(
            index_elements=list(KEY), set_={v: write.excluded[v] for v in VALUES}
        )
        .returning(summary.c.trace_id)
        .cte("written")
    )
    removed, changed = conn.execute(
        sa.select(
            sa.select(sa.func.count()).select_from(stale).scalar_subquery(),
            sa.select(sa.func.count()).select_from(written).scalar_subquery(),
        )
    ).one()
    return SummaryRefresh(True, queued, 0, 0, True, changed + removed)


def _refresh_keys(
    conn: Connection, catalog: Catalog, current, queued: int, correlations: set, runs: set
) -> SummaryRefresh:
    """Re-summarise the queued keys and carry the change into the trace classes."""
    dialect = conn.dialect.name
    jobs_stale = current.job_coverage != job_coverage(catalog)
    removed, added, jobs_written = [], [], 0
    with analytical_settings(conn, KEYED_SETTINGS):
        if correlations:
            keys = sorted(correlations)
            old, new = _resummarise(
                conn,
                LEDGER,
                summary.c.correlation_id,
                keys,
                EvidenceQuery(dialect, catalog, correlation_ids=keys, jobs=False),
            )
            removed += old
            added += new
        if runs and not jobs_stale:
            keys = sorted(runs)
            old, new = _resummarise(
                conn,
                JOBS,
                summary.c.trace_id,
                keys,
                EvidenceQuery(dialect, catalog, run_ids=keys, ledger=False),
            )
            removed += old
            added += new
    if jobs_stale:
        # Every job trace is re-summarised: group every summary again, once.
        jobs_written = _rebuild_jobs(conn, catalog)
        changed = trace_classes.rebuild_classes(conn)
    else:
        changed = trace_classes.apply_changes(conn, removed, added)
    return SummaryRefresh(
        False,
        queued,
        len(correlations),
        len(runs),
        jobs_stale,
        len(added) + jobs_written,
        changed,
    )


def refresh_summaries(
    conn: Connection, catalog: Catalog, *, full: bool = False, now: dt.datetime | None = None
) -> SummaryRefresh:
    """Bring the summaries up to date, in the caller's transaction: re-summarise the
    queued keys, or with ``full`` (or before the first build, or after a bulk load)
    rebuild every summary from the live and archive tables."""
    at = now or utcnow()
    current = _state(conn, lock=True)
    coverage = job_coverage(catalog)
    with analytical_settings(conn):
        if full or current.built_at is None:
            result = _rebuild(conn, catalog, 0, expect_changes=current.built_at is None)
        else:
            queued, correlations, runs = _consume(conn)
            if queued >= MAX_QUEUED:
                result = _rebuild(conn, catalog, queued, expect_changes=True)
            else:
                result = _refresh_keys(conn, catalog, current, queued, correlations, runs)
    values = {"job_coverage": coverage, "refreshed_at": at}
    if result.full:
        values["built_at"] = at
    conn.execute(state.update().where(state.c.state_id == 1).values(**values))
    return result
