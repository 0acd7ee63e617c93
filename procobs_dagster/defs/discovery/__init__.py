"""Process discovery in Dagster: the scores asset and the job that refreshes it."""

import dagster as dg

from procobs_dagster.defs.discovery.assets import discovery_scores
from procobs_dagster.defs.discovery.jobs import discovery_refresh_job

defs = dg.Definitions(assets=[discovery_scores], jobs=[discovery_refresh_job])
