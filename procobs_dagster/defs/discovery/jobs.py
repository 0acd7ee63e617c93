"""Refreshing the discovery scores, which the outbox sensor requests when runs end."""

import dagster as dg

from procobs_dagster.defs.discovery.assets import discovery_scores

discovery_refresh_job = dg.define_asset_job(
    "discovery_refresh_job",
    selection=[discovery_scores],
    description="Re-score every process candidate from the ledger and the job queue.",
)
