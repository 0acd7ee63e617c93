"""Workflow candidates are held to the same bar as every other: a run of the same shape
scores the same whether a DOT wrapper, an OpenLineage producer or the Dagster runs sensor
reported it; explain, the OCEL export and the discovery_scores asset show them."""

import json

import dagster as dg
import pytest

from procobs_dagster import discovery
from procobs_dagster.defs.discovery.assets import discovery_scores
from procobs_dagster.discovery.catalog import EMPTY_CATALOG
from procobs_dagster.sources import dagster_runs, openlineage, workflow_ledger
from procobs_dagster.sources.dagster_runs import (
    DagsterRun,
    Materialization,
    ProcobsLocation,
    RunChange,
    RunChangeKind,
    StepRecord,
    StepRecordKind,
)
from procobs_dagster_tests.defs.conftest import resource_for
from procobs_dagster_tests.discovery.helpers import T0, observe, seconds
from procobs_dagster_tests.sources.helpers import NS, ol_event, run_id

PROCOBS = ProcobsLocation("procobs_dagster", frozenset())
DAGSTER_CANDIDATE = "PROC-CAND:workflow:dagster/warehouse/nightly_orders"
STEP_NAMES = ("extract", "load")

# (steps run, how the run ends) → the same score whoever reported it.
SHAPES = {
    "two-steps-completed": (STEP_NAMES, "completed"),
    "one-step-completed": (STEP_NAMES[:1], "completed"),
    "two-steps-failed": (STEP_NAMES, "failed"),
}


def dagster_reports(run_key: str, steps, outcome: str) -> list:
    """The reports the sensor makes of one nightly_orders run of location warehouse."""
    run = DagsterRun(run_key, "nightly_orders", "warehouse", "snap")
    end = RunChangeKind.SUCCESS if outcome == "completed" else RunChangeKind.FAILURE
    records = []
    for n, step in enumerate(steps):
        t = 10 * n + 1
        records += [
            StepRecord(3 * n, StepRecordKind.START, step, T0 + seconds(t)),
            StepRecord(
                3 * n + 1,
                StepRecordKind.MATERIALIZATION,
                step,
                T0 + seconds(t + 1),
                materialization=Materialization(f"warehouse/{step}", None, 3),
            ),
            StepRecord(3 * n + 2, StepRecordKind.SUCCESS, step, T0 + seconds(t + 2)),
        ]
    changes = [
        RunChange(1, RunChangeKind.START, T0, run),
        RunChange(2, end, T0 + seconds(100), run, "run ended"),
    ]
    documents = [
        dagster_runs.run_document(changes[0], PROCOBS),
        *dagster_runs.step_documents(run, records),
        dagster_runs.run_document(changes[1], PROCOBS),
    ]
    return [dagster_runs.parse(d) for d in documents]


def openlineage_reports(steps, outcome: str) -> list:
    dag = run_id()
    events = [ol_event("START", dag, "etl", 0, job_type="DAG")]
    for n, step in enumerate(steps):
        task = run_id()
        name, parent = f"etl.{step}", (dag, "etl")
        events += [
            ol_event("START", task, name, 10 * n + 1, parent=parent),
            ol_event(
                "COMPLETE",
                task,
                name,
                10 * n + 3,
                parent=parent,
                outputs={f"public.{step}": {"rowCount": 3}},
            ),
        ]
    events.append(ol_event("COMPLETE" if outcome == "completed" else "FAIL", dag, "etl", 100))
    return [openlineage.parse(e) for e in events]


def recorded(db, source: str, steps, outcome: str) -> str:
    """Record one run of the shape through ``source``; its candidate code."""
    if source == "dot":
        observe(db, "PROC-CAND:dot:etl", [(s, "step") for s in steps], finish=outcome)
        return "PROC-CAND:dot:etl"
    if source == "openlineage":
        reports = openlineage_reports(steps, outcome)
        code = f"PROC-CAND:workflow:{NS}/etl"
    else:
        reports = dagster_reports(run_id(), steps, outcome)
        code = DAGSTER_CANDIDATE
    workflow_ledger.in_transaction(
        db, lambda conn: workflow_ledger.record(conn, reports, catalog=EMPTY_CATALOG)
    )
    return code


def bar(score: discovery.CandidateScore) -> tuple:
    """What the bar says of a candidate, whoever reported its runs."""
    return (
        score.status,
        score.support,
        score.completed_runs,
        score.verified_runs,
        score.failures,
        score.completion_ratio,
        score.evidence_completeness,
        [len(v.steps) for v in score.variants],
    )


@pytest.mark.parametrize("shape", SHAPES)
def test_the_same_run_scores_the_same_from_every_source(db, shape):
    steps, outcome = SHAPES[shape]
    judged = {}
    for source in ("dot", "openlineage", "dagster"):
        code = recorded(db, source, steps, outcome)
        with db.read() as conn:
            judged[source] = bar(discovery.score_of(conn, EMPTY_CATALOG, code))
    assert judged["openlineage"] == judged["dot"] == judged["dagster"]
    expected = "verified_candidate" if shape == "two-steps-completed" else "observed"
    assert judged["dagster"][0] == expected


def declared_catalog() -> discovery.Catalog:
    return discovery.parse_catalog(
        {
            "version": 1,
            "candidates": [
                {
                    "code": "PROC-CAND:workflow:nightly-orders",
                    "source": "workflow",
                    "covers": ["dagster/warehouse/nightly_orders"],
                    "steps": [
                        {"code": "nightly_orders.extract", "role": "producer"},
                        {"code": "nightly_orders.load", "role": "verifier"},
                    ],
                }
            ],
        }
    )


def test_a_declared_workflow_candidate_is_verified_explained_and_exported(db, tmp_path):
    catalog = declared_catalog()
    reports = dagster_reports("run-1", STEP_NAMES, "completed")
    workflow_ledger.in_transaction(
        db, lambda conn: workflow_ledger.record(conn, reports, catalog=catalog)
    )
    code = "PROC-CAND:workflow:nightly-orders"
    with db.read() as conn:
        explained = discovery.explain(conn, catalog, code)
    score = explained.score
    assert (score.declared, score.source, score.status, score.fitness) == (
        True,
        "workflow",
        "verified_candidate",
        1.0,
    )
    (trace,) = explained.recent_runs
    assert (trace.steps, trace.correlation_id) == (2, "dagster:run-1")
    assert [v.steps for v in score.variants] == [("nightly_orders.extract", "nightly_orders.load")]
    assert explained.as_dict()["proving_run_id"] == str(trace.run_id)

    summary = discovery.export_ocel(db, tmp_path / "log.json", candidate=code)
    assert (summary.objects["process_run"], summary.objects["component"]) == (1, 2)
    log = json.loads((tmp_path / "log.json").read_text())
    runs = [o for o in log["objects"] if o["type"] == "process_run"]
    assert {a["name"]: a["value"] for a in runs[0]["attributes"]}["source_system"] == (
        "workflow_engine"
    )


def test_the_discovery_scores_asset_shows_workflow_candidates(db, tmp_path):
    reports = dagster_reports("run-1", STEP_NAMES, "completed")
    workflow_ledger.in_transaction(
        db, lambda conn: workflow_ledger.record(conn, reports, catalog=EMPTY_CATALOG)
    )
    catalog_file = tmp_path / "catalog.yaml"
    catalog_file.write_text("version: 1\ncandidates: []\n")
    result = dg.materialize(
        [discovery_scores],
        resources={"procobs_db": resource_for(db)},
        run_config={"ops": {"discovery_scores": {"config": {"catalog": str(catalog_file)}}}},
    )
    metadata = result.asset_materializations_for_node("discovery_scores")[0].metadata
    assert metadata["verified_candidate"].value == 1
    assert DAGSTER_CANDIDATE in metadata["scores"].value
