"""The DOT execution wrapper: ledger rows, transitions and gated process.* events."""

import contextvars
import threading

import pytest
import sqlalchemy as sa

from procobs_dagster import ledger
from procobs_dagster.errors import IllegalTransition, InvalidInput
from procobs_dagster.events import activation, runtime
from procobs_dagster.ledger import observe, propagation, tracking
from procobs_dagster.store.tables import audit_log
from procobs_dagster_tests.events.helpers import outbox_rows, set_active

CANDIDATE = "PROC-CAND:dot:test"
UPDATE_STREAM = (
    "process.run.started",
    "process.run.completed",
    "process.step.started",
    "process.step.completed",
)


class Boom(Exception):
    pass


def _full_run(db):
    """A producer that calls its verifier: the verifier joins the producer's run."""

    @ledger.observed("DOT_TEST_VALIDATE", role="verifier", db=db)
    def validate(rows):
        ledger.current_step().touched(len(rows))
        return {"accepted": len(rows)}

    @ledger.observed("DOT_TEST_EXTRACT", role="producer", db=db)
    def extract():
        rows = ["a", "b", "c"]
        ledger.current_step().touched(len(rows))
        validate(rows)
        return rows

    with ledger.observe_run(db, CANDIDATE, input_ref="sample") as run:
        extract()
    return run


def _components(db, run_id):
    with db.read() as conn:
        return ledger.components_of(conn, run_id)


def _history(db, run_id, subject_id):
    with db.read() as conn:
        history = ledger.history_of(conn, run_id)
    return [h.to_status for h in history if h.subject_id == subject_id]


def _audit_count(db) -> int:
    with db.read() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(audit_log)).scalar_one()


def _activate(db, *event_types, approver="owner"):
    with db.read() as conn:
        packet = activation.stage(conn, list(event_types))
    with db.begin() as conn:
        activation.apply(conn, packet, approved_by=approver)


def test_with_all_types_inactive_a_full_run_writes_no_event_but_names_the_codes(db):
    scope = _full_run(db)
    assert outbox_rows(db) == [] and _audit_count(db) == 0
    with db.read() as conn:
        run = ledger.get_run(conn, scope.process_run_id)
    assert run.status == "completed" and run.source_system == "dot_runtime"
    assert run.started_at is not None and run.ended_at is not None
    components = _components(db, run.process_run_id)
    assert [c.dot_code for c in components] == ["DOT_TEST_EXTRACT", "DOT_TEST_VALIDATE"]
    assert {c.event_code for c in components} == {"process.step.completed"}
    assert {c.correlation_id for c in components} == {run.correlation_id}
    for component in components:
        assert component.status == "completed"
        assert _history(db, run.process_run_id, component.component_run_id) == [
            "started",
            "step_started",
            "step_completed",
            "completed",
        ]
    extract, validate = components
    assert extract.evidence_ref["rows_touched"] == 3
    assert extract.evidence_ref["output_sha256"] == observe.digest(["a", "b", "c"])
    assert validate.evidence_ref == {
        "rows_touched": 3,
        "output_sha256": observe.digest({"accepted": 3}),
    }
    assert _history(db, run.process_run_id, run.process_run_id) == [
        "started",
        "step_started",
        "step_completed",
        "completed",
    ]


def test_after_activating_the_update_stream_exactly_its_events_appear(db):
    _activate(db, *UPDATE_STREAM)
    scope = _full_run(db)
    rows = outbox_rows(db)
    assert [r["event_type"] for r in rows] == [
        "process.run.started",
        "process.step.started",
        "process.step.started",
        "process.step.completed",
        "process.step.completed",
        "process.run.completed",
    ]
    assert {r["correlation_id"] for r in rows} == {scope.correlation_id}
    assert {r["process_run_id"] for r in rows} == {scope.process_run_id}
    step_done = rows[3]["safe_payload"]
    assert step_done["dot_code"] == "DOT_TEST_VALIDATE"
    assert step_done["status"] == "step_completed" and step_done["evidence_type"] == "RUNTIME"
    # One audit row per emitted event, plus the approval itself.
    assert _audit_count(db) == len(rows) + 1


def test_rolling_back_the_ledger_write_leaves_no_outbox_row(db):
    _activate(db, *UPDATE_STREAM)
    with pytest.raises(Boom), db.begin() as conn:
        started = tracking.open_run(conn, candidate_code=CANDIDATE)
        tracking.open_step(conn, started.run.process_run_id, dot_code="DOT_X")
        assert len(conn.execute(sa.text("SELECT * FROM event_outbox")).all()) == 2
        raise Boom
    assert outbox_rows(db) == []
    with db.read() as conn:
        assert ledger.list_runs(conn) == []


def test_emission_off_writes_no_event_even_for_active_types(db):
    _activate(db, *UPDATE_STREAM)
    with db.begin() as conn:
        runtime.set_emission(conn, False, approved_by="owner")
    _full_run(db)
    assert outbox_rows(db) == []


def test_a_raising_step_fails_with_error_ref_and_the_exception_propagates(db):
    set_active(db, "process.run.failed")
    with pytest.raises(Boom, match="disk on fire"), ledger.observe_run(db, CANDIDATE) as run:
        with run.step("DOT_OK") as ok:
            ok.touched(1)
        with run.step("DOT_BAD"):
            raise Boom("disk on fire\nsecond line")
    with db.read() as conn:
        header = ledger.get_run(conn, run.process_run_id)
    assert header.status == "failed" and header.error_ref == "Boom: disk on fire"
    good, bad = _components(db, run.process_run_id)
    assert good.status == "completed"
    assert bad.status == "failed" and bad.error_ref == "Boom: disk on fire"
    assert _history(db, run.process_run_id, bad.component_run_id) == [
        "started",
        "step_started",
        "failed",
    ]
    assert [r["event_type"] for r in outbox_rows(db)] == ["process.run.failed"]


def test_a_step_judged_orphan_by_a_sweep_meanwhile_still_records_its_outcome(db):
    with ledger.observe_run(db, CANDIDATE) as run, run.step("DOT_SLOW") as step:
        with db.begin() as conn:  # what the orphan sweep does to in-flight work
            ledger.transition_component(conn, step.component_run_id, "orphan")
        step.touched(1)
    (component,) = _components(db, run.process_run_id)
    assert component.status == "completed" and component.evidence_ref == {"rows_touched": 1}
    history = _history(db, run.process_run_id, component.component_run_id)
    assert history == ["started", "step_started", "orphan", "completed"]


def test_dry_run_only_makes_every_run_a_dry_run(db):
    _activate(db, *UPDATE_STREAM, "process.evidence.missing")
    with db.begin() as conn:
        runtime.set_dry_run_only(conn, True, approved_by="owner")
    with ledger.observe_run(db, CANDIDATE) as run, run.step("DOT_DRY") as step:
        assert run.dry_run and step.dry_run
        assert step.env()[propagation.ENV_DRY_RUN] == "1"
    with db.read() as conn:
        header = ledger.get_run(conn, run.process_run_id)
    (component,) = _components(db, run.process_run_id)
    for record in (header, component):
        assert record.source_system == "dry_run" and record.evidence_ref == {"dry_run": True}
    rows = outbox_rows(db)
    assert {r["safe_payload"]["evidence_type"] for r in rows} == {"DRY_RUN"}
    # A dry run proves wiring: its lack of evidence raises no alert.
    assert "process.evidence.missing" not in {r["event_type"] for r in rows}


def test_completing_without_evidence_raises_the_evidence_missing_alert(db):
    set_active(db, "process.evidence.missing")
    with ledger.observe_run(db, CANDIDATE) as run, run.step("DOT_SILENT"):
        pass
    with ledger.observe_run(db, CANDIDATE) as proven, proven.step("DOT_PROVEN") as step:
        step.output(b"bytes")
    rows = outbox_rows(db)
    assert [(r["event_type"], r["subject"]) for r in rows] == [
        (
            "process.evidence.missing",
            f"component/{_components(db, run.process_run_id)[0].component_run_id}",
        ),
        ("process.evidence.missing", f"run/{run.process_run_id}"),
    ]
    assert {r["safe_payload"]["evidence_type"] for r in rows} == {"MISSING"}


def test_a_component_whose_evidence_is_only_the_dry_run_flag_has_none(db):
    """Asked in SQL on Postgres, in Python on SQLite: the same answer."""
    set_active(db, "process.evidence.missing")
    with db.begin() as conn:
        run = tracking.open_run(conn, candidate_code=CANDIDATE).run
        ledger.record_component(
            conn,
            process_run_id=run.process_run_id,
            dot_code="DOT_FLAG",
            evidence={"dry_run": False},
        )
    with db.begin() as conn:
        tracking.close_run(conn, run.process_run_id)
    assert [(r["event_type"], r["subject"]) for r in outbox_rows(db)] == [
        ("process.evidence.missing", f"run/{run.process_run_id}")
    ]


def test_the_header_follows_the_last_step_at_work_only(db):
    """A step ending (failed or completed) while another is at work leaves the header in
    step_started; the last one moves it to step_completed."""
    with db.begin() as conn:
        run = tracking.open_run(conn, candidate_code=CANDIDATE).run
        first = tracking.open_step(conn, run.process_run_id, dot_code="DOT_FIRST").component
        second = tracking.open_step(conn, run.process_run_id, dot_code="DOT_SECOND").component
    with db.begin() as conn:
        tracking.close_step(conn, first.component_run_id, tracking.Outcome(status="failed"))
    with db.begin() as conn:
        assert ledger.get_run(conn, run.process_run_id).status == "step_started"
        tracking.close_step(conn, second.component_run_id, tracking.Outcome(evidence={"n": 1}))
    assert _history(db, run.process_run_id, run.process_run_id) == [
        "started",
        "step_started",
        "step_completed",
    ]
    assert _history(db, run.process_run_id, second.component_run_id) == [
        "started",
        "step_started",
        "step_completed",
        "completed",
    ]


def test_a_step_of_a_run_that_ended_meanwhile_is_refused_and_writes_nothing(db):
    refused = pytest.raises(IllegalTransition, match="takes no new components")
    with refused, ledger.observe_run(db, CANDIDATE) as run:
        with db.begin() as conn:
            tracking.close_run(conn, run.process_run_id, tracking.Outcome(status="cancelled"))
        with run.step("DOT_LATE"):
            pass
    assert _components(db, run.process_run_id) == []
    assert _history(db, run.process_run_id, run.process_run_id) == ["started", "cancelled"]


def test_context_propagation_and_nested_runs(db):
    with ledger.observe_run(db, CANDIDATE) as outer:
        assert ledger.current_run() is outer
        with outer.step("DOT_A") as step:
            assert ledger.current_step() is step and ledger.child_env() == step.env()
            with ledger.observe_run(db, "PROC-CAND:inner") as inner:
                assert ledger.current_run() is inner
            assert ledger.current_run() is outer
    assert ledger.current_run() is None and ledger.child_env() == {}
    with db.read() as conn:
        assert ledger.get_run(conn, inner.process_run_id).parent_run_id == outer.process_run_id


def test_a_step_outside_any_run_needs_a_candidate_or_opens_its_own_run(db):
    with pytest.raises(InvalidInput, match="outside any run"), ledger.observe_step("DOT_X", db=db):
        pass
    with ledger.observe_step("DOT_X", db=db, candidate=CANDIDATE) as step:
        pass
    with db.read() as conn:
        run = ledger.get_run(conn, step.process_run_id)
    assert run.status == "completed" and run.process_candidate_code == CANDIDATE


def test_an_idempotency_key_takes_over_an_open_run_and_refuses_an_ended_one(db):
    with ledger.observe_run(db, CANDIDATE, idempotency_key="batch-1") as first:
        first.touched(1)
    with (
        pytest.raises(IllegalTransition, match="already ended completed"),
        ledger.observe_run(db, CANDIDATE, idempotency_key="batch-1"),
    ):
        pass


def test_an_orphan_is_refused_for_a_correlation_that_has_a_run(db):
    with ledger.observe_run(db, CANDIDATE) as run:
        pass
    with pytest.raises(InvalidInput, match="belongs to run"), db.begin() as conn:
        ledger.record_orphan(conn, correlation_id=run.correlation_id)


def test_bad_evidence_and_unknown_event_codes_are_refused(db):
    with (
        pytest.raises(InvalidInput, match="non-negative"),
        ledger.observe_run(db, CANDIDATE) as run,
    ):
        run.touched(-1)
    with (
        pytest.raises(InvalidInput, match="unknown event type"),
        ledger.observe_step("DOT_X", db=db, candidate=CANDIDATE, event_code="process.nope"),
    ):
        pass


def test_a_coroutine_function_is_observed_too(db):
    import asyncio

    @ledger.observed("DOT_ASYNC", candidate=CANDIDATE, db=db)
    async def fetch():
        await asyncio.sleep(0)
        return "payload"

    assert asyncio.run(fetch()) == "payload"
    with db.read() as conn:
        (run,) = ledger.list_runs(conn)
    (component,) = _components(db, run.process_run_id)
    assert component.evidence_ref == {"output_sha256": observe.digest("payload")}


def test_concurrent_steps_of_one_run_all_land(db):
    """Steps opened at once from several threads neither deadlock nor get lost."""
    failures = []

    def worker(n):
        try:
            for _ in range(6):
                with ledger.observe_step(f"DOT_PARALLEL_{n}") as step:
                    step.touched(1)
        except Exception as exc:
            failures.append(exc)

    with ledger.observe_run(db, CANDIDATE) as run:
        threads = [
            threading.Thread(target=contextvars.copy_context().run, args=(worker, n))
            for n in range(4)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert failures == []
    steps = _components(db, run.process_run_id)
    assert len(steps) == 24 and {s.status for s in steps} == {"completed"}
    with db.read() as conn:
        assert ledger.get_run(conn, run.process_run_id).status == "completed"


def test_a_step_left_open_does_not_block_its_run_from_completing(db):
    with db.begin() as conn:
        run = tracking.open_run(conn, candidate_code=CANDIDATE).run
        tracking.open_step(conn, run.process_run_id, dot_code="DOT_ABANDONED")
    with db.begin() as conn:
        closed = tracking.close_run(conn, run.process_run_id)
    assert closed.status == "completed"
    assert _history(db, run.process_run_id, run.process_run_id) == [
        "started",
        "step_started",
        "step_completed",
        "completed",
    ]
    with db.begin() as conn, pytest.raises(IllegalTransition):
        tracking.close_run(conn, run.process_run_id, tracking.Outcome(status="failed"))
