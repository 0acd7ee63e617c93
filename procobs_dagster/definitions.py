"""The procobs_dagster code location: one Definitions for the whole project.

Each domain's Dagster definitions live in procobs_dagster/defs/<domain>/; this module
merges them and binds the shared resources. Loading it needs no secret and no database.
"""

import warnings

import dagster as dg

from procobs_dagster.defs import (
    delivery,
    discovery,
    dossier,
    events,
    ledger,
    maintenance,
    sources,
)
from procobs_dagster.defs.automation import automation_sensor
from procobs_dagster.defs.resources import (
    DeliverySinks,
    ProcobsDatabase,
    delivery_sinks_from_env,
    procobs_database_from_env,
)

# Dagster 1.13 itself re-creates every sensor that targets an op job when it binds the
# resources (SensorDefinition.with_attributes passes owners=[]), and its beta-parameter
# check then warns, although no procobs sensor sets owners. Exactly that message is
# silenced, for every process that loads this module (pytest's is in pyproject.toml).
DAGSTER_SENSOR_OWNERS_WARNING = r"Parameter `owners` of initializer `SensorDefinition.__init__`"
warnings.filterwarnings("ignore", message=DAGSTER_SENSOR_OWNERS_WARNING, category=dg.BetaWarning)


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
        sources.defs,
        dg.Definitions(
            sensors=[automation_sensor],
            # Every step is a few bounded queries: one process per run, not one per step
            # (starting a Python process costs more than any step here).
            executor=dg.in_process_executor,
            resources={
                "procobs_db": procobs_db,
                "delivery_sinks": delivery_sinks or DeliverySinks(),
            },
        ),
    )


defs = build_definitions(procobs_database_from_env(), delivery_sinks_from_env())
