"""Retention of dossier snapshots: each feature keeps its newest ``snapshots_per_feature``
snapshots; older ones are deleted, with the artifact sets (and their artifacts) no
snapshot refers to any more. Deleted, not archived: a snapshot is a summary of a scan
that a newer scan of the same folder supersedes, and its event (recorded in the audit
log) says what it found.

Never deleted, whatever their age:

- a snapshot a baseline points at (``dossier_baseline``; its foreign key would refuse);
- the newest snapshot of each (feature, root folder): a rescan of that folder reuses it
  (``dossier/scan.py``);
- an artifact set any remaining snapshot refers to (sets are shared between snapshots
  that found the same artifacts).

"Newest" is the order the dossier reads by (``computed_at``, then ``snapshot_id``). The
walk goes over every snapshot in ``snapshot_id`` order; whether one is among its feature's
newest is an index-only probe (``ix_dossier_snapshot_feature_slug_computed_at_snapshot_id``)
that reads at most ``snapshots_per_feature`` entries. Snapshots and sets are claimed
``FOR UPDATE SKIP LOCKED`` (Postgres): a scan reusing a set holds it ``FOR KEY SHARE``
(``dossier.storage.store_artifact_set``), so such a set is skipped, not deleted under it.
"""

import datetime as dt
import uuid

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
from procobs_dagster.store.tables import (
    dossier_artifact,
    dossier_artifact_set,
    dossier_baseline,
    dossier_snapshot,
)

JOB = "retention: dossier snapshots"
s = dossier_snapshot


def _newer(than: sa.FromClause) -> sa.ColumnElement:
    """Rows of ``dossier_snapshot`` newer than the row of alias ``than``; spelled so the
    (feature_slug, computed_at) index bounds the scan."""
    return sa.and_(
        s.c.computed_at >= than.c.computed_at,
        sa.or_(
            s.c.computed_at > than.c.computed_at,
            s.c.snapshot_id > than.c.snapshot_id,
        ),
    )


def superseded(old: sa.FromClause, kept: int) -> sa.ColumnElement:
    """True for a snapshot (a row of alias ``old``) that retention may delete: ``kept``
    newer ones of its feature exist, a newer one of its folder too, and no baseline
    points at it."""
    # Ordered like the index, so Postgres walks it and stops after ``kept`` entries (a
    # bitmap scan would first collect every newer snapshot of the feature).
    nth_newer = (
        sa.select(1)
        .where(s.c.feature_slug == old.c.feature_slug, _newer(old))
        .order_by(s.c.computed_at)
        .limit(1)
        .offset(kept - 1)
        .exists()
    )
    # OFFSET 0 keeps Postgres from turning the EXISTS into a hash semi join over the whole
    # table: probed per examined row, the (feature_slug, root_path, computed_at) index
    # answers at its first entry.
    newer_of_same_root = (
        sa.select(1)
        .where(
            s.c.feature_slug == old.c.feature_slug,
            s.c.root_path == old.c.root_path,
            _newer(old),
        )
        .offset(0)
        .exists()
    )
    baseline = sa.select(1).where(dossier_baseline.c.snapshot_id == old.c.snapshot_id).exists()
    return sa.and_(nth_newer, newer_of_same_root, ~baseline)


def prune_snapshot_batch(
    conn: Connection,
    policy: TablePolicy,
    *,
    now: dt.datetime,
    after: uuid.UUID | None = None,
    limit: int = DEFAULT_BATCH,
    dry_run: bool = False,
) -> PruneBatch:
    """One batch, in the caller's transaction: examine up to ``limit`` snapshots after
    ``after`` and delete those superseded, then the artifact sets left without one."""
    if policy.snapshots_per_feature is None:
        return PruneBatch(last_key=None)
    dialect = conn.dialect.name
    found, last_key = walk(conn, s.c.snapshot_id, after=after, limit=limit)
    examined = [row.snapshot_id for row in found]
    if not examined:
        return PruneBatch(last_key=None)
    kept = policy.snapshots_per_feature
    old = s.alias("old")
    query = sa.select(old.c.snapshot_id, old.c.artifact_set_id).where(
        among(old.c.snapshot_id, examined, dialect), superseded(old, kept)
    )
    going = list(conn.execute(lock(query, old, dry_run)))
    deleted = {"dossier_snapshot": len(going), "dossier_artifact_set": 0, "dossier_artifact": 0}
    kept_back = {"dossier_snapshot": len(examined) - len(going)}
    if not going:
        return PruneBatch(last_key=last_key, deleted=deleted, kept_back=kept_back)
    snapshot_ids = [row.snapshot_id for row in going]
    set_ids = sorted({row.artifact_set_id for row in going})
    if not dry_run:
        conn.execute(s.delete().where(among(s.c.snapshot_id, snapshot_ids, dialect)))
    sets = dossier_artifact_set
    ref = s.alias("ref")
    referred = sa.select(1).where(ref.c.artifact_set_id == sets.c.artifact_set_id)
    if dry_run:
        # Nothing went: a set counts once, in the batch that examines the last snapshot
        # (in key order) referring to it, and only if every one referring to it would go.
        referred = referred.where(
            sa.or_(
                ~superseded(ref, kept),
                ref.c.snapshot_id > sa.literal(last_key, s.c.snapshot_id.type),
            )
        )
    orphaned = [
        row.artifact_set_id
        for row in conn.execute(
            lock(
                sa.select(sets.c.artifact_set_id).where(
                    among(sets.c.artifact_set_id, set_ids, dialect), ~referred.exists()
                ),
                sets,
                dry_run,
            )
        )
    ]
    if orphaned:
        artifacts = among(dossier_artifact.c.artifact_set_id, orphaned, dialect)
        if dry_run:
            deleted["dossier_artifact"] = conn.execute(
                sa.select(sa.func.count()).select_from(dossier_artifact).where(artifacts)
            ).scalar_one()
        else:
            deleted["dossier_artifact"] = conn.execute(
                dossier_artifact.delete().where(artifacts)
            ).rowcount
            conn.execute(sets.delete().where(among(sets.c.artifact_set_id, orphaned, dialect)))
        deleted["dossier_artifact_set"] = len(orphaned)
    return PruneBatch(last_key=last_key, deleted=deleted, kept_back=kept_back)


prune_dossier_snapshots = PruneJob(
    JOB,
    prune_snapshot_batch,
    settings=("snapshots_per_feature",),
    deletes=("dossier_snapshot", "dossier_artifact_set", "dossier_artifact"),
)
"""Delete snapshots beyond each feature's newest ``policy.snapshots_per_feature``
(baselines and each folder's newest stay), and the artifact sets left unreferenced."""
