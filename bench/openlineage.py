"""OpenLineage intake: events per second accepted by `procobs serve` over HTTP from several
concurrent clients, against the same events written through the mapping directly.

Both paths take the same kind of events — Airflow-like DAG runs, each a DAG START, two
tasks (START, then COMPLETE with output statistics) and the DAG's COMPLETE, one event per
request as the OpenLineage HTTP transport sends them — and run them through the same
function: check against the spec's JSON Schema, map, keep raw, place in the ledger, one
transaction per event. The direct path calls it from as many threads as there are
clients; the HTTP path posts to a `procobs serve` running in a process of its own (API key
auth, one log line per request), from that many client threads with keep-alive
connections. Each path gets fresh run ids; the rounds alternate so both see the same
table sizes and machine load. Goal: the HTTP path accepts at least 0.5 of the direct
path's rate. It also prints the p99 latency of a request.
"""

import concurrent.futures
import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
from _common import fresh_postgres, parser, report

from procobs_dagster.discovery.catalog import EMPTY_CATALOG
from procobs_dagster.sources import openlineage, workflow_ledger

KEY = "bench-key-0123456789abcdef"
PRODUCER = "https://example.org/bench"
SCHEMA_URL = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
FACET = {"_producer": PRODUCER, "_schemaURL": "https://openlineage.io/spec/facets/x.json"}
TASKS = ("extract", "load")


def _event(kind, run_id, job, second, parent=None, rows=None) -> dict:
    run_facets = {}
    if parent is not None:
        run_facets["parent"] = {
            **FACET,
            "run": {"runId": parent[0]},
            "job": {"namespace": "bench", "name": parent[1]},
        }
    job_type = "TASK" if parent else "DAG"
    outputs = []
    if rows is not None:
        statistics = {**FACET, "rowCount": rows, "size": rows * 100}
        outputs.append(
            {
                "namespace": "postgres://warehouse",
                "name": f"public.{job}",
                "outputFacets": {"outputStatistics": statistics},
            }
        )
    return {
        "eventType": kind,
        "eventTime": f"2026-03-05T10:00:{second:02d}+00:00",
        "producer": PRODUCER,
        "schemaURL": SCHEMA_URL,
        "run": {"runId": run_id, "facets": run_facets},
        "job": {
            "namespace": "bench",
            "name": job,
            "facets": {
                "jobType": {
                    **FACET,
                    "processingType": "BATCH",
                    "integration": "AIRFLOW",
                    "jobType": job_type,
                }
            },
        },
        "inputs": [],
        "outputs": outputs,
    }


def dag_runs(count: int) -> list[list[str]]:
    """``count`` DAG runs, each a list of its events (JSON text) in the order sent."""
    runs = []
    for n in range(count):
        dag = str(uuid.uuid4())
        name = f"dag_{n % 20}"
        events = [_event("START", dag, name, 0)]
        for i, task in enumerate(TASKS):
            task_id = str(uuid.uuid4())
            parent = (dag, name)
            events.append(_event("START", task_id, f"{name}.{task}", 10 * i + 1, parent))
            events.append(
                _event("COMPLETE", task_id, f"{name}.{task}", 10 * i + 9, parent, rows=1000 + i)
            )
        events.append(_event("COMPLETE", dag, name, 30))
        runs.append([json.dumps(e) for e in events])
    return runs


def _share(runs: list[list[str]], clients: int) -> list[list[str]]:
    """Each client sends whole DAG runs, in order, as one scheduler worker would."""
    return [[e for run in runs[i::clients] for e in run] for i in range(clients)]


def direct(db, runs: list[list[str]], clients: int) -> tuple[int, list[float]]:
    def send(events: list[str]) -> list[float]:
        latencies = []
        for text in events:
            start = time.perf_counter()
            batch = openlineage.batch_of(json.loads(text))
            workflow_ledger.in_transaction(
                db, lambda conn, b=batch: openlineage.accept(conn, b, catalog=EMPTY_CATALOG)
            )
            latencies.append(time.perf_counter() - start)
        return latencies

    return _concurrently(send, _share(runs, clients))


def over_http(url: str, runs: list[list[str]], clients: int) -> tuple[int, list[float]]:
    headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}

    def send(events: list[str]) -> list[float]:
        latencies = []
        with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
            for text in events:
                start = time.perf_counter()
                response = client.post("/api/v1/lineage", content=text)
                latencies.append(time.perf_counter() - start)
                if response.status_code != 200:
                    raise RuntimeError(f"{response.status_code}: {response.text}")
        return latencies

    return _concurrently(send, _share(runs, clients))


def _concurrently(send, shares) -> tuple[int, list[float]]:
    with concurrent.futures.ThreadPoolExecutor(len(shares)) as pool:
        latencies = [t for part in pool.map(send, shares) for t in part]
    return len(latencies), latencies


@contextlib.contextmanager
def procobs_serve(db):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    command = [
        str(Path(sys.executable).with_name("procobs")),
        "--database-url",
        db.url.render_as_string(hide_password=False),
        "serve",
        "--port",
        str(port),
    ]
    # The server logs a line per request: to a file, never to a pipe nobody reads.
    with tempfile.TemporaryFile(prefix="procobs-serve-") as log:
        server = subprocess.Popen(
            command, env={**os.environ, "PROCOBS_API_KEYS": KEY}, stdout=log, stderr=log
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                with contextlib.suppress(httpx.TransportError):
                    if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                        break
                if server.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    raise RuntimeError(f"procobs serve did not start: {log.read().decode()}")
                time.sleep(0.1)
            yield url
        finally:
            server.terminate()
            server.wait()


def p99(latencies: list[float]) -> float:
    ordered = sorted(latencies)
    return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]


def main() -> None:
    cli = parser(__doc__.splitlines()[0])
    cli.add_argument("--dags", type=int, default=300, help="DAG runs per path (6 events each)")
    cli.add_argument("--clients", type=int, default=4)
    cli.add_argument("--rounds", type=int, default=3)
    args = cli.parse_args()
    per_round = max(1, args.dags // args.rounds)
    load_before = os.getloadavg()
    seconds = {"direct": 0.0, "http": 0.0}
    events = {"direct": 0, "http": 0}
    latencies: dict[str, list[float]] = {"direct": [], "http": []}
    with fresh_postgres(args.database_url, "openlineage") as db, procobs_serve(db) as url:
        direct(db, dag_runs(10), args.clients)  # warm up both paths: caches, pools
        over_http(url, dag_runs(10), args.clients)
        for _ in range(args.rounds):
            for path, run in (
                ("direct", lambda runs: direct(db, runs, args.clients)),
                ("http", lambda runs: over_http(url, runs, args.clients)),
            ):
                runs = dag_runs(per_round)
                start = time.perf_counter()
                done, took = run(runs)
                seconds[path] += time.perf_counter() - start
                events[path] += done
                latencies[path] += took
    load_after = os.getloadavg()
    rates = {path: events[path] / seconds[path] for path in seconds}
    ratio = rates["http"] / rates["direct"]
    report(
        f"openlineage: {events['http']} events per path, one per request, "
        f"{args.clients} concurrent clients (PostgreSQL)",
        [
            (
                "direct (mapping, no HTTP)",
                f"{rates['direct']:8.0f} events/s  ({seconds['direct']:.2f} s, "
                f"p99 {p99(latencies['direct']) * 1000:.1f} ms per event)",
            ),
            (
                "procobs serve (HTTP)",
                f"{rates['http']:8.0f} events/s  ({seconds['http']:.2f} s, "
                f"p99 {p99(latencies['http']) * 1000:.1f} ms per request)",
            ),
            (
                "ratio",
                f"{ratio:8.2f} of direct  (goal >= 0.50: {'met' if ratio >= 0.5 else 'NOT met'})",
            ),
            (
                "load average",
                f"{load_before[0]:.2f} before, {load_after[0]:.2f} after "
                f"({os.cpu_count()} cores, shared)",
            ),
        ],
    )


if __name__ == "__main__":
    main()
