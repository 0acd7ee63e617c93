"""The observation ledger in Dagster: its assets and integrity checks."""

import dagster as dg

from procobs_dagster.defs.ledger.assets import observation_ledger
from procobs_dagster.defs.ledger.checks import ledger_integrity_checks

defs = dg.Definitions(assets=[observation_ledger], asset_checks=ledger_integrity_checks)
