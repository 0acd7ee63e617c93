"""Birth is owner-gated, verified-only, audited, and the only writer of its tables."""

import pytest
import sqlalchemy as sa

from procobs_dagster import discovery, ledger
from procobs_dagster.demo.pipeline import run_demo
from procobs_dagster.errors import ApprovalRequired, BirthRefused, InvalidInput, UnknownCandidate
from procobs_dagster.ids import uuid7
from procobs_dagster.ledger.rehearsal import write_probe_run
from procobs_dagster.store import migrate
from procobs_dagster.store.tables import audit_log, birth_registry, process_definition
from procobs_dagster_tests.discovery.helpers import CATALOG, CUT, KG, T0, enqueue, observe, seconds


def _births(db) -> list[dict]:
    with db.read() as conn:
        return [dict(r) for r in conn.execute(sa.select(birth_registry)).mappings()]


def _definitions(db) -> list[dict]:
    with db.read() as conn:
        return [dict(r) for r in conn.execute(sa.select(process_definition)).mappings()]


def _audits(db) -> list[dict]:
    with db.read() as conn:
        return [
            dict(r)
            for r in conn.execute(
                sa.select(audit_log).where(audit_log.c.action == "process.birth")
            ).mappings()
        ]


def _birth(db, code=KG, definition="PROC:kg", approver="alice", catalog=CATALOG):
    with db.begin() as conn:
        return discovery.birth(
            conn,
            catalog,
            code,
            definition_code=definition,
            approved_by=approver,
            at=T0 + seconds(900),
        )


def test_a_verified_candidate_is_born_with_its_evidence_and_audited(db):
    run = observe(db)
    record = _birth(db)
    assert (
        record.proving_run_id == run.process_run_id
        and record.proof_source == "process_run_observation"
    )
    [definition] = _definitions(db)
    assert (
        definition["definition_code"],
        definition["candidate_code"],
        definition["approved_by"],
    ) == ("PROC:kg", KG, "alice")
    [born] = _births(db)
    assert born["proving_run_id"] == run.process_run_id and born["born_at"] == T0 + seconds(900)
    assert born["evidence"]["status"] == "verified_candidate"
    assert born["evidence"]["best_run"]["checks"] == {
        "completed": True,
        "two_components": True,
        "timestamps": True,
    }
    [audit] = _audits(db)
    assert audit["actor"] == "alice" and audit["subject"] == "PROC:kg"
    assert audit["correlation_id"] == run.correlation_id
    assert audit["details"]["proving_run_id"] == str(run.process_run_id)
    with db.read() as conn:
        assert discovery.score_of(conn, CATALOG, KG).definition_code == "PROC:kg"


def test_a_job_backed_candidate_is_born_from_its_job_run(db):
    run_id = uuid7()
    enqueue(db, run_id, ("cut.segment", "completed", 1, 2), ("cut.encode", "completed", 3, 4))
    record = _birth(db, CUT, "PROC:cut")
    assert record.proving_run_id == run_id and record.proof_source == "job_queue"


@pytest.mark.parametrize(
    ("setup", "reason"),
    [
        pytest.param(
            lambda db: None,
            "is runtime_missing, not verified_candidate: no run recorded",
            id="nothing-ran",
        ),
        pytest.param(
            lambda db: observe(db, dry_run=True),
            "is wired, not verified_candidate: dry runs only",
            id="dry-run",
        ),
        pytest.param(
            lambda db: observe(db, steps=[("DOT_KG_EXTRACT", "producer")]),
            "is observed, not verified_candidate: nearest run",
            id="one-component",
        ),
        pytest.param(
            lambda db: observe(db, finish=None), "header is started, not completed", id="running"
        ),
    ],
)
def test_anything_short_of_verified_is_refused_and_writes_nothing(db, setup, reason):
    setup(db)
    with pytest.raises(BirthRefused, match=reason):
        _birth(db)
    assert _definitions(db) == [] and _births(db) == [] and _audits(db) == []


def test_birth_needs_an_approver_a_good_code_and_happens_once(db):
    observe(db)
    with pytest.raises(ApprovalRequired, match="owner-gated"):
        _birth(db, approver="  ")
    with pytest.raises(InvalidInput, match="definition code 'has space'"):
        _birth(db, definition="has space")
    with pytest.raises(InvalidInput, match="looks like a candidate code"):
        _birth(db, definition="PROC-CAND:dot:kg")
    with pytest.raises(UnknownCandidate):
        _birth(db, code="PROC-CAND:dot:nope")
    _birth(db)
    with pytest.raises(BirthRefused, match="already born as PROC:kg"):
        _birth(db, definition="PROC:kg2")
    observe(db, "PROC-CAND:dot:other")
    with pytest.raises(
        BirthRefused, match="definition code PROC:kg already names PROC-CAND:dot:kg"
    ):
        _birth(db, code="PROC-CAND:dot:other")
    assert len(_births(db)) == 1 and len(_audits(db)) == 1


def test_birth_records_are_never_rewritten(db):
    observe(db)
    _birth(db)
    for statement in (
        birth_registry.update().values(approved_by="mallory"),
        birth_registry.delete(),
    ):
        with pytest.raises(sa.exc.DatabaseError, match="append-only"), db.begin() as conn:
            conn.execute(statement)
    assert _births(db)[0]["approved_by"] == "alice"


def test_observing_scoring_and_exporting_never_birth(db, tmp_path):
    """Observation is never a birth (docs/design.md, "Observation is never a birth"). The
    whole pipeline — ledger writes of every kind, a job run, the demo, scoring, the OCEL
    export, the rehearsal — leaves process_definition and birth_registry as they were
    (empty)."""
    parent = observe(db)
    observe(db, at=T0 + seconds(60), parent_run_id=parent.process_run_id)
    observe(db, dry_run=True, at=T0 + seconds(120))
    observe(db, finish="failed", at=T0 + seconds(180))
    enqueue(db, uuid7(), ("cut.segment", "completed", 1, 2), ("cut.encode", "completed", 3, 4))
    run_demo(db)
    with db.begin() as conn:
        ledger.finish_run(conn, ledger.start_run(conn, candidate_code=KG)[0].process_run_id)
        discovery.score_candidates(conn, CATALOG)
        write_probe_run(conn)
    discovery.export_ocel(db, tmp_path / "log.json", include_dry_run=True)
    discovery.export_ocel(db, tmp_path / "log.sqlite")
    assert migrate.rehearse(db, write_probe_run)["changed"] == []
    assert _definitions(db) == [] and _births(db) == []
    with db.read() as conn:
        statuses = {s.candidate_code: s.status for s in discovery.compute_scores(conn, CATALOG)}
    assert statuses[KG] == statuses[CUT] == "verified_candidate"  # verified, yet unborn
