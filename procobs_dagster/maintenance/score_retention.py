"""Retention of discovery scores: each candidate keeps its newest
``scores_per_candidate`` scorings (its latest is its current verdict, and always stays);
older rows are deleted. Deleted, not archived: a score is recomputed from the ledger by
every scoring, and a birth keeps the verdict it was born on (``birth_registry.evidence``).

A scoring writes one row per candidate with one ``computed_at``, and there is one at every
refresh tick, so the table grows with candidates times ticks. Rows of the last
``scores_per_candidate`` scorings are always kept (no candidate can have that many newer
ones), so the walk reads only rows older than the N-th newest distinct ``computed_at`` —
found by N index probes (a loose index scan on ``ix_discovery_score_computed_at``) — oldest
first (``ix_discovery_score_computed_at_score_id``), so each run examines only the rows
that may go plus those of candidates scored rarely. Whether an examined row is beyond its
candidate's newest N is a probe of ``ix_discovery_score_candidate_code_computed_at_score_id``
reading at most N entries. Rows are claimed ``FOR UPDATE SKIP LOCKED`` (Postgres).
"""

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from procobs_dagster.maintenance._pruning import (
    PruneBatch,
    PruneJob,
    TablePolicy,
    lock,
    walk,
)
from procobs_dagster.store.batches import DEFAULT_BATCH
from procobs_dagster.store.dialect import among
from procobs_dagster.store.tables import discovery_score

JOB = "retention: discovery scores"
d = discovery_score

# The N-th newest distinct computed_at: N probes of the computed_at index, each for the
# newest value below the one before (neither database skips through an index on its own).
_NTH_NEWEST_SCORING = sa.text(
    """
WITH RECURSIVE scoring(at, depth) AS (
    SELECT (SELECT max(computed_at) FROM discovery_score), 1
    UNION ALL
    SELECT (SELECT max(computed_at) FROM discovery_score WHERE computed_at < scoring.at),
           depth + 1
    FROM scoring
    WHERE depth < :kept AND scoring.at IS NOT NULL
)
SELECT at FROM scoring WHERE depth = :kept
"""
).columns(at=d.c.computed_at.type)


def nth_newest_scoring(conn: Connection, kept: int) -> dt.datetime | None:
    """When the ``kept``-th newest scoring ran; None when there were fewer."""
    return conn.execute(_NTH_NEWEST_SCORING, {"kept": kept}).scalar()


def prune_score_batch(
    conn: Connection,
    policy: TablePolicy,
    *,
    now: dt.datetime,
    after: tuple[dt.datetime, int] | None = None,
    limit: int = DEFAULT_BATCH,
    dry_run: bool = False,
) -> PruneBatch:
    """One batch, in the caller's transaction: examine up to ``limit`` score rows older
    than the ``scores_per_candidate``-th newest scoring, oldest first from position
    ``after`` ((computed_at, score_id)), and delete those beyond their candidate's newest
    ``scores_per_candidate``."""
    kept = policy.scores_per_candidate
    if kept is None:
        return PruneBatch(last_key=None)
    boundary = nth_newest_scoring(conn, kept)
    if boundary is None:
        return PruneBatch(last_key=None)
    dialect = conn.dialect.name
    found, last_key = walk(
        conn, d.c.score_id, after=after, limit=limit, aged=(d.c.computed_at, boundary)
    )
    examined = [row.score_id for row in found]
    if not examined:
        return PruneBatch(last_key=None)
    old = d.alias("old")
    nth_newer = (
        sa.select(1)
        .where(
            d.c.candidate_code == old.c.candidate_code,
            d.c.computed_at >= old.c.computed_at,
            sa.or_(d.c.computed_at > old.c.computed_at, d.c.score_id > old.c.score_id),
        )
        # Ordered like the index, so Postgres walks it and stops after ``kept`` entries (a
        # bitmap scan would first collect every newer score of the candidate).
        .order_by(d.c.computed_at)
        .limit(1)
        .offset(kept - 1)
        .exists()
    )
    going = [
        row.score_id
        for row in conn.execute(
            lock(
                sa.select(old.c.score_id).where(
                    among(old.c.score_id, examined, dialect), nth_newer
                ),
                old,
                dry_run,
            )
        )
    ]
    if going and not dry_run:
        conn.execute(d.delete().where(among(d.c.score_id, going, dialect)))
    return PruneBatch(
        last_key=last_key,
        deleted={"discovery_score": len(going)},
        kept_back={"discovery_score": len(examined) - len(going)},
    )


prune_discovery_scores = PruneJob(
    JOB,
    prune_score_batch,
    settings=("scores_per_candidate",),
    deletes=("discovery_score",),
)
"""Delete score rows beyond each candidate's newest ``policy.scores_per_candidate``."""
