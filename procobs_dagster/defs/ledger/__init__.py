"""The observation ledger in Dagster: its assets, integrity checks and how recent its
newest run is."""

import dagster as dg

from procobs_dagster.defs.ledger.assets import observation_ledger
from procobs_dagster.defs.ledger.checks import ledger_integrity_checks, newest_run_within_window

defs = dg.Definitions(
    assets=[observation_ledger], asset_checks=[*ledger_integrity_checks, newest_run_within_window]
)
