"""The ledger integrity checks: each passes on sound data and names the rows that break it.
The newest-run check warns once no real run is recent.

Several rules are also CHECK constraints; to plant a violation (as a restore or a hand
edit could) the test lifts the constraint first.
"""

import datetime as dt

import dagster as dg
import pytest
import sqlalchemy as sa

from procobs_dagster import ledger
from procobs_dagster.clock import utcnow
from procobs_dagster.defs.automation import NEWEST_RUN_HOURS
from procobs_dagster.demo.pipeline import observe_kg_run
from procobs_dagster.ids import uuid7
from procobs_dagster.store.tables import process_component_observation as components
from procobs_dagster.store.tables import process_run_observation as runs

LEDGER_CHECKS = {
    "components_share_run_correlation",
    "no_anonymous_components",
    "terminal_runs_have_ended_at",
    "completed_real_runs_have_evidence",
}


def lift_constraint(conn, table: sa.Table, constraint: str) -> None:
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(
            f"ALTER TABLE {table.name} DROP CONSTRAINT ck_{table.name}_{constraint}"
        )
    else:
        conn.exec_driver_sql("PRAGMA ignore_check_constraints = ON")


def evaluate_checks(defs, instance) -> dict[str, dg.AssetCheckEvaluation]:
    """Run the ledger checks (alone) through the code location's asset job."""
    keys = {k for k in defs.resolve_asset_graph().asset_check_keys if k.name in LEDGER_CHECKS}
    job = defs.resolve_implicit_global_asset_job_def()
    result = job.get_subset(asset_selection=set(), asset_check_selection=keys).execute_in_process(
        instance=instance
    )
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert set(evaluations) == LEDGER_CHECKS
    return evaluations


def assert_only_failing(evaluations, name: str, offender) -> None:
    failed = {n for n in LEDGER_CHECKS if not evaluations[n].passed}
    assert failed == {name}
    evaluation = evaluations[name]
    assert evaluation.severity == dg.AssetCheckSeverity.ERROR
    assert evaluation.metadata["violations"].value == 1
    assert str(offender) in evaluation.metadata["first_offenders"].value


def test_sound_ledger_passes_every_check(db, defs, instance):
    observe_kg_run(db)
    evaluations = evaluate_checks(defs, instance)
    assert all(evaluations[name].passed for name in LEDGER_CHECKS)
    assert evaluations["components_share_run_correlation"].metadata["violations"].value == 0


def test_component_with_another_correlation_is_named(db, defs, instance):
    run = observe_kg_run(db)
    with db.begin() as conn:
        stray = ledger.components_of(conn, run.process_run_id)[0].component_run_id
        conn.execute(
            components.update()
            .where(components.c.component_run_id == stray)
            .values(correlation_id="someone-else")
        )
    assert_only_failing(evaluate_checks(defs, instance), "components_share_run_correlation", stray)


def test_anonymous_component_is_named(db, defs, instance):
    anonymous = uuid7()
    with db.begin() as conn:
        lift_constraint(conn, components, "not_anonymous")
        conn.execute(
            components.insert().values(
                component_run_id=anonymous,
                correlation_id="nobody",
                status="started",
                source_system="dot_runtime",
            )
        )
    assert_only_failing(evaluate_checks(defs, instance), "no_anonymous_components", anonymous)


def test_terminal_run_without_ended_at_is_named(db, defs, instance):
    with db.begin() as conn:
        run, _ = ledger.start_run(conn, candidate_code="PROC-CAND:dot:kg", evidence={"rows": 1})
        lift_constraint(conn, runs, "ended_at_iff_terminal")
        conn.execute(
            runs.update()
            .where(runs.c.process_run_id == run.process_run_id)
            .values(status="failed", ended_at=None)
        )
    assert_only_failing(
        evaluate_checks(defs, instance), "terminal_runs_have_ended_at", run.process_run_id
    )


@pytest.mark.parametrize("evidence", [None, {}], ids=["no-evidence", "empty-evidence"])
def test_completed_real_run_without_evidence_is_named(db, defs, instance, evidence):
    with db.begin() as conn:
        run, _ = ledger.start_run(conn, candidate_code="PROC-CAND:dot:kg", evidence=evidence)
        ledger.finish_run(conn, run.process_run_id)
        # A dry run proves nothing, so it is not expected to carry evidence.
        dry, _ = ledger.start_run(conn, candidate_code="PROC-CAND:dot:kg", dry_run=True)
        ledger.finish_run(conn, dry.process_run_id)
    assert_only_failing(
        evaluate_checks(defs, instance), "completed_real_runs_have_evidence", run.process_run_id
    )


def newest_run_check(defs, instance) -> dg.AssetCheckEvaluation:
    job = defs.resolve_implicit_global_asset_job_def()
    key = dg.AssetCheckKey(dg.AssetKey("process_run_observation"), "newest_run_within_window")
    result = job.get_subset(asset_selection=set(), asset_check_selection={key}).execute_in_process(
        instance=instance
    )
    (evaluation,) = result.get_asset_check_evaluations()
    return evaluation


def test_newest_run_check_warns_once_no_real_run_is_recent(db, defs, instance):
    window = dt.timedelta(hours=NEWEST_RUN_HOURS)
    with db.begin() as conn:
        ledger.start_run(conn, candidate_code="PROC-CAND:a", at=utcnow() - 2 * window)
        # A dry run proves wiring, not that anything is being observed.
        ledger.start_run(conn, candidate_code="PROC-CAND:a", dry_run=True)
    stale = newest_run_check(defs, instance)
    assert (stale.passed, stale.severity) == (False, dg.AssetCheckSeverity.WARN)
    assert stale.description.startswith("the newest real run is ")
    age = stale.metadata["newest_real_run_age_seconds"].value
    assert 2 * window.total_seconds() <= age < 2 * window.total_seconds() + 600
    assert stale.metadata["window_seconds"].value == window.total_seconds()

    observe_kg_run(db)
    fresh = newest_run_check(defs, instance)
    assert fresh.passed
    assert fresh.metadata["newest_real_run_age_seconds"].value < 600


def test_a_run_dated_in_the_future_does_not_keep_the_newest_run_check_green(db, defs, instance):
    """The probe's V3: one run ingested with a far-future time made the newest run's age
    negative, and the check passed for as long as that time lay ahead."""
    window = dt.timedelta(hours=NEWEST_RUN_HOURS)
    with db.begin() as conn:
        ledger.start_run(conn, candidate_code="PROC-CAND:a", at=utcnow() - 2 * window)
        ledger.start_run(
            conn, candidate_code="PROC-CAND:b", at=dt.datetime(2999, 12, 31, tzinfo=dt.UTC)
        )
    stale = newest_run_check(defs, instance)
    assert (stale.passed, stale.severity) == (False, dg.AssetCheckSeverity.WARN)
    assert stale.metadata["newest_real_run_age_seconds"].value >= 2 * window.total_seconds()
    assert stale.metadata["real_runs_from_the_future"].value == 1
