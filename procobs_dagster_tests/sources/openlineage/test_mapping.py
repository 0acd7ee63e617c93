"""OpenLineage run events into the ledger, through the mapping (no HTTP)."""

import datetime as dt

import pytest
import sqlalchemy as sa

from procobs_dagster import discovery, ledger
from procobs_dagster.discovery.catalog import EMPTY_CATALOG
from procobs_dagster.sources import openlineage, workflow_ledger
from procobs_dagster.store.tables import workflow_event, workflow_run
from procobs_dagster_tests.events.helpers import outbox_rows, set_active
from procobs_dagster_tests.sources.helpers import (
    NS,
    at,
    dag_run,
    ledger_snapshot,
    ol_event,
    run_id,
)


def send(db, *documents, catalog=EMPTY_CATALOG) -> dict:
    with db.begin() as conn:
        batch = openlineage.batch_of(list(documents))
        return openlineage.accept(conn, batch, catalog=catalog).as_dict()


def snapshot(db) -> dict:
    with db.read() as conn:
        return ledger_snapshot(conn)


def test_a_dag_run_with_two_tasks_is_a_verified_workflow_candidate(db):
    dag_id, events = dag_run()
    report = send(db, *events)
    assert report["runs_placed"] == 1 and report["components_placed"] == 2
    runs = snapshot(db)
    dag = runs.pop(dag_id)
    assert dag["candidate"] == f"PROC-CAND:workflow:{NS}/etl"
    assert dag["correlation_id"] == f"openlineage:{dag_id}"
    assert (dag["status"], dag["started_at"], dag["ended_at"]) == ("completed", at(0), at(21))
    assert sorted((t["dot_code"], t["status"], t["header"]) for t in runs.values()) == [
        ("etl.extract", "completed", dag_id),
        ("etl.load", "completed", dag_id),
    ]
    extract = next(t for t in runs.values() if t["dot_code"] == "etl.extract")
    assert extract["role"] == "step" and extract["correlation_id"] == dag["correlation_id"]
    assert (extract["started_at"], extract["ended_at"]) == (at(1), at(9))
    assert extract["evidence"] == {
        "outputs": {"postgres://db/public.extract": {"row_count": 10, "size_bytes": 100}},
        "rows_touched": 10,
    }
    with db.begin() as conn:
        scores = {s.candidate_code: s for s in discovery.score_candidates(conn, EMPTY_CATALOG)}
    score = scores[dag["candidate"]]
    assert score.status == "verified_candidate"
    assert score.variants[0].steps == ("etl.extract", "etl.load")


def test_a_declared_catalog_entry_covering_the_dag_names_the_candidate(db):
    catalog = discovery.parse_catalog(
        {
            "version": 1,
            "candidates": [
                {
                    "code": "PROC-CAND:workflow:nightly-etl",
                    "source": "workflow",
                    "covers": [f"{NS}/etl"],
                    "steps": [{"code": "etl.extract"}, {"code": "etl.load"}],
                }
            ],
        }
    )
    dag_id, events = dag_run()
    send(db, *events, catalog=catalog)
    assert snapshot(db)[dag_id]["candidate"] == "PROC-CAND:workflow:nightly-etl"
    with db.read() as conn:
        score = discovery.score_of(conn, catalog, "PROC-CAND:workflow:nightly-etl")
    assert score.status == "verified_candidate" and score.fitness == 1.0


def test_a_dag_triggered_by_a_task_is_a_nested_run_with_its_own_steps(db):
    outer, events = dag_run("outer", ("trigger",))
    trigger = events[1]["run"]["runId"]
    inner = run_id()
    inner_task = run_id()
    events += [
        ol_event("START", inner, "inner", 3, parent=(trigger, "outer.trigger"), job_type="DAG"),
        ol_event("START", inner_task, "inner.work", 4, parent=(inner, "inner"), job_type="TASK"),
        ol_event("COMPLETE", inner_task, "inner.work", 5, parent=(inner, "inner"), sql="select"),
        ol_event("COMPLETE", inner, "inner", 6, parent=(trigger, "outer.trigger"), job_type="DAG"),
    ]
    send(db, *events)
    runs = snapshot(db)
    assert runs[inner]["placement"] == "run"
    assert runs[inner]["parent"] == outer  # the header its parent task belongs to
    assert runs[inner]["candidate"] == f"PROC-CAND:workflow:{NS}/inner"
    assert runs[inner]["correlation_id"] == f"openlineage:{inner}"
    assert (runs[inner_task]["placement"], runs[inner_task]["header"]) == ("component", inner)
    assert runs[inner_task]["evidence"]["code"]["sql_sha256"]
    assert runs[trigger]["header"] == outer


def test_a_step_of_a_step_is_a_step_of_the_same_run(db):
    dag_id, events = dag_run("etl", ("spark",))
    task = events[1]["run"]["runId"]
    job = run_id()
    events += [
        ol_event("START", job, "spark.write", 2, parent=(task, "etl.spark")),
        ol_event("COMPLETE", job, "spark.write", 3, parent=(task, "etl.spark")),
    ]
    send(db, *events)
    step = snapshot(db)[job]
    assert (step["placement"], step["header"], step["status"]) == ("component", dag_id, "completed")


@pytest.mark.parametrize(
    ("end", "status", "error"),
    [("FAIL", "failed", "boom: division by zero"), ("ABORT", "cancelled", None)],
)
def test_fail_and_abort_end_the_run(db, end, status, error):
    dag = run_id()
    task = run_id()
    send(
        db,
        ol_event("START", dag, "etl", 0, job_type="DAG"),
        ol_event("START", task, "etl.extract", 1, parent=(dag, "etl")),
        ol_event(end, task, "etl.extract", 2, parent=(dag, "etl"), error=error),
        ol_event(end, dag, "etl", 3, job_type="DAG", error=error),
    )
    runs = snapshot(db)
    assert (runs[dag]["status"], runs[dag]["ended_at"], runs[dag]["error"]) == (
        status,
        at(3),
        error,
    )
    assert (runs[task]["status"], runs[task]["error"]) == (status, error)


def test_running_and_other_add_evidence_and_end_nothing(db):
    dag = run_id()
    send(
        db,
        ol_event("START", dag, "stream", 0),
        ol_event("RUNNING", dag, "stream", 5, outputs={"events": {"rowCount": 7}}),
        ol_event(None, dag, "stream", 6, sql="insert into events select 1"),  # no type: OTHER
    )
    run = snapshot(db)[dag]
    assert run["status"] == "started" and run["ended_at"] is None
    assert run["evidence"]["rows_touched"] == 7 and "sql_sha256" in run["evidence"]["code"]


def test_a_completion_without_evidence_raises_the_evidence_missing_alert(db):
    set_active(db, "process.evidence.missing")
    dag = run_id()
    send(db, ol_event("START", dag, "bare", 0), ol_event("COMPLETE", dag, "bare", 1))
    alerts = [r for r in outbox_rows(db) if r["event_type"] == "process.evidence.missing"]
    assert [a["correlation_id"] for a in alerts] == [f"openlineage:{dag}"]
    evidenced = run_id()
    send(
        db,
        ol_event("START", evidenced, "bare", 0),
        ol_event("COMPLETE", evidenced, "bare", 1, outputs={"t": {}}),
    )
    assert len([r for r in outbox_rows(db) if r["event_type"] == "process.evidence.missing"]) == 1


def test_the_same_event_twice_is_kept_once(db):
    _dag_id, events = dag_run()
    first = send(db, *events)
    again = send(db, *events, events[0])
    assert first["events"] == len(events) and first["duplicates"] == 0
    assert again["events"] == 0 and again["duplicates"] == len(events) + 1
    with db.read() as conn:
        kept = conn.execute(sa.select(sa.func.count()).select_from(workflow_event)).scalar_one()
    assert kept == len(events)


def test_a_child_seen_before_its_parent_waits_and_is_linked_when_it_arrives(db):
    dag_id, events = dag_run()
    tasks, dag_events = events[1:-1], [events[0], events[-1]]
    report = send(db, *tasks)
    assert report["components_placed"] == 0 and report["runs_placed"] == 0
    assert {r["placement"] for r in snapshot(db).values()} == {"held"}
    send(db, *dag_events)
    runs = snapshot(db)
    assert {r["placement"] for k, r in runs.items() if k != dag_id} == {"component"}
    with db.read() as conn:
        orphans = ledger.list_runs(conn, status="orphan")
    assert orphans == []


def test_a_parent_that_never_arrives_leaves_the_child_a_run_of_its_own(db):
    dag = run_id()
    task = run_id()
    send(
        db,
        ol_event("START", task, "etl.extract", 1, parent=(dag, "etl")),
        ol_event("COMPLETE", task, "etl.extract", 2, parent=(dag, "etl"), outputs={"t": {}}),
    )
    with db.begin() as conn:
        early = workflow_ledger.settle_held(conn, catalog=EMPTY_CATALOG)
    assert early.runs_placed == 0  # still within the grace
    later = dt.datetime.now(dt.UTC) + workflow_ledger.DEFAULT_PARENT_GRACE + dt.timedelta(1)
    with db.begin() as conn:
        settled = workflow_ledger.settle_held(conn, catalog=EMPTY_CATALOG, now=later)
    assert (settled.runs_placed, settled.parent_missing) == (1, 1)
    child = snapshot(db)[task]
    assert (child["placement"], child["parent_missing"], child["status"]) == (
        "run",
        True,
        "completed",
    )
    assert child["candidate"] == f"PROC-CAND:workflow:{NS}/etl.extract"
    assert child["parent"] is None
    # The parent arrives after all: the child becomes its nested run.
    report = send(db, ol_event("START", dag, "etl", 0), ol_event("COMPLETE", dag, "etl", 3))
    assert report["linked_late"] == 1
    assert snapshot(db)[task]["parent"] == dag


def test_complete_before_start_ends_as_if_in_order(db):
    dag_id, events = dag_run()
    send(db, *reversed(events))
    runs = snapshot(db)
    assert (runs[dag_id]["status"], runs[dag_id]["started_at"]) == ("completed", at(0))
    steps = sorted((r["started_at"], r["ended_at"]) for k, r in runs.items() if k != dag_id)
    assert steps == [(at(1), at(9)), (at(11), at(19))]


def test_a_parent_named_only_by_a_later_event_still_links_the_run(db):
    dag_id, events = dag_run("etl", ())
    child = run_id()
    # The child's first event names no parent: it stands on its own, until one does.
    send(db, ol_event("START", child, "etl.sub", 1), *events)
    assert snapshot(db)[child]["parent"] is None
    report = send(db, ol_event("COMPLETE", child, "etl.sub", 2, parent=(dag_id, "etl")))
    assert report["linked_late"] == 1
    child_run = snapshot(db)[child]
    assert (child_run["placement"], child_run["parent"]) == ("run", dag_id)


def test_raw_events_are_insert_only_and_runs_keep_their_rules(db):
    dag_id, events = dag_run()
    send(db, *events)
    with pytest.raises(sa.exc.DatabaseError, match="append-only"), db.begin() as conn:
        conn.execute(workflow_event.update().values(event_type="OTHER"))
    # A placed run says where it is; a held one is nowhere yet.
    with pytest.raises(sa.exc.IntegrityError), db.begin() as conn:
        conn.execute(
            workflow_run.update().where(workflow_run.c.run_key == dag_id).values(placement="held")
        )


def test_replay_leaves_a_run_the_mapping_no_longer_reads_and_replays_the_others(db):
    _kept, events = dag_run("kept", ())
    _odd, odd_events = dag_run("odd", ())
    send(db, *events, *odd_events)
    before = snapshot(db)

    def pickier(document):
        if document["job"]["name"] == "odd":
            raise openlineage.InvalidEvent("job.name: 'odd' is no longer accepted")
        return openlineage.parse(document)

    report = workflow_ledger.replay(
        db, source=openlineage.SOURCE, parse=pickier, catalog=EMPTY_CATALOG, batch=1
    )
    assert (report.runs, report.unreadable, report.batches) == (2, 1, 2)
    assert report.events == len(events)
    assert snapshot(db) == before


def test_runs_naming_each_other_as_parents_are_both_kept_without_a_cycle(db):
    a, b = run_id(), run_id()
    send(
        db,
        ol_event("START", a, "a", 0, parent=(b, "b"), job_type="DAG"),
        ol_event("START", b, "b", 1, parent=(a, "a"), job_type="DAG"),
    )
    later = dt.datetime.now(dt.UTC) + workflow_ledger.DEFAULT_PARENT_GRACE + dt.timedelta(1)
    with db.begin() as conn:
        workflow_ledger.settle_held(conn, catalog=EMPTY_CATALOG, now=later)
    workflow_ledger.replay(
        db, source=openlineage.SOURCE, parse=openlineage.parse, catalog=EMPTY_CATALOG
    )
    runs = snapshot(db)
    # Received together, the first by key is settled first and stands on its own, its
    # parent never having come; the other's parent then is in the ledger: it is that
    # run's nested run. Replaying would nest the first under the second too — a cycle,
    # which is not recorded.
    first, second = sorted((a, b))
    assert (runs[first]["placement"], runs[first]["parent_missing"]) == ("run", True)
    assert runs[first]["parent"] is None
    assert (runs[second]["placement"], runs[second]["parent"]) == ("run", first)
