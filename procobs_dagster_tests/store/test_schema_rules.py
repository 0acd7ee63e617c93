"""Rules the database itself enforces, whatever code writes to it."""

import uuid

import pytest
import sqlalchemy as sa

from procobs_dagster.clock import utcnow
from procobs_dagster.store.tables import (
    event_type_registry,
    process_component_observation,
    process_run_observation,
    process_status_history,
)


def _run_values(**overrides):
    values = dict(
        process_run_id=uuid.uuid4(),
        process_candidate_code="PROC-CAND:x",
        correlation_id="c-1",
        status="started",
        source_system="dot_runtime",
        started_at=utcnow(),
        created_at=utcnow(),
    )
    values.update(overrides)
    return values


def _insert(db, table, values):
    with db.begin() as conn:
        conn.execute(table.insert().values(values))


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({"status": "running"}, id="unknown-status"),
        pytest.param({"source_system": "cron"}, id="unknown-source"),
        pytest.param({"status": "completed"}, id="terminal-without-ended_at"),
        pytest.param({"ended_at": utcnow()}, id="ended_at-on-non-terminal"),
        pytest.param({"source_system": "dry_run"}, id="dry-run-without-flag"),
        pytest.param({"evidence_ref": {"dry_run": True}}, id="real-run-flagged-dry"),
    ],
)
def test_check_constraints_refuse_bad_runs(db, overrides):
    with pytest.raises(sa.exc.IntegrityError):
        _insert(db, process_run_observation, _run_values(**overrides))
    with db.read() as conn:
        assert (
            conn.execute(sa.select(sa.func.count()).select_from(process_run_observation)).scalar()
            == 0
        )


def test_a_flagged_dry_run_is_accepted(db):
    _insert(
        db,
        process_run_observation,
        _run_values(source_system="dry_run", evidence_ref={"dry_run": True}),
    )


def test_no_anonymous_components(db):
    with pytest.raises(sa.exc.IntegrityError):
        _insert(
            db,
            process_component_observation,
            dict(
                component_run_id=uuid.uuid4(),
                correlation_id="c",
                status="started",
                source_system="dot_runtime",
                created_at=utcnow(),
            ),
        )


def test_idempotency_key_is_unique_but_null_is_not(db):
    _insert(db, process_run_observation, _run_values(idempotency_key="k"))
    _insert(db, process_run_observation, _run_values())
    _insert(db, process_run_observation, _run_values())
    with pytest.raises(sa.exc.IntegrityError):
        _insert(db, process_run_observation, _run_values(idempotency_key="k"))


def test_status_history_is_append_only(db):
    row = dict(
        subject_kind="run",
        subject_id=uuid.uuid4(),
        to_status="started",
        changed_at=utcnow(),
    )
    _insert(db, process_status_history, row)
    with pytest.raises(sa.exc.DatabaseError, match="append-only"), db.begin() as conn:
        conn.execute(process_status_history.update().values(to_status="completed"))


def test_registry_is_seeded_inactive(db):
    with db.read() as conn:
        rows = conn.execute(sa.select(event_type_registry)).mappings().all()
    families = {}
    for row in rows:
        families[row["family"]] = families.get(row["family"], 0) + 1
        assert row["active"] is False
    assert families == {"process": 7, "dossier": 4, "domain": 38}
