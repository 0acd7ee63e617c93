"""The event system in Dagster: registry and outbox state, the outbox sensors, alerts."""

import dagster as dg

from procobs_dagster.defs.events.assets import event_system
from procobs_dagster.defs.events.jobs import alert_job
from procobs_dagster.defs.events.sensors import event_outbox_sensor, immediate_lane_sensor

defs = dg.Definitions(
    assets=[event_system], jobs=[alert_job], sensors=[event_outbox_sensor, immediate_lane_sensor]
)
