"""The OCEL 2.0 export, read back with PM4Py (the optional `ocel` extra)."""

import collections
import datetime as dt
import itertools
import json
import sqlite3

import pm4py
import pytest
import sqlalchemy as sa
from pm4py.objects.ocel.validation import ocel20_rel_validation

from procobs_dagster import discovery, maintenance
from procobs_dagster.discovery.ocel import event_type_of
from procobs_dagster.errors import InvalidInput
from procobs_dagster.store.tables import (
    process_component_observation,
    process_run_observation,
    process_status_history,
)
from procobs_dagster_tests.discovery.helpers import KG, T0, observe, score, seconds

READERS = {"json": pm4py.read_ocel2_json, "sqlite": pm4py.read_ocel2_sqlite}
SUB = "PROC-CAND:dot:sub"


@pytest.fixture
def ledger_rows(db):
    """Two KG runs (in and out of the declared order), a child run of another candidate
    under the first, a failed run and a dry run, at distinct times."""
    first = observe(db, at=T0)
    observe(
        db,
        steps=[("DOT_KG_VALIDATE", "verifier"), ("DOT_KG_EXTRACT", "producer")],
        at=T0 + seconds(60),
    )
    child = observe(
        db,
        SUB,
        steps=[("DOT_SUB", "step")],
        at=T0 + seconds(120),
        parent_run_id=first.process_run_id,
    )
    observe(db, finish="failed", at=T0 + seconds(180))
    dry = observe(db, dry_run=True, at=T0 + seconds(240))
    return {"first": first, "child": child, "dry": dry}


def _expected_follows(db, *, include_dry: bool) -> collections.Counter:
    """The directly-follows relation of each run's transitions (its own and its
    components'), straight from process_status_history."""
    h, r, c = process_status_history, process_run_observation, process_component_observation
    with db.read() as conn:
        rows = conn.execute(
            sa.select(h.c.process_run_id, h.c.subject_kind, c.c.dot_code, h.c.to_status)
            .select_from(
                h.join(r, r.c.process_run_id == h.c.process_run_id).outerjoin(
                    c, c.c.component_run_id == h.c.subject_id
                )
            )
            .where(sa.true() if include_dry else r.c.source_system != "dry_run")
            .order_by(h.c.process_run_id, h.c.changed_at, h.c.history_id)
        ).all()
    follows = collections.Counter()
    for _, events in itertools.groupby(rows, key=lambda row: row[0]):
        names = [event_type_of(kind, dot, status) for _, kind, dot, status in events]
        follows.update(itertools.pairwise(names))
    return follows


@pytest.mark.parametrize("fmt", ["json", "sqlite"])
def test_the_export_round_trips_through_pm4py(db, ledger_rows, tmp_path, fmt):
    path = tmp_path / f"ledger.{fmt}"
    summary = discovery.export_ocel(db, path)
    assert summary.objects == {"process_run": 4, "component": 7, "correlation": 4, "candidate": 2}
    ocel = READERS[fmt](str(path))
    objects = ocel.objects.groupby("ocel:type")["ocel:oid"].count().to_dict()
    assert objects == summary.objects
    assert len(ocel.events) == summary.events == 4 * 2 + 7 * 2  # each started, then ended

    # Flattened on process_run, PM4Py discovers the ledger's directly-follows graph.
    dfg, _, _ = pm4py.discover_dfg(pm4py.ocel_flattening(ocel, "process_run"))
    assert collections.Counter(dfg) == _expected_follows(db, include_dry=False)

    # ... and, on the component starts alone, the relation discovery scoring reports.
    starts = pm4py.filter_ocel_event_attribute(
        ocel,
        "ocel:activity",
        [
            t
            for t in ocel.events["ocel:activity"].unique()
            if t.startswith("DOT_KG") and t.endswith(" started")
        ],
    )
    dfg, _, _ = pm4py.discover_dfg(pm4py.ocel_flattening(starts, "process_run"))
    scored = {
        (f"{e.source} started", f"{e.target} started"): e.count for e in score(db).directly_follows
    }
    assert dfg == scored

    # The object-centric DFG sees every object type.
    assert set(pm4py.discover_ocdfg(ocel)["object_types"]) == {
        "process_run",
        "component",
        "correlation",
        "candidate",
    }

    links = {
        (a, b, q)
        for a, b, q in ocel.o2o[["ocel:oid", "ocel:oid_2", "ocel:qualifier"]].itertuples(
            index=False
        )
    }
    first, child = ledger_rows["first"], ledger_rows["child"]
    assert (f"run:{child.process_run_id}", f"run:{first.process_run_id}", "child_of") in links
    assert (f"run:{first.process_run_id}", f"candidate:{KG}", "instance_of") in links
    assert sum(q == "part_of" for _, _, q in links) == 7


def test_the_sqlite_log_meets_the_relational_scheme(db, ledger_rows, tmp_path):
    path = tmp_path / "ledger.sqlite"
    discovery.export_ocel(db, path)
    _, unsatisfied = ocel20_rel_validation.apply(str(path))
    assert unsatisfied == []
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA foreign_keys = ON")
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []


def test_ids_are_deterministic_and_json_is_stable(db, ledger_rows, tmp_path):
    discovery.export_ocel(db, tmp_path / "a.json")
    discovery.export_ocel(db, tmp_path / "b.json")
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()
    log = json.loads((tmp_path / "a.json").read_text())
    first = ledger_rows["first"]
    ids = {o["id"] for o in log["objects"]}
    assert {
        f"run:{first.process_run_id}",
        f"correlation:{first.correlation_id}",
        f"candidate:{KG}",
    } <= ids
    assert all(e["id"].startswith("event:") for e in log["events"])
    assert {t["name"] for t in log["objectTypes"]} == {
        "process_run",
        "component",
        "correlation",
        "candidate",
    }


def test_scope_candidate_and_dry_runs(db, ledger_rows, tmp_path):
    child, first, dry = ledger_rows["child"], ledger_rows["first"], ledger_rows["dry"]
    summary = discovery.export_ocel(db, tmp_path / "sub.json", candidate=SUB)
    log = json.loads((tmp_path / "sub.json").read_text())
    runs = {o["id"] for o in log["objects"] if o["type"] == "process_run"}
    # The parent is there so child_of resolves, but only the child's transitions are events.
    assert runs == {f"run:{child.process_run_id}", f"run:{first.process_run_id}"}
    assert summary.events == 2 + 2
    assert {
        r["objectId"] for e in log["events"] for r in e["relationships"] if r["qualifier"] == "run"
    } == {f"run:{child.process_run_id}"}
    with_dry = discovery.export_ocel(db, tmp_path / "all.sqlite", include_dry_run=True)
    assert with_dry.objects["process_run"] == 5
    ocel = pm4py.read_ocel2_sqlite(str(tmp_path / "all.sqlite"))
    assert f"run:{dry.process_run_id}" in set(ocel.objects["ocel:oid"])


def test_retention_leaves_the_log_unchanged(db, ledger_rows, tmp_path):
    """Archived runs stay in the log, with their components, transitions and ancestors."""
    scopes = {"all": {"include_dry_run": True}, "sub": {"candidate": SUB}}
    for name, scope in scopes.items():
        discovery.export_ocel(db, tmp_path / f"before-{name}.json", **scope)
    everything_expires = maintenance.RetentionPolicy(
        completed=0, failed=0, cancelled=0, stuck=0, orphan=0
    )
    report = maintenance.run_retention(db, everything_expires, now=T0 + dt.timedelta(days=1))
    assert report.runs == 5 and report.components > 0 and report.history > 0
    with db.read() as conn:
        assert (
            conn.execute(sa.select(sa.func.count()).select_from(process_run_observation)).scalar()
            == 0
        )
    for name, scope in scopes.items():
        after = discovery.export_ocel(db, tmp_path / f"after-{name}.json", **scope)
        assert after.events > 0
        before = (tmp_path / f"before-{name}.json").read_bytes()
        assert (tmp_path / f"after-{name}.json").read_bytes() == before


def test_bad_paths_are_one_line_errors(db, tmp_path):
    with pytest.raises(InvalidInput, match=r"name it \*\.json or \*\.sqlite"):
        discovery.export_ocel(db, tmp_path / "log.csv")
    with pytest.raises(InvalidInput, match="is not a directory"):
        discovery.export_ocel(db, tmp_path / "missing" / "log.json")


def test_an_empty_ledger_is_an_empty_log(db, tmp_path):
    summary = discovery.export_ocel(db, tmp_path / "empty.json")
    assert summary.events == 0 and set(summary.objects.values()) == {0}
    log = json.loads((tmp_path / "empty.json").read_text())
    assert log["events"] == log["objects"] == log["eventTypes"] == []
