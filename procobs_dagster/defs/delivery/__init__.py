"""Delivery in Dagster: the relay as a job (requested by event_outbox_sensor), and the
dead-letter and backlog checks on the outbox."""

import dagster as dg

from procobs_dagster.defs.delivery.checks import (
    no_dead_deliveries,
    oldest_undelivered_within_window,
)
from procobs_dagster.defs.delivery.jobs import delivery_job

defs = dg.Definitions(
    jobs=[delivery_job], asset_checks=[no_dead_deliveries, oldest_undelivered_within_window]
)
