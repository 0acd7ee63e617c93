"""Sources in Dagster: the sensor that records the instance's own runs in the ledger."""

import dagster as dg

from procobs_dagster.defs.sources.sensors import dagster_runs_sensor

defs = dg.Definitions(sensors=[dagster_runs_sensor])
