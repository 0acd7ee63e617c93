"""The demo's Airflow-like DAG run, reported over OpenLineage through the HTTP receiver.

``sample_data/kg_nightly.openlineage.jsonl`` is what Airflow's OpenLineage integration
sends for one run of a DAG with two tasks: the DAG's START, each task's START and
COMPLETE (with the rows it wrote, and its parent facet naming the DAG run), the DAG's
COMPLETE. Each demo run sends it as a new run — fresh run ids, the times moved so that the
last event is now — in one batch to the receiver ``procobs serve`` runs, started for the
occasion on a free loopback port. It accepts one API key: the first of PROCOBS_API_KEYS,
else one made up for this run; the key is sent as a bearer token and shown nowhere.
"""

import dataclasses
import datetime as dt
import json
import secrets
from importlib import resources

import httpx

from procobs_dagster.clock import utcnow
from procobs_dagster.discovery.catalog import Catalog
from procobs_dagster.errors import ProcobsError
from procobs_dagster.ids import uuid7
from procobs_dagster.sources.openlineage import receiver

SAMPLE = "kg_nightly.openlineage.jsonl"
DAG_JOB = "airflow-demo/kg_nightly"
TIMEOUT_SECONDS = 60


@dataclasses.dataclass(frozen=True)
class LineageSent:
    dag_run_id: str  # the DAG run's runId, as sent
    tasks: int
    events: int
    counts: dict[str, int]  # the receiver's answer


def sample_events() -> list[dict]:
    text = (resources.files("procobs_dagster.demo") / "sample_data" / SAMPLE).read_text()
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def as_new_run(events: list[dict], now: dt.datetime) -> list[dict]:
    """The bundled events as a run happening now: every run id (and the parent facets
    naming them) replaced by a fresh one, every time moved by the same amount."""
    renamed: dict[str, str] = {}

    def fresh(run_id: str) -> str:
        return renamed.setdefault(run_id, str(uuid7()))

    shift = now - max(dt.datetime.fromisoformat(e["eventTime"]) for e in events)
    moved = []
    for event in json.loads(json.dumps(events)):  # a deep copy: the sample stays as it is
        event["eventTime"] = (dt.datetime.fromisoformat(event["eventTime"]) + shift).isoformat()
        event["run"]["runId"] = fresh(event["run"]["runId"])
        parent = (event["run"].get("facets") or {}).get("parent")
        if parent:
            parent["run"]["runId"] = fresh(parent["run"]["runId"])
        moved.append(event)
    return moved


def send_dag_run(db, catalog: Catalog, *, now: dt.datetime | None = None) -> LineageSent:
    """Send the DAG run through the receiver, started for this and stopped after it."""
    events = as_new_run(sample_events(), now or utcnow())
    key = (receiver.api_keys_from_env() or (secrets.token_urlsafe(24),))[0]
    config = receiver.ReceiverConfig(catalog=catalog, api_keys=(key,), settle_every_seconds=0)
    with receiver.serving(db, config) as url:
        response = httpx.post(
            url + receiver.ENDPOINT,
            json=events,
            headers={"Authorization": f"Bearer {key}"},
            timeout=TIMEOUT_SECONDS,
        )
    if response.status_code != 200:
        raise ProcobsError(
            f"the receiver refused the demo's DAG run: {response.status_code} {response.text}"
        )
    dag = next(e for e in events if "parent" not in (e["run"].get("facets") or {}))
    tasks = {e["run"]["runId"] for e in events} - {dag["run"]["runId"]}
    return LineageSent(dag["run"]["runId"], len(tasks), len(events), response.json())
