"""The parity-drift check as a job of its own, for the hourly schedule."""

import dagster as dg

from procobs_dagster.defs.dossier.checks import dossier_parity_drift

parity_drift_job = dg.define_asset_job(
    "parity_drift_job",
    selection=dg.AssetSelection.checks(dossier_parity_drift),
    description="Reconcile every feature's newest dossier snapshot with its baseline.",
)
