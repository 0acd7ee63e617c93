"""The procobs_dagster code location: one Definitions for the whole project.

Each domain's Dagster definitions live in procobs_dagster/defs/<domain>/; this module
merges them and binds the shared resources. Loading it needs no secret and no database.
"""

import dagster as dg

from procobs_dagster.defs import delivery, discovery, dossier, events, ledger, maintenance
from procobs_dagster.defs.resources import (
    DeliverySinks,
    ProcobsDatabase,
    delivery_sinks_from_env,
    procobs_database_from_env,
)


def build_definitions(
    procobs_db: ProcobsDatabase, delivery_sinks: DeliverySinks | None = None
) -> dg.Definitions:
    """Every domain's definitions, bound to ``procobs_db`` and ``delivery_sinks`` (default:
    the delivery_sink table of that database); tests and the demo bind their own."""
    return dg.Definitions.merge(
        ledger.defs,
        events.defs,
        delivery.defs,
        dossier.defs,
        discovery.defs,
        maintenance.defs,
        dg.Definitions(
            resources={
                "procobs_db": procobs_db,
                "delivery_sinks": delivery_sinks or DeliverySinks(),
            }
        ),
    )


defs = build_definitions(procobs_database_from_env(), delivery_sinks_from_env())
