"""Dagster runs as plain values: the mapping to reports, what a reading reads and where it
stops, procobs's own runs, the cursor, and the raw reports replayed into the same ledger."""

import datetime as dt

import pytest
import sqlalchemy as sa

from procobs_dagster.discovery.catalog import EMPTY_CATALOG
from procobs_dagster.errors import InvalidInput
from procobs_dagster.events import ProcessEventType, activation
from procobs_dagster.sources import dagster_runs, workflow_ledger
from procobs_dagster.sources.dagster_runs import (
    DagsterRun,
    Materialization,
    Position,
    ProcobsLocation,
    RecordsPage,
    RunChange,
    RunChangeKind,
    StepRecord,
    StepRecordKind,
)
from procobs_dagster.sources.workflow_runs import EventKind, JobRef
from procobs_dagster.store.tables import event_outbox
from procobs_dagster_tests.sources.helpers import T0, ledger_snapshot

PROCOBS = ProcobsLocation("procobs_dagster", frozenset({"delivery_job", "__ASSET_JOB"}))


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


class FakeLog:
    """An event log of whole runs: each a start, its steps' records, an end. Counts what
    is asked of it, so a test can see every read is bounded."""

    def __init__(self):
        self.changes: list[RunChange] = []
        self.records: dict[str, list[StepRecord]] = {}
        self.next_id = 1
        self.asked: list[int] = []

    def _id(self) -> int:
        self.next_id += 1
        return self.next_id

    def add_run(self, run: DagsterRun, steps: list[tuple], end=RunChangeKind.SUCCESS, t=0):
        """``steps``: (step key, [materialisations…], failed?) in order."""
        self.changes.append(RunChange(self._id(), RunChangeKind.START, at(t), run))
        records = []
        for n, (step, materializations, failed) in enumerate(steps):
            t0 = t + 10 * n + 1
            records.append(StepRecord(self._id(), StepRecordKind.START, step, at(t0)))
            for m in materializations:
                records.append(
                    StepRecord(
                        self._id(), StepRecordKind.MATERIALIZATION, step, at(t0 + 1), None, m
                    )
                )
            kind = StepRecordKind.FAILURE if failed else StepRecordKind.SUCCESS
            records.append(
                StepRecord(self._id(), kind, step, at(t0 + 2), "ValueError: no" if failed else None)
            )
        self.records[run.run_id] = records
        message = "run failed" if end is RunChangeKind.FAILURE else None
        self.changes.append(RunChange(self._id(), end, at(t + 100), run, message))

    def run_changes(self, after, limit):
        self.asked.append(limit)
        return [c for c in self.changes if c.storage_id > after][:limit]

    def run_records(self, run_id, cursor, limit):
        self.asked.append(limit)
        after = -1 if cursor is None else int(cursor)
        found = [r for r in self.records[run_id] if r.storage_id > after]
        page = tuple(found[:limit])
        last = page[-1].storage_id if page else after
        return RecordsPage(page, str(last), len(found) > limit)


def orders_run(run_id="run-1", location="warehouse", parent=None) -> DagsterRun:
    return DagsterRun(run_id, "nightly_orders", location, "snap-1", parent)


TWO_STEPS = [
    ("extract", [Materialization("raw_orders", None, 3)], False),
    ("load", [Materialization("orders", None, 3), Materialization("totals", "2026-03-05")], False),
]


def test_a_run_and_its_steps_map_to_workflow_reports():
    log = FakeLog()
    log.add_run(orders_run(), TWO_STEPS)
    reading = dagster_runs.read(log, Position(), budget=100, procobs=PROCOBS)
    assert reading.caught_up and reading.runs == 2 and reading.unannounced == []
    events = reading.announced
    header = JobRef("dagster/warehouse", "nightly_orders")
    start, *steps, end = events
    assert (start.run_key, start.kind, start.job, start.whole_workflow) == (
        "run-1",
        EventKind.START,
        header,
        True,
    )
    assert start.code == {"dagster_job_snapshot_id": "snap-1"}
    assert (end.kind, end.event_time) == (EventKind.COMPLETE, at(100))
    assert [(e.run_key, e.kind) for e in steps] == [
        ("run-1/extract", EventKind.START),
        ("run-1/extract", EventKind.OTHER),
        ("run-1/extract", EventKind.COMPLETE),
        ("run-1/load", EventKind.START),
        ("run-1/load", EventKind.OTHER),  # the two tables at one instant: one report
        ("run-1/load", EventKind.COMPLETE),
    ]
    assert {e.job.name for e in steps} == {"nightly_orders.extract", "nightly_orders.load"}
    assert {e.parent.run_key for e in steps} == {"run-1"}
    assert steps[4].outputs == {"orders": {"row_count": 3}, "totals[2026-03-05]": {}}


def test_a_failed_step_and_run_carry_their_errors():
    log = FakeLog()
    log.add_run(orders_run(), [("extract", [], True)], end=RunChangeKind.FAILURE)
    events = dagster_runs.read(log, Position(), budget=100, procobs=PROCOBS).announced
    assert [(e.kind, e.error) for e in events] == [
        (EventKind.START, None),
        (EventKind.START, None),
        (EventKind.FAIL, "ValueError: no"),
        (EventKind.FAIL, "run failed"),
    ]


def test_a_re_execution_names_its_parent_unless_one_of_them_is_procobs():
    first = orders_run("run-1")
    again = orders_run("run-2", parent=first)
    change = RunChange(9, RunChangeKind.START, at(0), again)
    event = dagster_runs.parse(dagster_runs.run_document(change, PROCOBS))
    assert event.parent.run_key == "run-1" and event.whole_workflow
    # procobs's own runs never wait for a parent: they name none.
    own = DagsterRun("run-4", "delivery_job", None, parent=DagsterRun("run-3", "delivery_job"))
    change = RunChange(9, RunChangeKind.START, at(0), own)
    assert dagster_runs.parse(dagster_runs.run_document(change, PROCOBS)).parent is None


@pytest.mark.parametrize(
    ("run", "owned"),
    [
        (DagsterRun("r", "delivery_job", "procobs_dagster"), True),
        (DagsterRun("r", "anything", "procobs_dagster"), True),
        (DagsterRun("r", "delivery_job", "warehouse"), False),
        (DagsterRun("r", "delivery_job", None), True),
        (DagsterRun("r", "__ASSET_JOB", None), True),
        (DagsterRun("r", "nightly_orders", None), False),
    ],
)
def test_procobs_own_runs_by_location_else_by_job_name(run, owned):
    assert PROCOBS.owns(run) is owned


def test_own_runs_are_left_out_or_kept_apart():
    log = FakeLog()
    log.add_run(DagsterRun("own", "delivery_job", "procobs_dagster"), [("deliver", [], False)])
    log.add_run(orders_run(), TWO_STEPS)
    left_out = dagster_runs.read(log, Position(), budget=100, procobs=PROCOBS)
    assert (left_out.own_left_out, left_out.unannounced) == (2, [])
    assert {e.run_key.split("/")[0] for e in left_out.announced} == {"run-1"}
    observed = dagster_runs.read(log, Position(), budget=100, procobs=PROCOBS, observe_own=True)
    assert {e.run_key for e in observed.unannounced} == {"own", "own/deliver"}
    assert [e.job.namespace for e in observed.unannounced][:1] == ["dagster/procobs_dagster"]


def test_runs_gone_from_the_instance_and_names_refused_are_counted_and_passed():
    log = FakeLog()
    log.changes.append(RunChange(2, RunChangeKind.SUCCESS, at(0), None))
    bad = DagsterRun("bad", "job\x07", "warehouse")
    log.changes.append(RunChange(3, RunChangeKind.START, at(0), bad))
    reading = dagster_runs.read(log, Position(), budget=100, procobs=PROCOBS)
    assert (reading.gone, reading.refused, reading.reports) == (1, 1, 0)
    assert reading.position == Position(3)


@pytest.mark.parametrize("budget", [1, 2, 3, 5, 8, 13])
def test_a_bounded_reading_resumes_where_it_stopped(budget):
    log = FakeLog()
    for n in range(3):
        log.add_run(orders_run(f"run-{n}"), TWO_STEPS, t=1000 * n)
    whole = dagster_runs.read(log, Position(), budget=1000, procobs=PROCOBS).announced
    position, got, readings = Position(), [], 0
    while True:
        log.asked.clear()
        reading = dagster_runs.read(log, position, budget=budget, procobs=PROCOBS)
        readings += 1
        # At most the budget, plus what a reading must read to move on: one record of a
        # run, or all the materialisations of one instant (two here).
        assert reading.records <= budget + 2
        assert all(limit <= max(budget, 2) * 2 for limit in log.asked)
        got += reading.announced
        position = Position.decode(reading.position.encode())
        if reading.caught_up:
            break
        assert readings < 100
    # Runs read in pieces report what a whole reading does; a run end is read again only
    # when a reading stopped inside its run (the report is then a duplicate).
    assert {(e.run_key, e.kind, e.event_time, repr(e.outputs)) for e in got} == {
        (e.run_key, e.kind, e.event_time, repr(e.outputs)) for e in whole
    }


@pytest.mark.parametrize("budget", range(1, 9))
def test_a_page_never_splits_the_materialisations_of_one_instant(budget):
    log = FakeLog()
    many = [Materialization(f"t{i}", None, i) for i in range(5)]
    log.add_run(orders_run(), [("load", many, False)])
    # START, 5 materialisations at one instant, SUCCESS: whatever the budget, the five are
    # one report — a page ends before them, or right after them when they fill it.
    position, others = Position(), []
    for _ in range(20):
        reading = dagster_runs.read(log, position, budget=budget, procobs=PROCOBS)
        others += [e for e in reading.announced if e.kind is EventKind.OTHER]
        position = reading.position
        if reading.caught_up:
            break
    assert len({e.event_time for e in others}) == 1
    assert all(sorted(e.outputs) == [f"t{i}" for i in range(5)] for e in others)


@pytest.mark.parametrize(
    "cursor",
    [
        "not json",
        "[1]",
        '{"after": "1"}',
        '{"after": 1, "x": 2}',
        '{"after": 1, "records": 5}',
        # Set by hand past 64 bits, it reached the event log's query (OverflowError).
        '{"after": 9223372036854775808}',
        '{"after": -2}',
        '{"after": 1, "reading": 99999999999999999999999}',
        '{"after": 1, "records": "' + "x" * 100_000 + '"}',
    ],
)
def test_a_cursor_not_written_by_the_sensor_is_refused(cursor):
    with pytest.raises(InvalidInput, match="not one this sensor wrote"):
        Position.decode(cursor)


def test_the_cursor_round_trips():
    position = Position(41, 44, "abc")
    assert Position.decode(position.encode()) == position
    assert Position.decode(None) == Position() == Position.decode("")


def test_row_counts_read_from_metadata():
    assert dagster_runs.row_count({"dagster/row_count": 7, "row_count": 9}) == 7
    assert dagster_runs.row_count({"row_count": 9}) == 9
    assert dagster_runs.row_count({"row_count": -1}) is None
    assert dagster_runs.row_count({"row_count": "9", "dagster/row_count": True}) is None


def test_recorded_replayed_and_own_runs_silent(db):
    log = FakeLog()
    log.add_run(orders_run(), TWO_STEPS)
    log.add_run(DagsterRun("own", "delivery_job", "procobs_dagster"), [("deliver", [], False)])
    reading = dagster_runs.read(log, Position(), budget=100, procobs=PROCOBS, observe_own=True)
    with db.begin() as conn:
        packet = activation.stage(conn, [t.value for t in ProcessEventType])
        activation.apply(conn, packet, approved_by="test")
    report = dagster_runs.record(db, reading, catalog=EMPTY_CATALOG)
    assert (report.runs_placed, report.components_placed) == (2, 3)
    with db.read() as conn:
        before = ledger_snapshot(conn)
        correlations = set(conn.execute(sa.select(event_outbox.c.correlation_id)).scalars())
    assert correlations == {"dagster:run-1"}  # procobs's own run announced nothing
    assert before["run-1"]["status"] == before["own"]["status"] == "completed"
    assert dagster_runs.reported_by_dagster("dagster:run-1")
    assert not dagster_runs.reported_by_dagster("openlineage:run-1")

    replayed = workflow_ledger.replay(
        db, source=dagster_runs.SOURCE, parse=dagster_runs.parse, catalog=EMPTY_CATALOG
    )
    assert (replayed.runs, replayed.unreadable) == (5, 0)
    with db.read() as conn:
        assert ledger_snapshot(conn) == before
    # Recording the same reading again records nothing twice.
    again = dagster_runs.record(db, reading, catalog=EMPTY_CATALOG)
    assert again.events == 0 and again.duplicates == reading.reports
