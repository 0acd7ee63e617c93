"""An OpenLineage run event as a workflow-engine report (``WorkflowEvent``).

- ``run.runId`` → the run key (the UUID, lower case);
- ``eventType`` → the kind (START, RUNNING, COMPLETE, FAIL, ABORT, OTHER; absent: OTHER);
- ``eventTime`` → the event time; ``job.namespace`` and ``job.name`` → the job;
- ``run.facets.parent`` (its ``run.runId`` and ``job``) → the parent run and its job;
- ``job.facets.jobType.jobType`` DAG, APPLICATION or JOB → a whole workflow (an Airflow
  DAG, a Spark application, a dbt invocation or Flink job), not a step of one;
- ``outputs[]`` → the datasets written, with their ``outputFacets.outputStatistics``
  (``rowCount``, ``size``, ``fileCount`` → ``row_count``, ``size_bytes``, ``file_count``);
- ``job.facets.sourceCodeLocation`` → code ``source_code_location`` (type, url, repo_url,
  path, version, tag, branch); ``job.facets.sourceCode`` / ``sql`` → code
  ``source_code_sha256`` / ``sql_sha256``;
- ``run.facets.errorMessage.message`` → the error of a FAIL or ABORT.
"""

import datetime as dt
import hashlib
import uuid
from collections.abc import Mapping
from typing import Any

from procobs_dagster.sources.openlineage.validation import RUN, InvalidEvent, validate
from procobs_dagster.sources.workflow_runs import EventKind, JobRef, ParentRef, WorkflowEvent

SOURCE = "openlineage"
# jobType values that name a whole workflow rather than a step of one.
WORKFLOW_JOB_TYPES = frozenset({"DAG", "APPLICATION", "JOB"})
MAX_TEXT = 1000  # characters kept of a text the reports carry (errors, code locations)
MAX_COUNT = 2**63 - 1
_STATISTICS = {"rowCount": "row_count", "size": "size_bytes", "fileCount": "file_count"}
_LOCATION = {
    "type": "type",
    "url": "url",
    "repoUrl": "repo_url",
    "path": "path",
    "version": "version",
    "tag": "tag",
    "branch": "branch",
}


def parse(document: Mapping[str, Any]) -> WorkflowEvent | None:
    """Validate and map one event; None for an event about no run (a job or dataset
    event: static metadata with nothing for the ledger). Raises InvalidEvent."""
    if validate(document) != RUN:
        return None
    run, job = document["run"], document["job"]
    run_facets = run.get("facets") or {}
    job_facets = job.get("facets") or {}
    return WorkflowEvent(
        source=SOURCE,
        run_key=_run_key(run["runId"]),
        kind=EventKind(document.get("eventType", EventKind.OTHER)),
        event_time=dt.datetime.fromisoformat(document["eventTime"]),
        job=JobRef(job["namespace"], job["name"]),
        parent=_parent(run_facets.get("parent")),
        whole_workflow=(job_facets.get("jobType") or {}).get("jobType") in WORKFLOW_JOB_TYPES,
        outputs=_outputs(document.get("outputs") or []),
        code=_code(job_facets),
        error=_text((run_facets.get("errorMessage") or {}).get("message")),
        document=document,
    )


def _run_key(run_id: str) -> str:
    return str(uuid.UUID(run_id))


def _parent(facet: Mapping[str, Any] | None) -> ParentRef | None:
    if facet is None:
        return None
    job = facet["job"]
    return ParentRef(_run_key(facet["run"]["runId"]), JobRef(job["namespace"], job["name"]))


def _outputs(outputs: list) -> dict[str, dict[str, int]]:
    written: dict[str, dict[str, int]] = {}
    for index, dataset in enumerate(outputs):
        statistics = (dataset.get("outputFacets") or {}).get("outputStatistics") or {}
        counted = {}
        for field, name in _STATISTICS.items():
            if field in statistics:
                value = statistics[field]
                if not 0 <= value <= MAX_COUNT:
                    raise InvalidEvent(
                        f"outputs[{index}].outputFacets.outputStatistics.{field}: {value} is "
                        f"outside 0 … {MAX_COUNT}"
                    )
                counted[name] = value
        written[f"{dataset['namespace']}/{dataset['name']}"] = counted
    return written


def _code(facets: Mapping[str, Any]) -> dict[str, Any]:
    code: dict[str, Any] = {}
    location = facets.get("sourceCodeLocation")
    if location:
        code["source_code_location"] = {
            name: _text(location[field]) for field, name in _LOCATION.items() if field in location
        }
    if facets.get("sourceCode"):
        code["source_code_sha256"] = _sha256(facets["sourceCode"]["sourceCode"])
    if facets.get("sql"):
        code["sql_sha256"] = _sha256(facets["sql"]["query"])
    return code


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _text(value: str | None) -> str | None:
    if value is None:
        return None
    return value if len(value) <= MAX_TEXT else value[: MAX_TEXT - 1] + "…"
