"""Reading the registry, and the registry and outbox counts the dashboards show."""

from procobs_dagster.events import audit, registry, runtime, summary
from procobs_dagster.ledger import tracking
from procobs_dagster_tests.events.helpers import set_active, set_emission

RUN_STARTED = "process.run.started"
RUN_COMPLETED = "process.run.completed"


def test_no_type_is_active_until_an_owner_activates_it(db):
    with db.read() as conn:
        assert registry.active_event_types(conn) == []
        every = registry.registered_types(conn)
        dossier = registry.registered_types(conn, family="dossier")
    assert len(every) > len(dossier) > 0
    assert {t.family for t in dossier} == {"dossier"}
    assert [(t.family, t.event_type) for t in every] == sorted(
        (t.family, t.event_type) for t in every
    )


def test_active_types_by_name_and_among_a_subset(db):
    set_active(db, RUN_STARTED, RUN_COMPLETED)
    with db.read() as conn:
        active = registry.active_event_types(conn)
        among = registry.active_event_types(conn, among=[RUN_STARTED, "process.step.started"])
    assert [t.event_type for t in active] == [RUN_COMPLETED, RUN_STARTED]
    assert all(t.active and t.family == "process" for t in active)
    assert [t.event_type for t in among] == [RUN_STARTED]


def test_registry_summary_counts_each_family_and_reads_the_switches(db):
    set_active(db, RUN_STARTED)
    set_emission(db, False)
    with db.read() as conn:
        counts = summary.registry_summary(conn)
        every = registry.registered_types(conn)
        dry_run_only = runtime.dry_run_only(conn)
    assert counts.types == len(every)
    assert [f.family for f in counts.by_family] == sorted({t.family for t in every})
    for family in counts.by_family:
        mine = [t for t in every if t.family == family.family]
        assert family.types == len(mine)
        assert family.active == sum(t.active for t in mine)
        assert family.immediate_lane == sum(t.lane == "immediate" for t in mine)
    assert [t.event_type for t in counts.active] == [RUN_STARTED]
    assert (counts.emit_enabled, counts.dry_run_only) == (False, dry_run_only)


def test_outbox_summary_counts_the_rows_each_run_wrote(db):
    with db.read() as conn:
        empty = summary.outbox_summary(conn)
    assert (empty.rows, empty.newest_seq, empty.by_event_type) == (0, 0, [])
    set_active(db, RUN_STARTED, RUN_COMPLETED)
    with db.begin() as conn:
        first, _ = tracking.open_run(conn, candidate_code="PROC-CAND:a")
        tracking.close_run(conn, first.process_run_id)
        second, _ = tracking.open_run(conn, candidate_code="PROC-CAND:a")
    with db.read() as conn:
        counts = summary.outbox_summary(conn)
        of_first = summary.outbox_rows_by_type(conn, first.process_run_id)
        of_second = summary.outbox_rows_by_type(conn, second.process_run_id)
    assert [(t.event_type, t.rows) for t in counts.by_event_type] == [
        (RUN_COMPLETED, 1),
        (RUN_STARTED, 2),
    ]
    assert counts.rows == 3 and counts.newest_seq >= 3
    assert of_first == {RUN_COMPLETED: 1, RUN_STARTED: 1}
    assert of_second == {RUN_STARTED: 1}


def test_newest_audit_rows_come_first_and_filter_by_action(db):
    with db.begin() as conn:
        runtime.set_emission(conn, False, approved_by="alice")
        runtime.set_emission(conn, True, approved_by="bob")
        audit.record(conn, actor="carol", action="other.action")
    with db.read() as conn:
        newest = audit.newest(conn, limit=2)
        switches = audit.newest(conn, limit=10, action="runtime.switch")
    assert [r["actor"] for r in newest] == ["carol", "bob"]
    assert [r["actor"] for r in switches] == ["bob", "alice"]
