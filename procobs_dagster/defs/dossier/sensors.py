"""Scans made outside Dagster become materialisations of dossier_snapshot.

`procobs dossier scan` stores a snapshot; this sensor adds the feature's partition when it
is new and records the scan as a materialisation of that partition, as it happened,
without a run: nothing is rescanned, so no dossier event is emitted twice. A feature is
due when its newest snapshot is not the one the partition's latest materialisation
recorded (its snapshot_id metadata): by identity, not by time, since computed_at is the
scanning host's clock and the materialisation's the Dagster host's, and a scan stamped
behind a materialisation would otherwise never be recorded. A materialisation run records
the snapshot it scanned, so its scans are never recorded twice. The dossier checks follow
every recorded scan (see defs/automation.py, AFTER_A_SCAN).
"""

import dagster as dg

from procobs_dagster.defs.dossier.assets import (
    dossier_snapshot,
    feature_partitions,
    snapshot_metadata,
)
from procobs_dagster.defs.resources import ProcobsDatabase
from procobs_dagster.dossier import storage
from procobs_dagster.dossier.reconcile import reconcile_snapshot

# Scans recorded per tick: each is reconciled with its baseline, which reads its artifacts.
SCANS_PER_TICK = 20


def recorded_snapshots(instance: dg.DagsterInstance) -> dict[str, str | None]:
    """The snapshot_id each partition of dossier_snapshot last recorded, by feature (None
    for a materialisation without one); two queries, whatever the number of features."""
    latest = instance.get_latest_storage_id_by_partition(
        dossier_snapshot.key, dg.DagsterEventType.ASSET_MATERIALIZATION
    )
    if not latest:
        return {}
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dossier_snapshot.key, storage_ids=list(latest.values())),
        limit=len(latest),
    ).records
    recorded = {}
    for record in records:
        snapshot_id = record.asset_materialization.metadata.get("snapshot_id")
        recorded[record.partition_key] = None if snapshot_id is None else snapshot_id.value
    return recorded


@dg.sensor(
    asset_selection=[dossier_snapshot],
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=60,
    description=(
        "Records each scan made outside Dagster (procobs dossier scan) as a materialisation "
        "of its feature's dossier_snapshot partition, adding the partition for a new "
        f"feature, up to {SCANS_PER_TICK} scans per tick; nothing is rescanned."
    ),
)
def dossier_features_sensor(
    context: dg.SensorEvaluationContext, procobs_db: ProcobsDatabase
) -> dg.SensorResult:
    with procobs_db.current().read() as conn:
        scans = storage.latest_snapshots(conn)
        recorded = recorded_snapshots(context.instance)
        due = [
            snapshot
            for snapshot in scans
            if recorded.get(snapshot.feature_slug) != str(snapshot.snapshot_id)
        ][:SCANS_PER_TICK]
        if not due:
            return dg.SensorResult(skip_reason="no scan since the last materialisation")
        events = [
            dg.AssetMaterialization(
                asset_key=dossier_snapshot.key,
                partition=snapshot.feature_slug,
                description=f"scanned outside Dagster at {snapshot.computed_at.isoformat()}",
                metadata=snapshot_metadata(snapshot, reconcile_snapshot(conn, snapshot)),
            )
            for snapshot in due
        ]
    known = set(context.instance.get_dynamic_partitions(feature_partitions.name))
    new = sorted({snapshot.feature_slug for snapshot in due} - known)
    return dg.SensorResult(
        asset_events=events,
        dynamic_partitions_requests=[feature_partitions.build_add_request(new)] if new else [],
    )
