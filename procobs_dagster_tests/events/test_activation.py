"""Owner-gated activation packets and the runtime switches."""

import json
import re
import threading

import pytest
import sqlalchemy as sa

from procobs_dagster.errors import ApprovalRequired, InvalidInput
from procobs_dagster.events import UnknownEventType, activation, runtime
from procobs_dagster.events.activation import InvalidPacket, PacketAlreadyApplied, StalePacket
from procobs_dagster.store.tables import audit_log, event_type_registry
from procobs_dagster_tests.concurrency import wait_for_lock_waiter
from procobs_dagster_tests.events.helpers import set_active

UPDATE_STREAM_TYPES = [
    "process.run.started",
    "process.run.completed",
    "process.step.started",
    "process.step.completed",
]


def _registry(db) -> dict[str, bool]:
    with db.read() as conn:
        rows = conn.execute(
            sa.select(event_type_registry.c.event_type, event_type_registry.c.active)
        )
        return {t: bool(a) for t, a in rows}


def _audit(db) -> list[dict]:
    with db.read() as conn:
        return [dict(r) for r in conn.execute(sa.select(audit_log)).mappings()]


def _stage(db, types=UPDATE_STREAM_TYPES, **kwargs):
    with db.read() as conn:
        return activation.stage(conn, types, **kwargs)


def _apply(db, packet, approved_by="alice"):
    with db.begin() as conn:
        return activation.apply(conn, packet, approved_by=approved_by)


def test_staging_describes_the_change_and_changes_nothing(db):
    before = _registry(db)
    packet = _stage(db)
    assert [(c.event_type, c.current_active, c.proposed_active) for c in packet.changes] == [
        (t, False, True) for t in UPDATE_STREAM_TYPES
    ]
    assert packet.emit_enabled is True
    assert {c.stream for c in packet.changes} == {"update"}
    assert _registry(db) == before and _audit(db) == []
    assert activation.Packet.from_json(packet.to_json()) == packet


def test_applying_with_an_approver_activates_exactly_the_packet_and_audits_it(db):
    packet = _stage(db)
    _apply(db, packet)
    registry = _registry(db)
    assert sorted(t for t, active in registry.items() if active) == sorted(UPDATE_STREAM_TYPES)
    (row,) = _audit(db)
    assert row["actor"] == "alice" and row["action"] == "activation.applied"
    assert row["subject"] == f"activation-packet/{packet.packet_id}"
    assert row["details"]["changes"] == dict.fromkeys(UPDATE_STREAM_TYPES, True)
    with db.read() as conn:
        updated_by = conn.execute(
            sa.select(event_type_registry.c.updated_by).where(
                event_type_registry.c.event_type == "process.run.started"
            )
        ).scalar_one()
    assert updated_by == "alice"


@pytest.mark.parametrize("approver", [None, "", "   "])
def test_applying_without_an_approver_is_refused_and_writes_nothing(db, approver):
    packet = _stage(db)
    with pytest.raises(ApprovalRequired, match="--approved-by"):
        _apply(db, packet, approved_by=approver)
    assert not any(_registry(db).values()) and _audit(db) == []


def test_a_packet_applied_twice_is_refused_by_name(db):
    packet = _stage(db)
    _apply(db, packet)
    with pytest.raises(PacketAlreadyApplied, match="already applied by alice"):
        _apply(db, packet, approved_by="bob")
    assert len(_audit(db)) == 1


def test_a_stale_packet_is_refused_whole(db):
    packet = _stage(db)
    set_active(db, "process.step.started")  # someone else changed the registry meanwhile
    with pytest.raises(StalePacket, match=re.escape("process.step.started is active")):
        _apply(db, packet)
    assert [t for t, active in _registry(db).items() if active] == ["process.step.started"]
    assert _audit(db) == []


def test_deactivation_packets_round_trip(db):
    _apply(db, _stage(db))
    packet = _stage(db, ["process.run.started"], active=False)
    _apply(db, packet)
    assert not _registry(db)["process.run.started"]


def test_staging_refuses_unknown_types_already_set_types_and_nothing(db):
    with pytest.raises(UnknownEventType, match=re.escape("process.run.exploded")):
        _stage(db, ["process.run.started", "process.run.exploded"])
    set_active(db, "process.run.started")
    with pytest.raises(
        InvalidInput, match=re.escape("already active, nothing to stage: process.run.started")
    ):
        _stage(db, ["process.run.started"])
    with pytest.raises(InvalidInput, match="at least one"):
        _stage(db, [])


def test_a_packet_naming_a_type_that_does_not_exist_is_refused_and_writes_nothing(db):
    packet = _stage(db)
    forged = packet.model_copy(
        update={
            "changes": [*packet.changes, packet.changes[0].model_copy(update={"event_type": "x.y"})]
        }
    )
    with pytest.raises(UnknownEventType, match=re.escape("x.y")):
        _apply(db, forged)
    assert not any(_registry(db).values()) and _audit(db) == []


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("not json", "not an activation packet"),
        ('{"format": "procobs.activation-packet/1"}', "packet_id: Field required"),
        ("{}", "format: Field required"),
        ('{"format": "other/1"}', "format: Input should be"),
    ],
)
def test_malformed_packets_are_refused(text, problem):
    with pytest.raises(InvalidPacket, match=problem):
        activation.Packet.from_json(text)


def test_a_packet_is_read_strictly_not_coerced(db):
    # A hand-edited packet says exactly what was staged: "yes" or 1 is no boolean.
    document = _stage(db).model_dump(mode="json")
    for forged in ("yes", 1):
        with pytest.raises(InvalidPacket, match="emit_enabled: Input should be a valid boolean"):
            activation.Packet.from_json(json.dumps({**document, "emit_enabled": forged}))
    assert activation.Packet.from_json(json.dumps(document)).model_dump(mode="json") == document


def test_a_packet_listing_a_type_twice_is_refused(db):
    document = _stage(db).model_dump(mode="json")
    document["changes"].append(document["changes"][0])
    with pytest.raises(InvalidPacket, match=re.escape("more than once: process.run.started")):
        activation.Packet.from_json(json.dumps(document))


@pytest.mark.parametrize("switch", runtime.SWITCHES, ids=lambda s: s.name)
def test_switches_are_owner_gated_audited_and_idempotent(db, switch):
    with db.read() as conn:
        initial = runtime.read(conn, switch).value
    with pytest.raises(ApprovalRequired), db.begin() as conn:
        runtime.set_switch(conn, switch, not initial, approved_by=None)
    with db.begin() as conn:
        change = runtime.set_switch(conn, switch, not initial, approved_by="carol")
    assert change.changed and (change.before, change.after) == (initial, not initial)
    with db.begin() as conn:
        assert not runtime.set_switch(conn, switch, not initial, approved_by="carol").changed
    with db.read() as conn:
        state = runtime.read(conn, switch)
    assert state.value is (not initial) and state.updated_by == "carol"
    (row,) = _audit(db)
    assert row["actor"] == "carol" and row["subject"] == switch.name
    assert row["details"] == {"setting": switch.name, "from": initial, "to": not initial}


def test_two_owners_applying_the_same_packet_at_once_change_the_registry_once(postgres_db):
    db = postgres_db
    packet = _stage(db)
    outcome = {}

    def second_owner():
        try:
            _apply(db, packet, approved_by="bob")
        except StalePacket as exc:
            outcome["refused"] = exc

    with db.begin() as conn:
        activation.apply(conn, packet, approved_by="alice")
        racer = threading.Thread(target=second_owner)
        racer.start()
        wait_for_lock_waiter(db)  # bob waits on the rows alice is changing
    racer.join()
    assert "is stale" in str(outcome["refused"])
    assert [r["actor"] for r in _audit(db)] == ["alice"]
    assert sorted(t for t, active in _registry(db).items() if active) == sorted(UPDATE_STREAM_TYPES)
