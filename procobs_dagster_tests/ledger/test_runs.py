import datetime as dt
import uuid

import pytest
import sqlalchemy as sa

from procobs_dagster import ledger
from procobs_dagster.errors import (
    CorrelationMismatch,
    IllegalTransition,
    InvalidInput,
    LostRace,
    UnknownRun,
    UnknownStatus,
)
from procobs_dagster.ids import uuid7
from procobs_dagster.store.tables import (
    process_component_observation,
    process_run_observation,
    process_status_history,
)

CANDIDATE = "PROC-CAND:dot:kg"


def _counts(db) -> tuple[int, int, int]:
    with db.read() as conn:
        return tuple(
            conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
            for t in (
                process_run_observation,
                process_component_observation,
                process_status_history,
            )
        )


def test_two_component_run_happy_path(db):
    with db.begin() as conn:
        run, created = ledger.start_run(conn, candidate_code=CANDIDATE, input_ref="s3://in")
        producer, _ = ledger.record_component(
            conn, process_run_id=run.process_run_id, dot_code="DOT_KG_EXTRACT", role="producer"
        )
        verifier, _ = ledger.record_component(
            conn, process_run_id=run.process_run_id, dot_code="DOT_KG_VALIDATE", role="verifier"
        )
        for component in (producer, verifier):
            ledger.transition_component(conn, component.component_run_id, "step_started")
            ledger.transition_component(conn, component.component_run_id, "step_completed")
            ledger.transition_component(
                conn, component.component_run_id, "completed", evidence={"rows": 2}
            )
        finished = ledger.finish_run(conn, run.process_run_id, output_ref="s3://out")
    assert created
    assert finished.status == "completed" and finished.ended_at >= finished.started_at
    assert finished.output_ref == "s3://out"
    with db.read() as conn:
        components = ledger.components_of(conn, run.process_run_id)
    assert {c.correlation_id for c in components} == {run.correlation_id}
    assert [c.evidence_ref for c in components] == [{"rows": 2}, {"rows": 2}]


def test_caller_minted_run_id_and_correlation_are_kept(db):
    run_id = uuid7()
    with db.begin() as conn:
        run, _ = ledger.start_run(
            conn, candidate_code=CANDIDATE, process_run_id=str(run_id), correlation_id="corr-9"
        )
    assert run.process_run_id == run_id and run.correlation_id == "corr-9"


def test_same_idempotency_key_returns_the_first_run(db):
    with db.begin() as conn:
        first, created_first = ledger.start_run(conn, candidate_code=CANDIDATE, idempotency_key="k")
    with db.begin() as conn:
        second, created_second = ledger.start_run(conn, candidate_code="other", idempotency_key="k")
    assert created_first and not created_second
    assert second.process_run_id == first.process_run_id
    assert _counts(db)[0] == 1


def test_duplicate_run_id_without_key_is_refused(db):
    run_id = uuid.uuid4()
    with db.begin() as conn:
        ledger.start_run(conn, candidate_code=CANDIDATE, process_run_id=run_id)
    with pytest.raises(InvalidInput, match="already exists"), db.begin() as conn:
        ledger.start_run(conn, candidate_code=CANDIDATE, process_run_id=run_id)


def test_component_correlation_must_match_its_run(db):
    with db.begin() as conn:
        run, _ = ledger.start_run(conn, candidate_code=CANDIDATE, correlation_id="corr-a")
    before = _counts(db)
    with pytest.raises(CorrelationMismatch, match="corr-b"), db.begin() as conn:
        ledger.record_component(conn, process_run_id=run.process_run_id, correlation_id="corr-b")
    assert _counts(db) == before


def test_components_inherit_correlation_and_dry_run(db):
    with db.begin() as conn:
        run, _ = ledger.start_run(conn, candidate_code=CANDIDATE, dry_run=True)
        component, _ = ledger.record_component(conn, process_run_id=run.process_run_id)
    assert run.source_system == "dry_run" and run.evidence_ref == {"dry_run": True}
    assert component.correlation_id == run.correlation_id
    assert component.dry_run and component.evidence_ref == {"dry_run": True}


def test_real_run_cannot_claim_to_be_a_dry_run(db):
    with pytest.raises(InvalidInput, match="dry_run"), db.begin() as conn:
        ledger.start_run(conn, candidate_code=CANDIDATE, evidence={"dry_run": True})
    with db.begin() as conn:
        run, _ = ledger.start_run(conn, candidate_code=CANDIDATE)
    with pytest.raises(InvalidInput, match="dry run"), db.begin() as conn:
        ledger.finish_run(conn, run.process_run_id, evidence={"dry_run": True})
    with pytest.raises(InvalidInput, match="contradicts"), db.begin() as conn:
        ledger.record_component(conn, process_run_id=run.process_run_id, source_system="dry_run")


def test_standalone_components_only_when_marked(db):
    with pytest.raises(InvalidInput, match="standalone"), db.begin() as conn:
        ledger.record_component(conn, dot_code="DOT_X")
    with db.begin() as conn:
        component, _ = ledger.record_component(conn, standalone=True, dot_code="DOT_X")
        run, _ = ledger.start_run(conn, candidate_code=CANDIDATE)
    assert component.standalone and component.process_run_id is None
    with pytest.raises(InvalidInput, match="standalone"), db.begin() as conn:
        ledger.record_component(conn, standalone=True, process_run_id=run.process_run_id)


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda c: ledger.get_run(c, "not-a-uuid"), InvalidInput, "malformed process_run_id"),
        (lambda c: ledger.get_run(c, uuid.uuid4()), UnknownRun, "unknown run"),
        (
            lambda c: ledger.record_component(c, process_run_id=uuid.uuid4()),
            UnknownRun,
            "unknown run",
        ),
        (
            lambda c: ledger.start_run(c, candidate_code=CANDIDATE, parent_run_id=uuid.uuid4()),
            UnknownRun,
            "unknown run",
        ),
        (
            lambda c: ledger.start_run(c, candidate_code=CANDIDATE, status="completed"),
            InvalidInput,
            "starts as",
        ),
        (
            lambda c: ledger.start_run(c, candidate_code=CANDIDATE, source_system="cron"),
            InvalidInput,
            "source_system",
        ),
        (lambda c: ledger.start_run(c, candidate_code=""), InvalidInput, "candidate_code"),
        (lambda c: ledger.list_runs(c, status="running"), UnknownStatus, "unknown status"),
        (lambda c: ledger.record_component(c, standalone=True, role="boss"), InvalidInput, "role"),
        (
            lambda c: ledger.start_run(c, candidate_code=CANDIDATE, at=dt.datetime(2026, 1, 1)),
            InvalidInput,
            "timezone-aware",
        ),
    ],
)
def test_bad_input_is_one_clear_error_and_writes_nothing(db, call, error, message):
    with pytest.raises(error, match=message) as caught, db.begin() as conn:
        call(conn)
    assert "\n" not in str(caught.value)
    assert _counts(db) == (0, 0, 0)


def test_illegal_transition_writes_nothing(db):
    with db.begin() as conn:
        run, _ = ledger.start_run(conn, candidate_code=CANDIDATE)
        ledger.finish_run(conn, run.process_run_id, "failed", error_ref="boom")
    before = _counts(db)
    with pytest.raises(IllegalTransition, match="failed is terminal"), db.begin() as conn:
        ledger.transition_run(conn, run.process_run_id, "completed")
    with pytest.raises(UnknownStatus), db.begin() as conn:
        ledger.transition_run(conn, run.process_run_id, "done")
    with pytest.raises(IllegalTransition, match="takes no new components"), db.begin() as conn:
        ledger.record_component(conn, process_run_id=run.process_run_id)
    assert _counts(db) == before


def test_stuck_run_accepts_a_late_real_completion(db):
    with db.begin() as conn:
        run, _ = ledger.start_run(conn, candidate_code=CANDIDATE)
        ledger.transition_run(conn, run.process_run_id, "stuck", reason="sla exceeded")
        late = ledger.finish_run(conn, run.process_run_id, reason="late completion")
        history = ledger.history_of(conn, run.process_run_id)
    assert late.status == "completed" and late.ended_at is not None
    assert [(h.from_status, h.to_status) for h in history] == [
        (None, "started"),
        ("started", "stuck"),
        ("stuck", "completed"),
    ]


def test_expected_status_mismatch_is_a_lost_race(db):
    with db.begin() as conn:
        run, _ = ledger.start_run(conn, candidate_code=CANDIDATE)
        ledger.finish_run(conn, run.process_run_id)
    with pytest.raises(LostRace, match="lost the race"), db.begin() as conn:
        ledger.transition_run(conn, run.process_run_id, "stuck", expect="started")


def test_ended_before_started_is_refused(db):
    start = dt.datetime(2026, 5, 1, tzinfo=dt.UTC)
    with db.begin() as conn:
        run, _ = ledger.start_run(conn, candidate_code=CANDIDATE, at=start)
    with pytest.raises(InvalidInput, match="before started_at"), db.begin() as conn:
        ledger.finish_run(conn, run.process_run_id, at=start - dt.timedelta(seconds=1))


def test_evidence_merges_across_transitions(db):
    with db.begin() as conn:
        run, _ = ledger.start_run(conn, candidate_code=CANDIDATE, evidence={"a": 1})
        ledger.transition_run(conn, run.process_run_id, "step_started", evidence={"b": 2})
        ledger.transition_run(conn, run.process_run_id, "step_completed")
        done = ledger.finish_run(conn, run.process_run_id, evidence={"a": 3})
    assert done.evidence_ref == {"a": 3, "b": 2}


def test_list_runs_filters_and_limits(db):
    with db.begin() as conn:
        for i in range(3):
            run, _ = ledger.start_run(conn, candidate_code=f"C{i % 2}")
        ledger.finish_run(conn, run.process_run_id)
        assert len(ledger.list_runs(conn, limit=2)) == 2
        assert {r.process_candidate_code for r in ledger.list_runs(conn, candidate="C0")} == {"C0"}
        assert [r.status for r in ledger.list_runs(conn, status="completed")] == ["completed"]
