"""Reading and writing dossier rows. Every function runs in the caller's transaction."""

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from procobs_dagster import limits
from procobs_dagster.clock import utcnow
from procobs_dagster.dossier.records import (
    ARTIFACT_COLUMNS,
    Artifact,
    Baseline,
    Snapshot,
    rows_digest,
)
from procobs_dagster.errors import NotFound
from procobs_dagster.ids import uuid7
from procobs_dagster.store.dialect import insert_ignoring_conflicts, is_postgres, upsert
from procobs_dagster.store.tables import (
    dossier_artifact,
    dossier_artifact_set,
    dossier_baseline,
    dossier_snapshot,
)


class UnknownFeature(NotFound):
    pass


class UnknownSnapshot(NotFound):
    pass


_NEWEST_FIRST = (dossier_snapshot.c.computed_at.desc(), dossier_snapshot.c.snapshot_id.desc())


def latest_snapshot(
    conn: Connection, feature_slug: str, root_path: str | None = None
) -> Snapshot | None:
    """The feature's newest snapshot (of that root folder, when one is named)."""
    query = sa.select(dossier_snapshot).where(dossier_snapshot.c.feature_slug == feature_slug)
    if root_path is not None:
        query = query.where(dossier_snapshot.c.root_path == root_path)
    row = conn.execute(query.order_by(*_NEWEST_FIRST).limit(1)).mappings().first()
    return Snapshot.from_row(row) if row else None


def latest_snapshots(conn: Connection) -> list[Snapshot]:
    """Every feature's newest snapshot, by feature slug (one query)."""
    rank = sa.func.row_number().over(
        partition_by=dossier_snapshot.c.feature_slug, order_by=_NEWEST_FIRST
    )
    ranked = sa.select(dossier_snapshot, rank.label("newest")).subquery()
    rows = conn.execute(
        sa.select(*(ranked.c[c.name] for c in dossier_snapshot.c))
        .where(ranked.c.newest == 1)
        .order_by(ranked.c.feature_slug)
    ).mappings()
    return [Snapshot.from_row(row) for row in rows]


def require_latest_snapshot(conn: Connection, feature_slug: str) -> Snapshot:
    snapshot = latest_snapshot(conn, feature_slug)
    if snapshot is None:
        raise UnknownFeature(
            f"no dossier snapshot for feature {limits.shown(feature_slug)}: run `procobs dossier"
            " scan` first"
        )
    return snapshot


def get_snapshot(conn: Connection, snapshot_id: uuid.UUID) -> Snapshot:
    row = (
        conn.execute(
            sa.select(dossier_snapshot).where(dossier_snapshot.c.snapshot_id == snapshot_id)
        )
        .mappings()
        .first()
    )
    if row is None:
        raise UnknownSnapshot(f"no dossier snapshot {snapshot_id}")
    return Snapshot.from_row(row)


def load_artifact_set(conn: Connection, artifact_set_id: uuid.UUID) -> tuple[list[Artifact], int]:
    """The set's artifacts (sorted by path, then key) and the count recorded with the set.

    Sorted by the database in code-point order (the "C" collation on Postgres, BINARY on
    SQLite), placeholders first — the order ``by_path_then_key`` gives in Python.
    """
    recorded = conn.execute(
        sa.select(dossier_artifact_set.c.artifact_count).where(
            dossier_artifact_set.c.artifact_set_id == artifact_set_id
        )
    ).scalar_one()
    columns = [dossier_artifact.c[name] for name in ARTIFACT_COLUMNS]
    bytewise = "C" if is_postgres(conn) else "BINARY"
    rows = conn.execute(
        sa.select(*columns)
        .where(dossier_artifact.c.artifact_set_id == artifact_set_id)
        .order_by(
            dossier_artifact.c.relative_path.collate(bytewise).nulls_first(),
            dossier_artifact.c.artifact_key.collate(bytewise),
        )
    )
    return list(map(Artifact._make, rows)), recorded


def store_artifact_set(
    conn: Connection,
    artifacts: Sequence[Artifact],
    previous: tuple[uuid.UUID, Sequence[Artifact]] | None = None,
) -> uuid.UUID:
    """The id of the set holding exactly these artifacts, written only if none exists yet.

    ``previous``: a set id and its artifacts as loaded; when they equal ``artifacts`` (a
    rescan that read the folder and found what the previous scan found) that set is the
    answer without computing the digest.
    """
    # A set reused is held FOR KEY SHARE (Postgres) until the snapshot referring to it is
    # written: retention skips a held set, and one retention deleted first is not found.
    postgres = is_postgres(conn)

    def held(query: sa.Select) -> sa.Select:
        return query.with_for_update(key_share=True) if postgres else query

    if previous is not None and tuple(previous[1]) == tuple(artifacts):
        still_there = conn.execute(
            held(
                sa.select(dossier_artifact_set.c.artifact_set_id).where(
                    dossier_artifact_set.c.artifact_set_id == previous[0]
                )
            )
        ).scalar()
        if still_there is not None:
            return still_there
    digest = rows_digest(artifacts)
    by_digest = held(
        sa.select(dossier_artifact_set.c.artifact_set_id).where(
            dossier_artifact_set.c.rows_digest == digest
        )
    )
    existing = conn.execute(by_digest).scalar()
    if existing is not None:
        return existing
    artifact_set_id = uuid7()
    inserted = conn.execute(
        insert_ignoring_conflicts(conn.dialect.name, dossier_artifact_set),
        {
            "artifact_set_id": artifact_set_id,
            "rows_digest": digest,
            "artifact_count": len(artifacts),
            "created_at": utcnow(),
        },
    )
    if inserted.rowcount == 0:  # a concurrent scan stored the same set first
        return conn.execute(by_digest).scalar_one()
    if artifacts:
        conn.execute(
            dossier_artifact.insert(),
            [{"artifact_set_id": artifact_set_id, **a._asdict()} for a in artifacts],
        )
    return artifact_set_id


def insert_snapshot(conn: Connection, values: dict) -> Snapshot:
    snapshot = Snapshot(snapshot_id=uuid7(), **values)
    conn.execute(dossier_snapshot.insert(), snapshot.as_row())
    return snapshot


def get_baseline(conn: Connection, namespace: tuple[str, str, str]) -> Baseline | None:
    feature_slug, mission_type, manifest_version = namespace
    c = dossier_baseline.c
    row = (
        conn.execute(
            sa.select(dossier_baseline).where(
                c.feature_slug == feature_slug,
                c.mission_type == mission_type,
                c.manifest_version == manifest_version,
            )
        )
        .mappings()
        .first()
    )
    return Baseline.from_row(row) if row else None


def baselines_of(conn: Connection, feature_slug: str) -> list[Baseline]:
    c = dossier_baseline.c
    rows = conn.execute(
        sa.select(dossier_baseline)
        .where(c.feature_slug == feature_slug)
        .order_by(c.mission_type, c.manifest_version)
    ).mappings()
    return [Baseline.from_row(row) for row in rows]


def set_baseline(conn: Connection, snapshot: Snapshot, captured_by: str | None) -> Baseline:
    """Make ``snapshot`` the baseline of its namespace, replacing the previous one."""
    baseline = Baseline(
        feature_slug=snapshot.feature_slug,
        mission_type=snapshot.mission_type,
        manifest_version=snapshot.manifest_version,
        snapshot_id=snapshot.snapshot_id,
        captured_at=utcnow(),
        captured_by=captured_by,
    )
    conn.execute(
        upsert(
            conn.dialect.name,
            dossier_baseline,
            baseline.as_row(),
            key=["feature_slug", "mission_type", "manifest_version"],
        )
    )
    return baseline
