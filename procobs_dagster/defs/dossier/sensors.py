"""Features become partitions of dossier_snapshot when they are first scanned."""

import dagster as dg

from procobs_dagster.defs.dossier.assets import dossier_snapshot, feature_partitions
from procobs_dagster.defs.resources import ProcobsDatabase
from procobs_dagster.dossier import storage


@dg.sensor(
    asset_selection=[dossier_snapshot],
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=60,
    description=(
        "Adds a dossier_snapshot partition for each feature scanned outside Dagster "
        "(procobs dossier scan) and materialises it, so every feature shows in the UI."
    ),
)
def dossier_features_sensor(
    context: dg.SensorEvaluationContext, procobs_db: ProcobsDatabase
) -> dg.SensorResult:
    with procobs_db.current().read() as conn:
        scanned = {s.feature_slug for s in storage.latest_snapshots(conn)}
    known = set(context.instance.get_dynamic_partitions(feature_partitions.name))
    new = sorted(scanned - known)
    if not new:
        return dg.SensorResult(skip_reason="no newly scanned feature")
    return dg.SensorResult(
        dynamic_partitions_requests=[feature_partitions.build_add_request(new)],
        run_requests=[
            dg.RunRequest(partition_key=feature, run_key=f"dossier:{feature}") for feature in new
        ],
    )
