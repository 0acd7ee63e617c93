"""The ledger does not depend on the order OpenLineage events arrive in, on how they are
batched, nor on how often each is sent (at-least-once delivery) — given, as OpenLineage
integrations do, that every event of a child run names its parent."""

import concurrent.futures
import itertools
import json
import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from procobs_dagster.discovery.catalog import EMPTY_CATALOG
from procobs_dagster.sources import openlineage, workflow_ledger
from procobs_dagster_tests.sources.helpers import ledger_snapshot, ol_event, run_id


def _scenario() -> tuple[list[dict], dict[str, str]]:
    """A DAG run: two tasks (one failing), a Spark job under the first task, and a DAG
    the second task triggers, with a task of its own. Fresh run ids each call; returns
    the events and the symbolic name of each run id."""
    names = ["dag", "extract", "spark", "load", "inner", "inner_task"]
    ids = {name: run_id() for name in names}
    dag, extract, spark, load, inner, inner_task = (ids[n] for n in names)
    events = [
        ol_event("START", dag, "etl", 0, job_type="DAG"),
        ol_event("START", extract, "etl.extract", 1, parent=(dag, "etl"), job_type="TASK"),
        ol_event("START", spark, "spark.write", 2, parent=(extract, "etl.extract")),
        ol_event(
            "RUNNING",
            spark,
            "spark.write",
            3,
            parent=(extract, "etl.extract"),
            outputs={"a": {"rowCount": 1}},
        ),
        ol_event(
            "COMPLETE",
            spark,
            "spark.write",
            4,
            parent=(extract, "etl.extract"),
            outputs={"a": {"rowCount": 5, "size": 50}},
        ),
        ol_event("COMPLETE", extract, "etl.extract", 5, parent=(dag, "etl"), sql="select 1"),
        ol_event("START", load, "etl.load", 6, parent=(dag, "etl"), job_type="TASK"),
        ol_event("START", inner, "inner", 7, parent=(load, "etl.load"), job_type="DAG"),
        ol_event("START", inner_task, "inner.work", 8, parent=(inner, "inner")),
        ol_event(
            "COMPLETE",
            inner_task,
            "inner.work",
            9,
            parent=(inner, "inner"),
            outputs={"b": {"fileCount": 2}},
        ),
        ol_event("COMPLETE", inner, "inner", 10, parent=(load, "etl.load"), job_type="DAG"),
        ol_event("FAIL", load, "etl.load", 11, parent=(dag, "etl"), error="inner DAG late"),
        ol_event("OTHER", load, "etl.load", 12, parent=(dag, "etl"), outputs={"c": {}}),
        ol_event("FAIL", dag, "etl", 13, job_type="DAG", error="a task failed"),
    ]
    return events, {run: name for name, run in ids.items()}


def _normalised(conn, symbols: dict[str, str]) -> str:
    snapshot = {key: run for key, run in ledger_snapshot(conn).items() if key in symbols}
    text = json.dumps(snapshot, default=str)
    for run, name in symbols.items():
        text = text.replace(run, f"<{name}>")
    return json.dumps(json.loads(text), sort_keys=True, indent=1)


def _record(db, batches: list[list[dict]]) -> None:
    for batch in batches:
        with db.begin() as conn:
            openlineage.accept(conn, openlineage.batch_of(batch), catalog=EMPTY_CATALOG)


@st.composite
def arrivals(draw, count: int) -> list[list[int]]:
    """Every event at least once (some twice), shuffled, cut into batches."""
    order = list(range(count)) + draw(st.lists(st.integers(0, count - 1), max_size=count))
    order = draw(st.permutations(order))
    cuts = sorted(draw(st.sets(st.integers(1, len(order) - 1), max_size=6)))
    bounds = [0, *cuts, len(order)]
    return [order[a:b] for a, b in itertools.pairwise(bounds)]


def test_any_arrival_order_gives_the_same_ledger(db):
    events, symbols = _scenario()
    _record(db, [events])
    with db.read() as conn:
        expected = _normalised(conn, symbols)
    assert '"placement": "held"' not in expected
    count = len(events)

    @settings(
        max_examples=30,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    @given(arrivals(count))
    def same_ledger(batches):
        events, symbols = _scenario()
        _record(db, [[events[i] for i in batch] for batch in batches])
        with db.read() as conn:
            assert _normalised(conn, symbols) == expected

    same_ledger()


def test_concurrent_writers_give_the_same_ledger(db):
    """Events of the same runs sent at once by several writers, each in a transaction of
    its own: a child and its parent decided at the same moment still meet (the key locks),
    and a deadlock between two writers is retried, not lost."""
    events, symbols = _scenario()
    _record(db, [events])
    with db.read() as conn:
        expected = _normalised(conn, symbols)
    scenarios = [_scenario() for _ in range(6)]
    stream = [event for events, _ in scenarios for event in events]
    random.Random(13).shuffle(stream)
    writers = 6

    def write(share: list[dict]) -> None:
        for event in share:
            batch = openlineage.batch_of(event)
            workflow_ledger.in_transaction(
                db, lambda conn, b=batch: openlineage.accept(conn, b, catalog=EMPTY_CATALOG)
            )

    with concurrent.futures.ThreadPoolExecutor(writers) as pool:
        list(pool.map(write, [stream[i::writers] for i in range(writers)]))
    with db.read() as conn:
        for _, symbols in scenarios:
            assert _normalised(conn, symbols) == expected
