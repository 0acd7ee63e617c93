"""The owner-gated birth of a process definition (docs/design.md, "Observation is never a birth").

Birth is the only writer of ``process_definition`` and ``birth_registry``. It names an
approver, recomputes the candidate's verdict inside the same transaction, and refuses
anything short of ``verified_candidate``. The registry row keeps the evidence as it stood
at birth; the audit log records who approved it and when.
"""

import dataclasses
import datetime as dt
import re
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from procobs_dagster import limits
from procobs_dagster.clock import utcnow
from procobs_dagster.discovery.catalog import Catalog
from procobs_dagster.discovery.results import VERIFIED
from procobs_dagster.discovery.scoring import score_of
from procobs_dagster.errors import BirthRefused, InvalidInput
from procobs_dagster.events import audit
from procobs_dagster.store.dialect import insert_ignoring_conflicts
from procobs_dagster.store.tables import birth_registry, process_definition

BIRTH_ACTION = "process.birth"
DEFINITION_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,199}$")


@dataclasses.dataclass(frozen=True)
class Birth:
    definition_code: str
    candidate_code: str
    proving_run_id: uuid.UUID
    proof_source: str
    approved_by: str
    born_at: dt.datetime
    evidence: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {
            **dataclasses.asdict(self),
            "proving_run_id": str(self.proving_run_id),
            "born_at": self.born_at.isoformat(),
        }


def _check_definition_code(code: str) -> str:
    if not isinstance(code, str) or not DEFINITION_CODE.fullmatch(code):
        raise InvalidInput(
            f"definition code {limits.shown(code)} must be 1-200 letters, digits or _ . : -"
            " (e.g. PROC:kg)"
        )
    if code.startswith("PROC-CAND:"):
        raise InvalidInput(
            f"definition code {limits.shown(code)} looks like a candidate code: choose a PROC:…"
            " name"
        )
    return code


def birth(
    conn: Connection,
    catalog: Catalog,
    candidate_code: str,
    *,
    definition_code: str,
    approved_by: str | None,
    at: dt.datetime | None = None,
) -> Birth:
    """Create the process definition of a verified candidate, its birth record and the
    audit entry, in the caller's transaction; refuse (writing nothing) otherwise."""
    limits.check_identifier(candidate_code, "candidate code")
    approver = audit.require_approver(approved_by, f"birth of {candidate_code}")
    definition_code = _check_definition_code(definition_code)
    born_at = utcnow() if at is None else limits.check_timestamp(at, "born_at")
    existing = conn.execute(
        sa.select(process_definition.c.definition_code).where(
            process_definition.c.candidate_code == candidate_code
        )
    ).scalar()
    if existing is not None:
        raise BirthRefused(f"{candidate_code} was already born as {existing}")
    score = score_of(conn, catalog, candidate_code)
    if score.status != VERIFIED:
        raise BirthRefused(
            f"{candidate_code} is {score.status}, not verified_candidate: {score.summary}"
        )
    evidence = {**score.as_dict(), "scored_at": born_at.isoformat()}
    created = conn.execute(
        insert_ignoring_conflicts(conn.dialect.name, process_definition).returning(
            process_definition.c.definition_code
        ),
        {
            "definition_code": definition_code,
            "candidate_code": candidate_code,
            "created_at": born_at,
            "approved_by": approver,
        },
    ).scalar()
    if created is None:
        # A concurrent birth won, or the code names another candidate's definition.
        holder = conn.execute(
            sa.select(process_definition.c.candidate_code).where(
                process_definition.c.definition_code == definition_code
            )
        ).scalar()
        if holder is not None and holder != candidate_code:
            raise BirthRefused(f"definition code {definition_code} already names {holder}")
        raise BirthRefused(f"{candidate_code} was born concurrently by another approval")
    record = Birth(
        definition_code=definition_code,
        candidate_code=candidate_code,
        proving_run_id=score.proving_run_id,
        proof_source=score.proof_source,
        approved_by=approver,
        born_at=born_at,
        evidence=evidence,
    )
    conn.execute(
        birth_registry.insert(),
        {**dataclasses.asdict(record)},
    )
    audit.record(
        conn,
        actor=approver,
        action=BIRTH_ACTION,
        correlation_id=score.best_trace.correlation_id,
        subject=definition_code,
        details={
            "candidate_code": candidate_code,
            "definition_code": definition_code,
            "proving_run_id": str(score.proving_run_id),
            "proof_source": score.proof_source,
            "verified_runs": score.verified_runs,
            "support": score.support,
        },
        at=born_at,
    )
    return record
