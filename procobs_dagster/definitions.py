"""The procobs_dagster code location: one Definitions for the whole project."""

import dagster as dg

from procobs_dagster.defs.ledger.assets import observation_ledger
from procobs_dagster.defs.resources import procobs_database_from_env

defs = dg.Definitions(
    assets=[observation_ledger],
    resources={"procobs_db": procobs_database_from_env()},
)
