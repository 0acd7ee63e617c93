"""The procobs_dagster code location: one Definitions for the whole project.

Each domain's Dagster definitions live in procobs_dagster/defs/<domain>/; this module
merges them and binds the shared resources. Loading it needs no secret and no database.
"""

import dagster as dg

from procobs_dagster.defs import discovery, dossier, events, ledger, maintenance
from procobs_dagster.defs.resources import ProcobsDatabase, procobs_database_from_env


def build_definitions(procobs_db: ProcobsDatabase) -> dg.Definitions:
    """Every domain's definitions, bound to ``procobs_db`` (tests bind their own database)."""
    return dg.Definitions.merge(
        ledger.defs,
        events.defs,
        dossier.defs,
        discovery.defs,
        maintenance.defs,
        dg.Definitions(resources={"procobs_db": procobs_db}),
    )


defs = build_definitions(procobs_database_from_env())
