"""Events built with the real OpenLineage Python client's own classes, and a client
pointed at a receiver with its HTTP transport and API-key auth."""

import datetime as dt
import uuid

from openlineage.client import OpenLineageClient
from openlineage.client.event_v2 import Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.facet_v2 import (
    error_message_run,
    job_type_job,
    output_statistics_output_dataset,
    parent_run,
)
from openlineage.client.transport.http import ApiKeyTokenProvider, HttpConfig, HttpTransport

from procobs_dagster_tests.sources.helpers import NS, T0


def client(url: str, key: str, **retry) -> OpenLineageClient:
    config = HttpConfig(url=url, auth=ApiKeyTokenProvider({"apiKey": key}), timeout=30.0)
    if retry:
        config.retry = {**config.retry, **retry}
    return OpenLineageClient(transport=HttpTransport(config))


def event(
    state: RunState,
    run_id: str,
    job: str,
    seconds: float,
    *,
    parent: tuple[str, str] | None = None,
    job_type: str = "TASK",
    rows: int | None = None,
    error: str | None = None,
) -> RunEvent:
    run_facets = {}
    if parent is not None:
        run_facets["parent"] = parent_run.ParentRunFacet(
            run=parent_run.Run(runId=parent[0]), job=parent_run.Job(namespace=NS, name=parent[1])
        )
    if error is not None:
        run_facets["errorMessage"] = error_message_run.ErrorMessageRunFacet(
            message=error, programmingLanguage="python"
        )
    outputs = []
    if rows is not None:
        statistics = output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(
            rowCount=rows, size=rows * 10
        )
        outputs.append(
            OutputDataset(
                namespace="postgres://db",
                name=f"public.{job}",
                outputFacets={"outputStatistics": statistics},
            )
        )
    return RunEvent(
        eventType=state,
        eventTime=(T0 + dt.timedelta(seconds=seconds)).isoformat(),
        run=Run(runId=run_id, facets=run_facets),
        job=Job(
            namespace=NS,
            name=job,
            facets={
                "jobType": job_type_job.JobTypeJobFacet(
                    processingType="BATCH", integration="AIRFLOW", jobType=job_type
                )
            },
        ),
        outputs=outputs,
    )


def dag_with_two_tasks(end: RunState = RunState.COMPLETE) -> tuple[str, list[RunEvent]]:
    """An Airflow-like DAG run, its two tasks ending as ``end`` says (and the DAG too)."""
    dag = str(uuid.uuid4())
    events = [event(RunState.START, dag, "etl", 0, job_type="DAG")]
    for i, task in enumerate(("extract", "load")):
        task_id = str(uuid.uuid4())
        parent = (dag, "etl")
        events.append(event(RunState.START, task_id, f"etl.{task}", 2 * i + 1, parent=parent))
        failing = end != RunState.COMPLETE
        events.append(
            event(
                end,
                task_id,
                f"etl.{task}",
                2 * i + 2,
                parent=parent,
                rows=None if failing else 10 * (i + 1),
                error="task died" if end == RunState.FAIL else None,
            )
        )
    events.append(event(end, dag, "etl", 5, job_type="DAG"))
    return dag, events
