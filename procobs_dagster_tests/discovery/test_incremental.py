"""Incremental discovery: refreshing the trace summaries from the change queue ends exactly
where a full rebuild ends, whatever the history — runs started, stepped and ended out of
order, late components, runs swept to stuck then completing, amendments, dry runs, job
runs and the platform pruning its job queue, retention archiving in between — and
archived runs keep counting."""

import datetime as dt
import uuid

import hypothesis.strategies as st
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, settings
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from procobs_dagster import discovery, ledger, maintenance
from procobs_dagster.discovery import evidence, summaries, trace_classes
from procobs_dagster.errors import IllegalTransition, NotFound
from procobs_dagster.ids import uuid7
from procobs_dagster.ledger import amend
from procobs_dagster.store.tables import (
    discovery_summary_state,
    discovery_trace_change,
    discovery_trace_class,
    discovery_trace_summary,
    job_queue,
    process_run_observation,
    process_status_history,
    process_status_history_archive,
)
from procobs_dagster_tests.discovery.helpers import (
    CATALOG,
    CUT,
    KG,
    KG_STEPS,
    T0,
    enqueue,
    observe,
    seconds,
)

CANDIDATES = (KG, CUT, "PROC-CAND:dot:undeclared")
DOT_CODES = ("DOT_KG_EXTRACT", "DOT_KG_VALIDATE", None)
JOB_KINDS = ("cut.segment", "cut.encode", "cut.retry", "other.kind")
EVERYTHING_EXPIRES = maintenance.RetentionPolicy(
    completed=0, failed=0, cancelled=0, stuck=0, orphan=0
)


class Rollback(Exception):
    """Undo the full rebuild a check made, so the history goes on incrementally."""


def _summary_rows(conn) -> list[tuple]:
    s = discovery_trace_summary
    return [
        tuple(row)
        for row in conn.execute(
            sa.select(s).order_by(s.c.trace_id, s.c.origin, s.c.candidate_code)
        ).all()
    ]


def _class_rows(conn) -> list[dict]:
    """The stored trace classes, checked against every summary grouped afresh."""
    c = discovery_trace_class
    rows = [dict(row) for row in conn.execute(sa.select(c).order_by(c.c.class_key)).mappings()]
    grouped = conn.execute(evidence.classes(discovery_trace_summary)).mappings()
    assert rows == sorted((trace_classes._row(r) for r in grouped), key=lambda r: r["class_key"])
    return rows


def _scored(conn, catalog=CATALOG) -> dict[str, discovery.CandidateScore]:
    return {s.candidate_code: s for s in discovery.compute_scores(conn, catalog)}


def incremental_and_full(db, catalog=CATALOG):
    """(summaries, scores) after an incremental refresh (committed) and after a full
    rebuild from the same state (rolled back)."""
    with db.begin() as conn:
        summaries.refresh_summaries(conn, catalog)
        incremental = (_summary_rows(conn), _class_rows(conn), _scored(conn, catalog))
    full = None
    try:
        with db.begin() as conn:
            assert summaries.refresh_summaries(conn, catalog, full=True).full
            full = (_summary_rows(conn), _class_rows(conn), _scored(conn, catalog))
            raise Rollback
    except Rollback:
        pass
    return incremental, full


def keep_history_ids_rising(db) -> None:
    """SQLite gives a new history row max(history_id) + 1 (a rowid without AUTOINCREMENT):
    once retention has moved the newest history rows, their ids are handed out again and
    the next move collides in the archive. A row above every id, which retention never
    moves (it names no run), keeps the ids rising. The reuse is not discovery's to fix."""
    live, archived = process_status_history, process_status_history_archive
    with db.begin() as conn:
        top = conn.execute(
            sa.select(
                sa.func.max(live.c.history_id),
                sa.select(sa.func.max(archived.c.history_id)).scalar_subquery(),
            )
        ).one()
        conn.execute(
            live.insert().values(
                history_id=max(v or 0 for v in top) + 1,
                subject_kind="run",
                subject_id=uuid7(),
                to_status="started",
                changed_at=T0,
            )
        )


def test_incremental_refresh_equals_full_rebuild(db, backend):
    clock = {"now": T0}

    def tick(n: float = 1) -> dt.datetime:
        clock["now"] += seconds(n)
        return clock["now"]

    class History(RuleBasedStateMachine):
        @initialize()
        def never_built(self):
            # Each example starts before the first build; the ledger of earlier examples
            # stays (history ids are never reused, so nothing is deleted).
            with db.begin() as conn:
                for table in (
                    discovery_trace_summary,
                    discovery_trace_class,
                    discovery_trace_change,
                ):
                    conn.execute(table.delete())
                conn.execute(
                    discovery_summary_state.update().values(
                        job_coverage=None, built_at=None, refreshed_at=None
                    )
                )
            self.runs: list[uuid.UUID] = []
            self.components: list[uuid.UUID] = []
            self.job_runs: list[uuid.UUID] = []

        @rule(candidate=st.sampled_from(CANDIDATES), dry_run=st.booleans())
        def start_run(self, candidate, dry_run):
            with db.begin() as conn:
                run, _ = ledger.start_run(
                    conn, candidate_code=candidate, dry_run=dry_run, at=tick()
                )
            self.runs.append(run.process_run_id)

        @precondition(lambda self: self.runs)
        @rule(
            pick=st.integers(0, 99),
            dot_code=st.sampled_from(DOT_CODES),
            evidence=st.sampled_from([None, {}, {"rows": 1}]),
            standalone=st.booleans(),
        )
        def add_component(self, pick, dot_code, evidence, standalone):
            run_id = self.runs[pick % len(self.runs)]
            with db.begin() as conn:
                run = conn.execute(
                    sa.select(process_run_observation).where(
                        process_run_observation.c.process_run_id == run_id
                    )
                ).first()
                if run is None:  # archived
                    return
                where = (
                    {"standalone": True, "correlation_id": run.correlation_id}
                    if standalone and run.source_system != "dry_run"
                    else {"process_run_id": run_id, "late_report": True}
                )
                component, _ = ledger.record_component(
                    conn, dot_code=dot_code, evidence=evidence, at=tick(), **where
                )
            self.components.append(component.component_run_id)

        @precondition(lambda self: self.components)
        @rule(pick=st.integers(0, 99), to_status=st.sampled_from(["completed", "failed"]))
        def end_component(self, pick, to_status):
            self._move(
                ledger.transition_component, self.components[pick % len(self.components)], to_status
            )

        @precondition(lambda self: self.runs)
        @rule(
            pick=st.integers(0, 99),
            to_status=st.sampled_from(["completed", "completed", "failed", "cancelled"]),
        )
        def end_run(self, pick, to_status):
            self._move(ledger.transition_run, self.runs[pick % len(self.runs)], to_status)

        def _move(self, move, subject_id, to_status):
            try:
                with db.begin() as conn:
                    move(conn, subject_id, to_status, at=tick())
            except (IllegalTransition, NotFound):  # ended already, or archived
                pass

        @rule()
        def sweep_stuck(self):
            maintenance.sweep_stuck(db, default_sla_seconds=60, now=tick(120))

        @precondition(lambda self: self.runs or self.components)
        @rule(pick=st.integers(0, 99), run=st.booleans(), backdate=st.booleans())
        def amend(self, pick, run, backdate):
            kind, ids = ("run", self.runs) if run and self.runs else ("component", self.components)
            if not ids:
                return
            subject_id = ids[pick % len(ids)]
            with db.begin() as conn:
                if backdate:
                    amend.backdate_start(conn, kind, subject_id, T0 - seconds(pick))
                else:
                    amend.add_evidence(conn, kind, subject_id, {"amended": pick})

        @rule(
            reuse=st.booleans(),
            pick=st.integers(0, 99),
            kind=st.sampled_from(JOB_KINDS),
            status=st.sampled_from(["queued", "running", "completed", "failed"]),
        )
        def enqueue_job(self, reuse, pick, kind, status):
            # A job run may share its id with a ledger run: it then counts once, as that run.
            known = self.job_runs + self.runs
            run_id = known[pick % len(known)] if reuse and known else uuid7()
            at = tick()
            with db.begin() as conn:
                conn.execute(
                    job_queue.insert(),
                    {
                        "job_id": uuid7(),
                        "job_kind": kind,
                        "run_id": run_id,
                        "status": status,
                        "enqueued_at": at,
                        "started_at": at if status != "queued" else None,
                        "finished_at": at if status in ("completed", "failed") else None,
                    },
                )
            self.job_runs.append(run_id)

        @precondition(lambda self: self.job_runs)
        @rule(pick=st.integers(0, 99))
        def complete_jobs(self, pick):
            run_id = self.job_runs[pick % len(self.job_runs)]
            at = tick()
            with db.begin() as conn:
                conn.execute(
                    job_queue.update()
                    .where(job_queue.c.run_id == run_id, job_queue.c.status != "completed")
                    .values(status="completed", started_at=at, finished_at=at)
                )

        @precondition(lambda self: self.job_runs)
        @rule(pick=st.integers(0, 99), whole=st.booleans())
        def prune_jobs(self, pick, whole):
            # The platform prunes its own queue: a job trace loses a step, or goes.
            run_id = self.job_runs[pick % len(self.job_runs)]
            j = job_queue.c
            with db.begin() as conn:
                oldest = sa.select(j.job_id).where(j.run_id == run_id).order_by(j.job_id).limit(1)
                conn.execute(
                    job_queue.delete().where(
                        j.run_id == run_id if whole else j.job_id.in_(oldest.scalar_subquery())
                    )
                )

        @rule()
        def retention(self):
            if backend == "sqlite":
                keep_history_ids_rising(db)
            maintenance.run_retention(db, EVERYTHING_EXPIRES, now=tick(3600))

        @rule()
        def refresh(self):
            with db.begin() as conn:
                summaries.refresh_summaries(conn, CATALOG)

        @invariant()
        def incremental_equals_full(self):
            incremental, full = incremental_and_full(db)
            assert incremental == full
            with db.read() as conn:
                # Nothing left queued: the summaries stand for the ledger by themselves.
                queued = conn.execute(
                    sa.select(sa.func.count()).select_from(discovery_trace_change)
                ).scalar_one()
            assert queued == 0

    run_state_machine_as_test(
        History,
        settings=settings(
            max_examples=12,
            stateful_step_count=20,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )


def test_a_read_only_scoring_sees_what_is_queued(db):
    """Between refreshes, compute_scores (and explain) read the stored summaries except
    for the queued keys, which they compute: exact without writing."""
    observe(db, finish=None)
    with db.begin() as conn:
        discovery.score_candidates(conn, CATALOG)
    run = observe(db)  # queued, not summarised
    with db.read() as conn:
        kg = _scored(conn)[KG]
        why = discovery.explain(conn, CATALOG, KG)
    assert (kg.status, kg.support, kg.proving_run_id) == (
        "verified_candidate",
        2,
        run.process_run_id,
    )
    assert why.recent_runs[0].run_id == run.process_run_id


def test_archived_runs_keep_counting(db):
    run = observe(db, at=T0)
    with db.begin() as conn:
        discovery.score_candidates(conn, CATALOG)
    report = maintenance.run_retention(db, EVERYTHING_EXPIRES, now=T0 + dt.timedelta(days=1))
    assert report.runs == 1
    for full in (False, True):
        with db.begin() as conn:
            kg = {
                s.candidate_code: s for s in discovery.score_candidates(conn, CATALOG, full=full)
            }[KG]
        assert (kg.status, kg.support, kg.proving_run_id) == (
            "verified_candidate",
            1,
            run.process_run_id,
        )


def test_a_run_archived_before_it_was_summarised_still_counts(db):
    with db.begin() as conn:
        discovery.score_candidates(conn, CATALOG)  # the first build, before the run
    run = observe(db, at=T0)
    maintenance.run_retention(db, EVERYTHING_EXPIRES, now=T0 + dt.timedelta(days=1))
    with db.begin() as conn:
        refresh = summaries.refresh_summaries(conn, CATALOG)
        kg = _scored(conn)[KG]
    assert not refresh.full and refresh.correlation_ids == 1
    assert kg.proving_run_id == run.process_run_id


def test_a_refresh_rereads_only_the_changed_keys(db):
    for _ in range(3):
        observe(db)
    with db.begin() as conn:
        assert summaries.refresh_summaries(conn, CATALOG).full  # the first build
    late = observe(db, finish=None)
    with db.begin() as conn:
        refresh = summaries.refresh_summaries(conn, CATALOG)
    assert (refresh.full, refresh.correlation_ids, refresh.summaries) == (False, 1, 1)
    with db.begin() as conn:  # completing it late re-summarises it
        ledger.finish_run(conn, late.process_run_id, "completed", at=T0 + seconds(60))
    with db.begin() as conn:
        refresh = summaries.refresh_summaries(conn, CATALOG)
        assert refresh.correlation_ids == 1
        assert _scored(conn)[KG].verified_runs == 4


def test_a_changed_catalog_re_summarises_the_job_traces(db):
    enqueue(db, uuid7(), ("cut.segment", "completed", 0, 1), ("other.kind", "completed", 1, 2))
    with db.begin() as conn:
        summaries.refresh_summaries(conn, CATALOG)
    wider = discovery.parse_catalog(
        {
            "version": 1,
            "candidates": [
                {
                    "code": CUT,
                    "source": "job",
                    "covers": ["cut.segment", "other.kind"],
                    "steps": [{"code": "cut.segment"}, {"code": "other.kind"}],
                }
            ],
        }
    )
    with db.read() as conn:  # read-only: the job traces are computed for the new catalog
        assert _scored(conn, wider)[CUT].status == "verified_candidate"
    with db.begin() as conn:
        refresh = summaries.refresh_summaries(conn, wider)
        assert refresh.jobs_rebuilt and not refresh.full
        assert _scored(conn, wider)[CUT].status == "verified_candidate"
    incremental, full = incremental_and_full(db, wider)
    assert incremental == full


def test_a_pruned_job_queue_is_re_summarised(db):
    """The platform deleting job rows queues their run: the refresh takes the step out of
    the trace, or the trace away, as a full pass would."""
    kept, pruned = uuid7(), uuid7()
    for run_id in (kept, pruned):
        enqueue(db, run_id, ("cut.segment", "completed", 0, 1), ("cut.encode", "completed", 1, 2))
    with db.begin() as conn:
        summaries.refresh_summaries(conn, CATALOG)
        assert _scored(conn)[CUT].support == 2
    with db.begin() as conn:
        conn.execute(job_queue.delete().where(job_queue.c.run_id == pruned))
        conn.execute(
            job_queue.delete().where(
                job_queue.c.run_id == kept, job_queue.c.job_kind == "cut.encode"
            )
        )
    with db.begin() as conn:
        refresh = summaries.refresh_summaries(conn, CATALOG)
        assert not refresh.full and refresh.run_ids == 2
        score = _scored(conn)[CUT]
        assert score.support == 1 and score.verified_runs == 0  # one step left: below the bar
    incremental, full = incremental_and_full(db)
    assert incremental == full


def test_a_truncated_job_queue_is_re_summarised(postgres_db):
    """TRUNCATE names no rows: the next refresh re-summarises every job trace."""
    db = postgres_db
    enqueue(db, uuid7(), ("cut.segment", "completed", 0, 1), ("cut.encode", "completed", 1, 2))
    with db.begin() as conn:
        summaries.refresh_summaries(conn, CATALOG)
        assert _scored(conn)[CUT].support == 1
    with db.begin() as conn:
        conn.execute(sa.text("TRUNCATE job_queue"))
    with db.read() as conn:  # read-only: the job traces are computed, not trusted
        assert _scored(conn)[CUT].support == 0
    with db.begin() as conn:
        refresh = summaries.refresh_summaries(conn, CATALOG)
        assert refresh.jobs_rebuilt and not refresh.full
        assert _scored(conn)[CUT].support == 0
    incremental, full = incremental_and_full(db)
    assert incremental == full


def test_a_long_queue_is_rebuilt_in_full(db, monkeypatch):
    monkeypatch.setattr(summaries, "MAX_QUEUED", 3)
    with db.begin() as conn:
        summaries.refresh_summaries(conn, CATALOG)
    observe(db)  # a start, two steps of two writes each, an end: more than 3 rows
    with db.begin() as conn:
        refresh = summaries.refresh_summaries(conn, CATALOG)
        assert refresh.full and refresh.summaries == 1
    incremental, full = incremental_and_full(db)
    assert incremental == full


def test_the_stored_classes_add_and_subtract_changed_summaries(db):
    """A new run joins its class by addition, components included; a run leaving a class
    without holding its maxima is subtracted from it. Each time the stored classes equal
    the summaries grouped afresh (``_class_rows`` checks)."""
    oldest = observe(db, at=T0)
    observe(db, at=T0 + seconds(100))
    with db.begin() as conn:
        assert summaries.refresh_summaries(conn, CATALOG).full
    observe(db, at=T0 + seconds(200))
    with db.begin() as conn:
        refresh = summaries.refresh_summaries(conn, CATALOG)
        kg = [r for r in _class_rows(conn) if r["candidate_code"] == KG]
    assert (refresh.full, refresh.classes) == (False, 1)
    assert [(r["traces"], r["components"]) for r in kg] == [(3, 3 * len(KG_STEPS))]
    with db.begin() as conn:  # a late step: the oldest run leaves its class for a new one
        ledger.record_component(
            conn,
            process_run_id=oldest.process_run_id,
            dot_code=KG_STEPS[0][0],
            role=KG_STEPS[0][1],
            at=T0 + seconds(300),
            late_report=True,
        )
    with db.begin() as conn:
        refresh = summaries.refresh_summaries(conn, CATALOG)
        kg = [r for r in _class_rows(conn) if r["candidate_code"] == KG]
    assert refresh.classes == 2
    assert sorted((r["traces"], r["components"]) for r in kg) == [
        (1, len(KG_STEPS) + 1),
        (2, 2 * len(KG_STEPS)),
    ]


@pytest.mark.parametrize("differences", [summaries.MAX_DIFFERENCES, 0])
def test_a_full_pass_repairs_only_the_summaries_it_finds_wrong(
    db, backend, monkeypatch, differences
):
    """A full pass that finds every summary right writes nothing; one that finds some
    wrong, missing or left over writes exactly those (on Postgres: past
    ``MAX_DIFFERENCES``, in the one statement that computes and writes) and groups the
    classes again."""
    monkeypatch.setattr(summaries, "MAX_DIFFERENCES", differences)
    for i in range(4):
        observe(db, at=T0 + seconds(10 * i))
    s = discovery_trace_summary
    with db.begin() as conn:
        assert summaries.refresh_summaries(conn, CATALOG).full  # the first build
        right = (_summary_rows(conn), _class_rows(conn))
    with db.begin() as conn:
        refresh = summaries.refresh_summaries(conn, CATALOG, full=True)
        assert (_summary_rows(conn), _class_rows(conn)) == right
    if backend == "postgresql" and differences:
        assert (refresh.summaries, refresh.classes) == (0, 0)
    with db.begin() as conn:  # one summary wrong, one missing, one of a trace never run
        first, second, third = conn.execute(sa.select(s).order_by(s.c.trace_id).limit(3)).all()
        conn.execute(s.update().where(s.c.trace_id == first.trace_id).values(completed=0))
        conn.execute(s.delete().where(s.c.trace_id == second.trace_id))
        conn.execute(s.insert().values(**{**third._asdict(), "trace_id": uuid.uuid4()}))
    with db.begin() as conn:
        refresh = summaries.refresh_summaries(conn, CATALOG, full=True)
        assert (_summary_rows(conn), _class_rows(conn)) == right
    if backend == "postgresql":
        assert refresh.summaries == 3


def test_a_full_pass_repairs_the_classes_when_every_summary_is_right(db, backend):
    """The summaries right but a class wrong and one left over, then every class gone: a
    full pass writes no summary and (on Postgres) rewrites exactly the classes that
    differ; on SQLite it groups them all again."""
    for i in range(4):
        observe(db, at=T0 + seconds(10 * i))
    c = discovery_trace_class
    with db.begin() as conn:
        summaries.refresh_summaries(conn, CATALOG)  # the first build
        right = (_summary_rows(conn), _class_rows(conn))
        count = len(right[1])
        check = summaries.refresh_summaries(conn, CATALOG, full=True)
    # SQLite rewrites every summary and class in a full pass; Postgres only what differs.
    postgres = backend == "postgresql"
    assert not postgres or (check.summaries, check.classes) == (0, 0)
    with db.begin() as conn:
        first = conn.execute(sa.select(c).order_by(c.c.class_key).limit(1)).one()
        conn.execute(c.update().where(c.c.class_key == first.class_key).values(traces=99))
        conn.execute(c.insert().values(**{**first._asdict(), "class_key": "0" * 64}))
    with db.begin() as conn:
        refresh = summaries.refresh_summaries(conn, CATALOG, full=True)
        assert not postgres or (refresh.summaries, refresh.classes) == (0, 2)
        assert (_summary_rows(conn), _class_rows(conn)) == right
    with db.begin() as conn:
        conn.execute(c.delete())
    with db.begin() as conn:
        refresh = summaries.refresh_summaries(conn, CATALOG, full=True)
        assert refresh.classes == count
        assert not postgres or refresh.summaries == 0
        assert (_summary_rows(conn), _class_rows(conn)) == right
