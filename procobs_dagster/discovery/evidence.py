"""The runtime evidence of process candidates, as SQL relations (set-based, both dialects).

A **trace** is one execution of a candidate:

* a ledger run: a ``process_run_observation`` header of the candidate; its steps are the
  component rows sharing the run's ``correlation_id`` (the correlation_id stitches
  components into a run: docs/design.md, "Identity and correlation"), real components for
  a real run;
* a job run (job-backed candidates only): the ``job_queue`` rows of the covered job kinds
  sharing one ``run_id``, unless the ledger holds that very run for the candidate (one
  execution counts once, from its richer ledger record).

A trace's **variant** is the JSON list of its step activities (DOT code, job kind) ordered
by ``started_at`` (else the time the row was recorded), then by id. Dry runs are traces of
their own kind: counted, never scored. Nothing here reads ``process_candidate``: a
``last_executed`` backfill is not runtime evidence (docs/design.md, "Anti-fake rules").

The ledger is read from its live and archive tables together: retention moves runs into
the archive, and an archived run is still evidence. A trace is computed from the rows in
both (its variant, the bar's conditions: see ``TRACE_COLUMNS``), for every trace or only
those of some keys — correlation_ids for ledger traces, run_ids for job traces — which
read through the indexes on those columns.

The work per row happens in the database: a single sort of the components by
(correlation_id, step order) gives every trace its steps (see ``_sequenced``), and the
sequences are joined to their run headers. ``classes`` groups traces (computed, or their
stored summaries: discovery/summaries.py) into **classes** (candidate, origin, variant,
the gate's conditions) with their counts. Classes are few — candidates x distinct
behaviours — so the caller combines them cheaply.
"""

import dataclasses
from collections.abc import Sequence

import sqlalchemy as sa

from procobs_dagster.discovery.catalog import Catalog
from procobs_dagster.discovery.sql import bytewise, has_content
from procobs_dagster.store import dialect as dialects
from procobs_dagster.store.sql import json_list
from procobs_dagster.store.tables import (
    job_queue,
    process_component_observation,
    process_component_observation_archive,
    process_run_observation,
    process_run_observation_archive,
)
from procobs_dagster.store.types import UTCDateTime

LEDGER = "process_run_observation"
JOBS = "job_queue"
UNNAMED = "(unnamed)"  # activity of a component recorded without a dot_code

# The whole partition, in step order: every window function below shares this one sort.
WHOLE = (None, None)

# What a trace is, to the scoring: one row per trace with these columns, whether computed
# here or read from its stored summary (store/tables/discovery.py).
TRACE_COLUMNS = (
    "origin",
    "candidate_code",
    "trace_id",
    "correlation_id",
    "header_status",
    "dry_run",
    "completed",
    "timed",
    "n_steps",
    "n_evidence",
    "variant",
    "seen_at",
)
# Keys in scope: None for every trace, else a list of values or a SELECT of one column.
Keys = Sequence | sa.Select | None
RUN_COLUMNS = (
    "process_run_id",
    "process_candidate_code",
    "correlation_id",
    "status",
    "source_system",
    "started_at",
    "ended_at",
    "created_at",
)
COMPONENT_COLUMNS = (
    "component_run_id",
    "correlation_id",
    "dot_code",
    "source_system",
    "evidence_ref",
    "started_at",
    "created_at",
)


def among(column: sa.ColumnElement, keys: Keys, dialect: str) -> sa.ColumnElement[bool]:
    """``column`` is one of ``keys`` (true when keys is None). A list is one array
    parameter on Postgres (``= ANY(:keys)``), so a thousand keys are not a thousand
    parameters."""
    if keys is None:
        return sa.true()
    if isinstance(keys, sa.Select):
        return column.in_(keys)
    return dialects.among(column, list(keys), dialect)


def live_and_archived(
    live: sa.Table, archive: sa.Table, columns: Sequence[str], where, name: str, dialect: str
) -> sa.Subquery:
    """The rows of ``live`` and of its archive matching ``where(relation)``, as one
    relation; each branch reads through its own indexes. Postgres applies the condition
    to the union and pushes it into each branch itself: a branch with a WHERE of its own
    cannot become a plain scan of the union, and passes every row through one more node
    (about 6% of a full scoring). SQLite gets the condition in each branch."""
    if dialect == "postgresql":
        union = sa.union_all(
            *[sa.select(*[t.c[col] for col in columns]) for t in (live, archive)]
        ).subquery(f"{name}_row")
        return sa.select(union).where(*where(union)).subquery(name)
    return sa.union_all(
        *[sa.select(*[t.c[col] for col in columns]).where(*where(t)) for t in (live, archive)]
    ).subquery(name)


def _flag(condition) -> sa.ColumnElement[int]:
    """A condition as 0/1, so flags add up the same way on both dialects."""
    return sa.case((condition, 1), else_=0)


def _literal_relation(
    name: str, columns: Sequence[tuple[str, sa.types.TypeEngine]], rows
) -> sa.CTE:
    """A small relation of bound values, portable to SQLite (no ``VALUES … AS t(c)`` there)."""
    rows = list(rows)
    if not rows:
        empty = [sa.cast(sa.null(), type_).label(column) for column, type_ in columns]
        return sa.select(*empty).where(sa.false()).cte(name)
    selects = [
        sa.select(
            *[
                sa.literal(value, type_).label(column)
                for (column, type_), value in zip(columns, row, strict=True)
            ]
        )
        for row in rows
    ]
    return (selects[0] if len(selects) == 1 else sa.union_all(*selects)).cte(name)


def _sequenced(
    dialect: str,
    steps: sa.Select,
    keys: Sequence[str],
    extra: dict[str, tuple[str, str]],
    name: str,
) -> sa.CTE:
    """One row per trace — the steps sharing ``keys`` — with its step count, its variant
    (the activities in step order, as a JSON list) and ``extra`` aggregates, given as
    ``{label: (function, column)}``. Either way the steps are sorted once.

    Postgres aggregates the sorted steps directly: an ORDER BY subquery, kept whole by
    OFFSET 0, feeds the grouping, and string_agg — like json_agg, it has no partial
    (parallel) form — receives each group's rows in that order. Computing the flags in
    the fenced subquery also lets the sort carry them instead of the columns they come
    from (evidence documents may be large). SQLite has no such promise for its
    aggregates, so it takes the window form, whose order is defined: every function over
    the whole partition in step order, one row kept per partition."""
    if dialect == "postgresql":
        # Each activity is quoted as JSON below the sort — in the parallel workers when
        # there are some — and the grouping, in the one process that aggregates, only
        # joins the quoted texts: exactly json_agg's text ('["a", "b"]'), for less work
        # in that process (about 5% of a full scoring at 100k and 1M).
        quoted = steps.with_only_columns(
            *[
                sa.cast(sa.func.to_json(c.element), sa.Text).label(c.name)
                if c.name == "activity"
                else c
                for c in steps.selected_columns
            ]
        )
        ordered = quoted.order_by(*keys, "step_at", "step_id").offset(0).subquery(f"{name}_step")
        group = [ordered.c[key] for key in keys]
        variant = "[" + sa.func.string_agg(ordered.c.activity, sa.literal(", ")) + "]"
        return (
            sa.select(
                *group,
                sa.func.count().label("n_steps"),
                sa.type_coerce(variant, sa.Text).label("variant"),
                *[
                    getattr(sa.func, fn)(ordered.c[col]).label(label)
                    for label, (fn, col) in extra.items()
                ],
            )
            .group_by(*group)
            .cte(name)
        )
    unordered = steps.subquery(f"{name}_step")
    window = {
        "partition_by": [unordered.c[key] for key in keys],
        "order_by": [unordered.c.step_at, unordered.c.step_id],
        "rows": WHOLE,
    }
    ranked = sa.select(
        *[unordered.c[key] for key in keys],
        sa.func.count().over(**window).label("n_steps"),
        sa.cast(json_list(unordered.c.activity).over(**window), sa.Text).label("variant"),
        *[
            getattr(sa.func, fn)(unordered.c[col]).over(**window).label(label)
            for label, (fn, col) in extra.items()
        ],
        sa.func.row_number().over(**window).label("step_rank"),
    ).subquery(f"{name}_ranked")
    return sa.select(ranked).where(ranked.c.step_rank == 1).cte(name)


@dataclasses.dataclass(frozen=True)
class EvidenceQuery:
    """Relations over the traces in scope: of the candidates ``codes`` (None: all), the
    ledger traces of the runs whose correlation_id is one of ``correlation_ids`` and the
    job traces whose run_id is one of ``run_ids`` (None: all of them); ``ledger`` or
    ``jobs`` false leaves that origin out. A narrow scope reads through indexes."""

    dialect: str
    catalog: Catalog
    codes: tuple[str, ...] | None = None
    correlation_ids: Keys = None
    run_ids: Keys = None
    ledger: bool = True
    jobs: bool = True

    def _runs(self, name: str = "run") -> sa.Subquery:
        """Run headers in scope, live and archived."""

        def where(t):
            found = [among(t.c.correlation_id, self.correlation_ids, self.dialect)]
            if self.codes is not None:
                found.append(t.c.process_candidate_code.in_(self.codes))
            return found

        return live_and_archived(
            process_run_observation,
            process_run_observation_archive,
            RUN_COLUMNS,
            where,
            name,
            self.dialect,
        )

    def job_kinds(self) -> sa.CTE:
        """(candidate_code, job_kind) for the job-backed candidates in scope."""
        return _literal_relation(
            "covered_job_kind",
            [("candidate_code", sa.Text()), ("job_kind", sa.Text())],
            (
                (c.code, kind)
                for c in self.catalog.job_backed
                if self.codes is None or c.code in self.codes
                for kind in c.covered_codes
            ),
        )

    def component_sequences(self) -> sa.CTE:
        """Per correlation_id: the real components sharing it, counted and ordered."""

        def where(c):
            found = [
                c.c.source_system != "dry_run",
                among(c.c.correlation_id, self.correlation_ids, self.dialect),
            ]
            if self.codes is not None:
                runs = self._runs("scoped_run")
                found.append(c.c.correlation_id.in_(sa.select(runs.c.correlation_id)))
            return found

        c = live_and_archived(
            process_component_observation,
            process_component_observation_archive,
            COMPONENT_COLUMNS,
            where,
            "component",
            self.dialect,
        )
        steps = sa.select(
            bytewise(c.c.correlation_id).label("correlation_id"),
            sa.func.coalesce(c.c.started_at, c.c.created_at).label("step_at"),
            c.c.component_run_id.label("step_id"),
            sa.func.coalesce(c.c.dot_code, UNNAMED).label("activity"),
            _flag(has_content(c.c.evidence_ref)).label("has_evidence"),
        )
        return _sequenced(
            self.dialect,
            steps,
            ["correlation_id"],
            {"n_evidence": ("sum", "has_evidence")},
            "component_sequence",
        )

    def job_sequences(self) -> sa.CTE:
        """Per (job-backed candidate, run_id): its job_queue rows, counted and ordered."""
        j, kinds = job_queue, self.job_kinds()
        job_backed = [c.code for c in self.catalog.job_backed]

        def in_ledger(runs: sa.Table):
            return (
                sa.select(sa.literal(1))
                .where(
                    runs.c.process_run_id == j.c.run_id,
                    runs.c.process_candidate_code == kinds.c.candidate_code,
                    # Redundant, but it lets the planner read only the job-backed
                    # candidates' runs (through their index) instead of hashing the ledger.
                    runs.c.process_candidate_code.in_(job_backed),
                )
                .exists()
            )

        steps = (
            sa.select(
                kinds.c.candidate_code,
                j.c.run_id,
                j.c.correlation_id,
                sa.func.coalesce(j.c.started_at, j.c.enqueued_at).label("step_at"),
                j.c.job_id.label("step_id"),
                j.c.job_kind.label("activity"),
                _flag(j.c.status == "completed").label("is_completed"),
                _flag(sa.and_(j.c.started_at.is_not(None), j.c.finished_at.is_not(None))).label(
                    "is_timed"
                ),
                sa.func.coalesce(j.c.finished_at, j.c.started_at, j.c.enqueued_at).label("seen_at"),
            )
            .select_from(j.join(kinds, kinds.c.job_kind == j.c.job_kind))
            .where(
                j.c.run_id.is_not(None),
                # One execution counts once: the ledger's record of it, live or archived.
                ~in_ledger(process_run_observation),
                ~in_ledger(process_run_observation_archive),
                among(j.c.run_id, self.run_ids, self.dialect),
            )
        )
        return _sequenced(
            self.dialect,
            steps,
            # run_id first: random ids sort fastest (candidate codes share a prefix).
            ["run_id", "candidate_code"],
            {
                "n_completed": ("sum", "is_completed"),
                "n_timed": ("sum", "is_timed"),
                "seen_at": ("max", "seen_at"),
                "correlation_id": ("max", "correlation_id"),
            },
            "job_sequence",
        )

    def traces(self) -> sa.Select:
        """One row per trace in scope (dry runs included), ``TRACE_COLUMNS``, with the
        gate's three conditions as 0/1."""
        parts = []
        if self.ledger:
            r, seq = self._runs(), self.component_sequences()
            real = r.c.source_system != "dry_run"
            seen_at = sa.func.coalesce(r.c.ended_at, r.c.started_at, r.c.created_at)
            parts.append(
                sa.select(
                    sa.literal(LEDGER).label("origin"),
                    r.c.process_candidate_code.label("candidate_code"),
                    r.c.process_run_id.label("trace_id"),
                    r.c.correlation_id,
                    r.c.status.label("header_status"),
                    _flag(~real).label("dry_run"),
                    _flag(r.c.status == "completed").label("completed"),
                    _flag(sa.and_(r.c.started_at.is_not(None), r.c.ended_at.is_not(None))).label(
                        "timed"
                    ),
                    sa.func.coalesce(seq.c.n_steps, 0).label("n_steps"),
                    seq.c.n_evidence,
                    seq.c.variant,
                    sa.type_coerce(seen_at, UTCDateTime).label("seen_at"),
                )
                # A dry run's components prove nothing: it is joined to none.
                .select_from(
                    r.outerjoin(
                        seq, sa.and_(seq.c.correlation_id == bytewise(r.c.correlation_id), real)
                    )
                )
            )
        if self.jobs and self.catalog.job_backed:
            js = self.job_sequences()
            parts.append(
                sa.select(
                    sa.literal(JOBS).label("origin"),
                    js.c.candidate_code,
                    js.c.run_id.label("trace_id"),
                    js.c.correlation_id,
                    sa.cast(sa.null(), sa.Text).label("header_status"),
                    sa.literal(0).label("dry_run"),
                    _flag(js.c.n_completed == js.c.n_steps).label("completed"),
                    _flag(js.c.n_timed == js.c.n_steps).label("timed"),
                    js.c.n_steps,
                    sa.cast(sa.null(), sa.Integer).label("n_evidence"),
                    js.c.variant,
                    sa.type_coerce(js.c.seen_at, UTCDateTime).label("seen_at"),
                )
            )
        if not parts:
            return sa.select(*[sa.null().label(name) for name in TRACE_COLUMNS]).where(sa.false())
        return parts[0] if len(parts) == 1 else sa.union_all(*parts)


def classes(traces: sa.FromClause) -> sa.Select:
    """Traces (any relation with ``TRACE_COLUMNS``) grouped by candidate, origin, variant
    and the gate's conditions, with counts, component totals and a representative trace
    of each class."""
    t = traces
    enough_steps = _flag(t.c.n_steps >= 2)
    keys = [
        t.c.candidate_code,
        t.c.origin,
        t.c.variant,
        t.c.dry_run,
        t.c.completed,
        t.c.timed,
        enough_steps,
    ]
    return sa.select(
        *keys[:-1],
        enough_steps.label("enough_steps"),
        sa.func.count().label("traces"),
        sa.func.sum(sa.case((t.c.origin == LEDGER, t.c.n_steps))).label("components"),
        sa.func.sum(t.c.n_evidence).label("components_with_evidence"),
        sa.func.max(t.c.seen_at).label("last_seen_at"),
        # The representative run of the class: the greatest id (Postgres has no
        # max(uuid)); with the ledger's time-ordered UUIDv7 ids, the latest started.
        # Compared bytewise, as Python compares the stored classes' (trace_classes.py).
        sa.func.max(bytewise(sa.cast(t.c.trace_id, sa.Text))).label("representative"),
    ).group_by(*keys)


def recent_traces(traces: sa.FromClause, limit: int) -> sa.Select:
    """The most recent of ``traces``, real ones first."""
    t = traces
    return (
        sa.select(t).order_by(t.c.dry_run, sa.desc(t.c.seen_at), sa.desc(t.c.trace_id)).limit(limit)
    )
