"""The ledger counts the dashboards and the demo show."""

import datetime as dt

from procobs_dagster import ledger
from procobs_dagster.ledger import summary


def test_an_empty_ledger_counts_nothing(db):
    with db.read() as conn:
        runs, components = summary.run_summary(conn), summary.component_summary(conn)
    assert (runs.runs, runs.real_runs, runs.dry_runs, runs.by_candidate) == (0, 0, 0, [])
    assert runs.newest_real_run_at is None
    assert (components.components, components.with_evidence, components.by_dot_code) == (0, 0, {})


def test_runs_are_counted_by_status_and_candidate_with_dry_runs_apart(db):
    with db.begin() as conn:
        real, _ = ledger.start_run(conn, candidate_code="PROC-CAND:a")
        step, _ = ledger.record_component(
            conn, process_run_id=real.process_run_id, dot_code="DOT_A", role="producer"
        )
        ledger.transition_component(conn, step.component_run_id, "completed", evidence={"n": 1})
        ledger.finish_run(conn, real.process_run_id)
        open_run, _ = ledger.start_run(conn, candidate_code="PROC-CAND:a")
        ledger.record_component(conn, process_run_id=open_run.process_run_id, dot_code="DOT_B")
        ledger.start_run(conn, candidate_code="PROC-CAND:b", dry_run=True)
    with db.read() as conn:
        runs, components = summary.run_summary(conn), summary.component_summary(conn)
        by_status = summary.runs_by_status(conn)
    assert (
        by_status
        == runs.by_status
        == {
            ("completed", False): 1,
            ("started", False): 1,
            ("started", True): 1,
        }
    )
    assert (runs.runs, runs.real_runs, runs.dry_runs) == (3, 2, 1)
    assert (runs.real_runs_in("completed"), runs.real_runs_in("started")) == (1, 1)
    assert runs.real_runs_in("failed") == 0
    # The dry run was recorded last, but it proves wiring, not activity.
    assert runs.newest_real_run_at == open_run.created_at
    assert [
        (c.candidate_code, c.real_runs, c.completed, c.dry_runs) for c in runs.by_candidate
    ] == [
        ("PROC-CAND:a", 2, 1, 0),
        ("PROC-CAND:b", 0, 0, 1),
    ]
    assert all(c.last_started is not None for c in runs.by_candidate)
    assert components.components == 2 and components.with_evidence == 1
    assert components.by_status == {("completed", "producer"): 1, ("started", None): 1}
    assert components.by_dot_code == {("DOT_A", "completed"): 1, ("DOT_B", "started"): 1}


def test_a_run_dated_in_the_future_is_not_the_newest(db):
    now = dt.datetime.now(dt.UTC)
    with db.begin() as conn:
        past, _ = ledger.start_run(
            conn, candidate_code="PROC-CAND:a", at=now - dt.timedelta(days=1)
        )
        skewed, _ = ledger.start_run(
            conn, candidate_code="PROC-CAND:a", at=now + dt.timedelta(minutes=1)
        )
        ledger.start_run(conn, candidate_code="PROC-CAND:a", at=now + dt.timedelta(days=365))
    with db.read() as conn:
        runs = summary.run_summary(conn)
        assert summary.newest_real_run_at(conn, now) == skewed.created_at  # within the skew
        assert summary.newest_real_run_at(conn, now - dt.timedelta(hours=1)) == past.created_at
    assert runs.newest_real_run_at == skewed.created_at
    assert runs.real_runs_from_the_future == 1
