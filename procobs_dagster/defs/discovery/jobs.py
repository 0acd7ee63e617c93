"""Refreshing the discovery scores, which the outbox sensor requests when runs end."""

import dagster as dg

from procobs_dagster.defs.automation import REFRESH_TAG
from procobs_dagster.defs.discovery.assets import discovery_scores

# The ledger tables are re-read in the same run, so the scores and the tables they come from
# agree, and the automation sensor sees nothing upstream left to follow.
discovery_refresh_job = dg.define_asset_job(
    "discovery_refresh_job",
    selection=dg.AssetSelection.assets(discovery_scores).upstream(depth=1),
    tags={REFRESH_TAG: "run_outcomes"},
    description=(
        "Re-read the ledger tables, then re-score every process candidate from its trace "
        "summaries, re-summarising the runs and jobs changed since the last scoring."
    ),
)
