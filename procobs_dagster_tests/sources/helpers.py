"""Workflow-engine reports for tests: OpenLineage run events as a producer sends them, and
a snapshot of what the ledger holds for them, comparable across databases and runs."""

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa

from procobs_dagster.store.tables import (
    process_component_observation,
    process_run_observation,
    workflow_run,
)

T0 = dt.datetime(2026, 3, 5, 10, 0, tzinfo=dt.UTC)
NS = "airflow-prod"
PRODUCER = "https://example.org/producer/1.0"
SCHEMA_URL = "https://openlineage.io/spec/{}/OpenLineage.json#/$defs/RunEvent"
FACET = {"_producer": PRODUCER, "_schemaURL": "https://openlineage.io/spec/facets/x.json"}


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def run_id() -> str:
    return str(uuid.uuid4())


def ol_event(
    kind: str | None,
    run: str,
    job: str,
    seconds: float,
    *,
    namespace: str = NS,
    parent: tuple[str, str] | None = None,
    job_type: str | None = None,
    outputs: dict[str, dict[str, int]] | None = None,
    sql: str | None = None,
    error: str | None = None,
    spec: str = "2-0-2",
) -> dict[str, Any]:
    """One OpenLineage run event. ``parent`` is (run id, job name) in the same namespace;
    ``outputs`` maps dataset names to their outputStatistics fields."""
    run_facets: dict[str, Any] = {}
    if parent is not None:
        run_facets["parent"] = {
            **FACET,
            "run": {"runId": parent[0]},
            "job": {"namespace": namespace, "name": parent[1]},
        }
    if error is not None:
        run_facets["errorMessage"] = {**FACET, "message": error, "programmingLanguage": "python"}
    job_facets: dict[str, Any] = {}
    if job_type is not None:
        job_facets["jobType"] = {
            **FACET,
            "processingType": "BATCH",
            "integration": "AIRFLOW",
            "jobType": job_type,
        }
    if sql is not None:
        job_facets["sql"] = {**FACET, "query": sql}
    event: dict[str, Any] = {
        "eventTime": at(seconds).isoformat(),
        "producer": PRODUCER,
        "schemaURL": SCHEMA_URL.format(spec),
        "run": {"runId": run, "facets": run_facets},
        "job": {"namespace": namespace, "name": job, "facets": job_facets},
        "inputs": [],
        "outputs": [
            {
                "namespace": "postgres://db",
                "name": name,
                "outputFacets": {"outputStatistics": {**FACET, **stats}} if stats else {},
            }
            for name, stats in (outputs or {}).items()
        ],
    }
    if kind is not None:
        event["eventType"] = kind
    return event


def dag_run(
    dag: str = "etl", tasks: tuple[str, ...] = ("extract", "load"), *, end: str = "COMPLETE"
) -> tuple[str, list[dict[str, Any]]]:
    """An Airflow-like DAG run: the DAG's START, each task START and COMPLETE (writing a
    table, with row counts), the DAG's ``end``. Returns (DAG run id, events in time order)."""
    dag_id = run_id()
    events = [ol_event("START", dag_id, dag, 0, job_type="DAG")]
    for i, task in enumerate(tasks):
        task_id = run_id()
        parent = (dag_id, dag)
        name = f"{dag}.{task}"
        events.append(ol_event("START", task_id, name, 10 * i + 1, parent=parent, job_type="TASK"))
        events.append(
            ol_event(
                "COMPLETE",
                task_id,
                name,
                10 * i + 9,
                parent=parent,
                job_type="TASK",
                outputs={f"public.{task}": {"rowCount": 10 * (i + 1), "size": 100}},
            )
        )
    events.append(ol_event(end, dag_id, dag, 10 * len(tasks) + 1, job_type="DAG"))
    return dag_id, events


def ledger_snapshot(conn) -> dict[str, Any]:
    """What the ledger says about reported workflow runs, keyed by their run keys, without
    what legitimately differs between two recordings: minted ids and when rows were written."""
    # Read first: a run placed by a concurrent writer (the receiver's settler) commits with
    # its ledger rows, so statements after this one see those rows too.
    reported = list(conn.execute(sa.select(workflow_run)))
    runs = {
        r.process_run_id: r
        for r in conn.execute(
            sa.select(process_run_observation).where(
                process_run_observation.c.source_system == "workflow_engine"
            )
        )
    }
    components = {
        c.component_run_id: c
        for c in conn.execute(
            sa.select(process_component_observation).where(
                process_component_observation.c.source_system == "workflow_engine"
            )
        )
    }
    key_of_run = {r.process_run_id: r.run_key for r in reported if r.placement == "run"}
    snapshot = {}
    for r in reported:
        entry = {
            "placement": r.placement,
            "parent_missing": r.parent_missing,
            "facts": r.facts,
        }
        if r.placement == "run":
            row = runs[r.process_run_id]
            entry.update(
                candidate=row.process_candidate_code,
                correlation_id=row.correlation_id,
                parent=key_of_run.get(row.parent_run_id),
                **_lifecycle(row),
            )
        elif r.placement == "component":
            row = components[r.component_run_id]
            entry.update(
                header=key_of_run[row.process_run_id],
                dot_code=row.dot_code,
                role=row.component_role,
                correlation_id=row.correlation_id,
                **_lifecycle(row),
            )
        snapshot[r.run_key] = entry
    return snapshot


def _lifecycle(row) -> dict[str, Any]:
    return {
        "status": row.status,
        "started_at": row.started_at,
        "ended_at": row.ended_at,
        "evidence": row.evidence_ref,
        "error": row.error_ref,
    }
