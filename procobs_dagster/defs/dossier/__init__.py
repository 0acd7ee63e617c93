"""The mission dossier in Dagster: the snapshot asset per feature, its checks, the
hourly parity-drift check and the sensor that adds newly scanned features."""

import dagster as dg

from procobs_dagster.defs.dossier.assets import dossier_snapshot
from procobs_dagster.defs.dossier.checks import dossier_completeness, dossier_parity_drift
from procobs_dagster.defs.dossier.jobs import parity_drift_job
from procobs_dagster.defs.dossier.schedules import parity_drift_hourly
from procobs_dagster.defs.dossier.sensors import dossier_features_sensor

defs = dg.Definitions(
    assets=[dossier_snapshot],
    asset_checks=[dossier_completeness, dossier_parity_drift],
    jobs=[parity_drift_job],
    schedules=[parity_drift_hourly],
    sensors=[dossier_features_sensor],
)
