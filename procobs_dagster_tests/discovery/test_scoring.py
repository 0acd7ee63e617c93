"""The gate at its edges, the continuous scores, and what a user reads as the reason."""

import uuid

import pytest
import sqlalchemy as sa

from procobs_dagster import discovery, ledger
from procobs_dagster.errors import UnknownCandidate
from procobs_dagster.ids import uuid7
from procobs_dagster.store.tables import (
    discovery_score,
    process_component_observation,
)
from procobs_dagster_tests.discovery.helpers import (
    CATALOG,
    CUT,
    KG,
    T0,
    backfill_last_executed,
    enqueue,
    observe,
    score,
    scores,
    seconds,
)


def insert_verifier_row(db, run, *, correlation_id=None, evidence=None):
    """A completed verifier row written straight into the table, bypassing the ledger's
    checks, so a test can give it what the ledger would refuse or normalise."""
    with db.begin() as conn:
        conn.execute(
            process_component_observation.insert(),
            {
                "component_run_id": uuid7(),
                "process_run_id": run.process_run_id,
                "correlation_id": correlation_id or run.correlation_id,
                "dot_code": "DOT_KG_VALIDATE",
                "component_role": "verifier",
                "status": "completed",
                "source_system": "dot_runtime",
                "evidence_ref": evidence,
                "started_at": T0 + seconds(3),
                "ended_at": T0 + seconds(4),
                "created_at": T0 + seconds(3),
            },
        )


def test_a_completed_run_of_two_components_verifies(db):
    run = observe(db)
    result = score(db)
    assert result.status == "verified_candidate"
    assert result.proving_run_id == run.process_run_id
    assert result.proof_source == "process_run_observation"
    assert (result.support, result.completed_runs, result.verified_runs) == (1, 1, 1)
    assert result.best_trace.checks == {
        "completed": True,
        "two_components": True,
        "timestamps": True,
    }
    assert f"run {run.process_run_id}" in result.explanation
    assert "2 components share its correlation_id" in result.explanation


def test_one_component_only_is_observed(db):
    run = observe(db, steps=[("DOT_KG_EXTRACT", "producer")])
    result = score(db)
    assert result.status == "observed" and result.proving_run_id is None
    assert result.best_trace.run_id == run.process_run_id
    assert result.best_trace.missing == (
        f"only 1 component shares correlation_id {run.correlation_id} (needs ≥2)",
    )
    assert result.failures == {
        "not_completed": 0,
        "fewer_than_two_components": 1,
        "timestamps_missing": 0,
    }
    assert "none meets the bar" in result.explanation


def test_components_under_another_correlation_do_not_count(db):
    """The bar counts components sharing the run's correlation_id, not its foreign key:
    a second component filed under the run but with another correlation is not stitched."""
    run = observe(db, steps=[("DOT_KG_EXTRACT", "producer")])
    insert_verifier_row(db, run, correlation_id="another-correlation", evidence={"rows_touched": 1})
    result = score(db)
    assert result.status == "observed"
    assert result.best_trace.steps == 1
    assert f"shares correlation_id {run.correlation_id}" in result.best_trace.missing[0]


def test_a_run_that_is_not_completed_is_observed(db):
    running = observe(db, finish=None, at=T0)
    failed = observe(db, finish="failed", at=T0 + seconds(60))
    result = score(db)
    assert result.status == "observed"
    assert result.failures["not_completed"] == 2
    # Both miss one condition; the tie goes to the greater (later UUIDv7) run id.
    assert result.best_trace.run_id == max(running.process_run_id, failed.process_run_id)
    assert result.best_trace.missing == ("header is failed, not completed",)
    assert result.completion_ratio == 0.0


def test_a_completed_header_without_ended_at_cannot_exist(db):
    """The ledger's CHECK makes the bar's third condition hold for every completed run;
    a completed run with started_at unset is the nearest real edge (see the job test)."""
    run = observe(db, finish=None)
    with pytest.raises(sa.exc.IntegrityError), db.begin() as conn:
        conn.execute(
            sa.text(
                "UPDATE process_run_observation SET status = 'completed' WHERE process_run_id = :id"
            ),
            {"id": run.process_run_id.hex if db.dialect == "sqlite" else run.process_run_id},
        )


def test_the_same_run_as_a_dry_run_is_only_wired(db):
    run = observe(db, dry_run=True)
    result = score(db)
    assert result.status == "wired"
    assert (result.support, result.dry_runs, result.verified_runs) == (0, 1, 0)
    assert result.best_trace.run_id == run.process_run_id and result.best_trace.dry_run
    assert "a dry run proves the wiring, never the process" in result.explanation
    assert result.variants == () and result.directly_follows == ()


def test_dry_components_never_count_for_a_real_run(db):
    run = observe(db, steps=[])
    with db.begin() as conn:
        for i, dot in enumerate(("DOT_KG_EXTRACT", "DOT_KG_VALIDATE")):
            conn.execute(
                process_component_observation.insert(),
                {
                    "component_run_id": uuid7(),
                    "process_run_id": None,
                    "standalone": True,
                    "correlation_id": run.correlation_id,
                    "dot_code": dot,
                    "status": "completed",
                    "source_system": "dry_run",
                    "evidence_ref": {"dry_run": True},
                    "started_at": T0 + seconds(i),
                    "ended_at": T0 + seconds(i + 1),
                    "created_at": T0 + seconds(i),
                },
            )
    result = score(db)
    assert result.status == "observed" and result.best_trace.steps == 0


def test_a_real_run_beside_dry_runs_is_what_counts(db):
    observe(db, dry_run=True, at=T0)
    real = observe(db, at=T0 + seconds(60))
    result = score(db)
    assert result.status == "verified_candidate" and result.proving_run_id == real.process_run_id
    assert (result.support, result.dry_runs) == (1, 1)


def test_a_job_backed_candidate_verifies_from_job_queue_rows(db):
    run_id = uuid7()
    enqueue(db, run_id, ("cut.segment", "completed", 1, 2), ("cut.encode", "completed", 3, 4))
    result = score(db, CUT)
    assert result.status == "verified_candidate"
    assert result.proving_run_id == run_id and result.proof_source == "job_queue"
    assert "2 jobs share its run_id" in result.explanation
    assert result.fitness == 1.0 and result.evidence_completeness is None
    assert [(e.source, e.target, e.count) for e in result.directly_follows] == [
        ("cut.segment", "cut.encode", 1)
    ]


def test_a_job_backed_run_with_a_missing_timestamp_is_observed(db):
    run_id = uuid7()
    enqueue(db, run_id, ("cut.segment", "completed", None, 2), ("cut.encode", "completed", 3, 4))
    result = score(db, CUT)
    assert result.status == "observed"
    assert result.best_trace.missing == ("a job lacks started_at or finished_at",)
    assert result.failures["timestamps_missing"] == 1


def test_job_edges_one_row_unfinished_jobs_uncovered_kinds(db):
    enqueue(db, uuid7(), ("cut.segment", "completed", 1, 2))
    enqueue(db, uuid7(), ("cut.segment", "completed", 1, 2), ("cut.encode", "running", 3, None))
    enqueue(db, uuid7(), ("other.kind", "completed", 1, 2), ("other.kind", "completed", 3, 4))
    enqueue(db, None, ("cut.segment", "completed", 1, 2), ("cut.encode", "completed", 3, 4))
    result = score(db, CUT)
    assert result.status == "observed" and result.support == 2
    assert result.failures == {
        "not_completed": 1,
        "fewer_than_two_components": 1,
        "timestamps_missing": 1,
    }
    # The lone completed job misses one condition, the unfinished pair two: it is nearest.
    assert result.best_trace.missing == ("only 1 job_queue row shares its run_id (needs ≥2)",)


def test_a_job_run_also_in_the_ledger_counts_once(db):
    run = observe(db, CUT, steps=[("cut.segment", None), ("cut.encode", None)])
    enqueue(
        db,
        run.process_run_id,
        ("cut.segment", "completed", 1, 2),
        ("cut.encode", "completed", 3, 4),
    )
    result = score(db, CUT)
    assert result.support == 1 and result.proof_source == "process_run_observation"


def test_last_executed_without_runs_is_runtime_missing(db):
    backfill_last_executed(db, KG, T0)
    result = score(db)
    assert result.status == "runtime_missing" and result.last_executed == T0
    assert result.last_seen_at is None and result.support == 0
    assert "is a backfill, never runtime evidence" in result.explanation
    declared = CATALOG.model_copy(
        update={"candidates": (CATALOG.candidates[1].model_copy(update={"last_executed": T0}),)}
    )
    assert "no job_queue run of its job kinds" in score(db, CUT, declared).explanation


def test_fitness_evidence_variants_and_directly_follows(db):
    observe(db, at=T0)  # fits
    observe(
        db,
        steps=list(reversed([("DOT_KG_EXTRACT", "producer"), ("DOT_KG_VALIDATE", "verifier")])),
        at=T0 + seconds(60),
    )
    observe(db, steps=[("DOT_KG_EXTRACT", "producer")], at=T0 + seconds(120), evidence={})
    result = score(db)
    assert result.support == 3 and result.fitting_runs == 1
    assert result.fitness == pytest.approx(1 / 3)
    assert result.evidence_completeness == pytest.approx(4 / 5)
    assert [(v.steps, v.count, v.fits) for v in result.variants] == [
        (("DOT_KG_EXTRACT",), 1, False),
        (("DOT_KG_EXTRACT", "DOT_KG_VALIDATE"), 1, True),
        (("DOT_KG_VALIDATE", "DOT_KG_EXTRACT"), 1, False),
    ]
    assert [(e.source, e.target, e.count) for e in result.directly_follows] == [
        ("DOT_KG_EXTRACT", "DOT_KG_VALIDATE", 1),
        ("DOT_KG_VALIDATE", "DOT_KG_EXTRACT", 1),
    ]
    assert result.last_seen_at == T0 + seconds(120 + 2)


@pytest.mark.parametrize(
    "evidence, counts",
    [
        ({"rows_touched": 1}, True),
        ({"nested": {}}, True),
        ({}, False),
        ([], False),
        (["rows_touched"], False),
        ("rows_touched", False),
        (0, False),
        (None, False),
    ],
)
def test_only_a_non_empty_evidence_object_is_evidence(db, evidence, counts):
    run = observe(db, steps=[("DOT_KG_EXTRACT", "producer")])
    insert_verifier_row(db, run, evidence=evidence)
    # The helper's own component carries {"rows_touched": 1}.
    assert score(db).evidence_completeness == (2 / 2 if counts else 1 / 2)


def test_steps_are_ordered_by_started_at_not_by_recording(db):
    with db.begin() as conn:
        run, _ = ledger.start_run(conn, candidate_code=KG, at=T0)
        late, _ = ledger.record_component(
            conn,
            process_run_id=run.process_run_id,
            dot_code="DOT_KG_VALIDATE",
            status="observed",
            at=T0 + seconds(1),
        )
        ledger.record_component(
            conn, process_run_id=run.process_run_id, dot_code="DOT_KG_EXTRACT", at=T0 + seconds(2)
        )
        ledger.transition_component(conn, late.component_run_id, "started", at=T0 + seconds(3))
    assert score(db).variants[0].steps == ("DOT_KG_EXTRACT", "DOT_KG_VALIDATE")


def test_discovered_candidates_are_scored_without_fitness(db):
    observe(db, "PROC-CAND:dot:adhoc")
    result = scores(db)["PROC-CAND:dot:adhoc"]
    assert not result.declared and result.status == "verified_candidate"
    assert result.fitness is None and result.variants[0].fits is None
    assert set(scores(db)) == {KG, CUT, "PROC-CAND:dot:adhoc"}


def test_an_unknown_candidate_is_refused(db):
    with (
        pytest.raises(UnknownCandidate, match="unknown candidate 'PROC-CAND:dot:nope'"),
        db.read() as conn,
    ):
        discovery.score_of(conn, CATALOG, "PROC-CAND:dot:nope")


@pytest.mark.parametrize(
    ("status", "support", "dry_runs", "verified_runs", "proof"),
    [
        pytest.param("verified_candidate", 1, 0, 0, True, id="verified-without-a-verified-run"),
        pytest.param("observed", 0, 1, 0, False, id="observed-from-dry-runs"),
        pytest.param("wired", 1, 1, 0, False, id="wired-with-real-runs"),
        pytest.param("runtime_missing", 0, 1, 0, False, id="missing-with-dry-runs"),
        pytest.param("observed", 1, 0, 0, True, id="proof-without-verdict"),
    ],
)
def test_the_database_refuses_a_verdict_its_counts_do_not_support(
    db, status, support, dry_runs, verified_runs, proof
):
    with pytest.raises(sa.exc.IntegrityError), db.begin() as conn:
        conn.execute(
            discovery_score.insert(),
            {
                "computed_at": T0,
                "candidate_code": KG,
                "declared": True,
                "status": status,
                "support": support,
                "dry_runs": dry_runs,
                "completed_runs": verified_runs,
                "verified_runs": verified_runs,
                "fitting_runs": 0,
                "proving_run_id": uuid.uuid4() if proof else None,
                "proof_source": "process_run_observation" if proof else None,
                "explanation": "forged",
                "evidence": {},
                "directly_follows": [],
            },
        )


def test_variants_follow_step_order_whatever_order_rows_were_written_in(db):
    """Several runs whose components were written newest-first: each variant still lists
    its steps by started_at, on both databases (Postgres aggregates a sorted input)."""
    codes = [f"DOT_S{i}" for i in range(5)]
    for n in range(3):
        with db.begin() as conn:
            run, _ = ledger.start_run(conn, candidate_code="PROC-CAND:dot:order", at=T0)
            for i in reversed(range(5)):
                ledger.record_component(
                    conn,
                    process_run_id=run.process_run_id,
                    dot_code=codes[i],
                    component_run_id=uuid7(),
                    at=T0 + seconds(10 * n + i + 1),
                )
    [variant] = scores(db)["PROC-CAND:dot:order"].variants
    assert variant.steps == tuple(codes) and variant.count == 3
