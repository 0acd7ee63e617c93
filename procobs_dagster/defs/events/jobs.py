"""The alert job: acts at once on immediate-lane events (alert types) of the outbox."""

from typing import Annotated

import dagster as dg
from pydantic import Field

from procobs_dagster.defs.conventions import OUTBOX_KEY
from procobs_dagster.defs.delivery.jobs import deliver_outbox
from procobs_dagster.defs.markdown import markdown_table
from procobs_dagster.defs.resources import ProcobsDatabase
from procobs_dagster.events import feed
from procobs_dagster.limits import MAX_BATCH

# A UUID's text, with room for the braces and prefixes parse_uuid also reads.
EVENT_ID_MAX_LENGTH = 64


class AlertBatch(dg.Config):
    # Bounded like every batch. Dagster's launch check knows only the types: the bounds are
    # pydantic's, so a hand-launched run with too many or too long ids fails as the op
    # builds its config, naming the field, before it reads anything.
    event_ids: list[Annotated[str, Field(max_length=EVENT_ID_MAX_LENGTH)]] = Field(
        max_length=MAX_BATCH,
        description="Outbox event ids of immediate-lane events, as the sensor found them.",
    )


@dg.op(
    out=dg.Out(dg.Nothing),
    description="Load the alert events and raise each one in the run log and the UI.",
)
def raise_alerts(
    context: dg.OpExecutionContext, config: AlertBatch, procobs_db: ProcobsDatabase
) -> None:
    with procobs_db.current().read() as conn:
        alerts = feed.events_by_id(conn, config.event_ids)
    for alert in alerts:
        context.log.warning(
            f"{alert.severity} {alert.event_type}: correlation_id={alert.correlation_id} "
            f"process_run_id={alert.process_run_id} subject={alert.subject} "
            f"event_id={alert.event_id}"
        )
    # Shown on the event_outbox asset page, next to its materialisations.
    context.log_event(
        dg.AssetObservation(
            asset_key=OUTBOX_KEY,
            description=f"{len(alerts)} immediate-lane event(s) raised",
            metadata={
                "alerts": dg.MetadataValue.int(len(alerts)),
                "events": markdown_table(
                    ["seq", "event type", "severity", "correlation id", "run", "occurred at"],
                    [
                        [
                            a.seq,
                            a.event_type,
                            a.severity,
                            a.correlation_id,
                            a.process_run_id,
                            a.occurred_at.isoformat(),
                        ]
                        for a in alerts
                    ],
                ),
            },
        )
    )


@dg.job(
    description=(
        "Raise immediate-lane events (failed runs, missing evidence or correlation, missing "
        "dossier artifacts, parity drift, domain errors) as soon as the sensor sees them, "
        "then deliver what is due, so alerts reach the sinks without waiting for the next "
        "delivery run."
    ),
    tags={"procobs/lane": "immediate"},
)
def alert_job():
    deliver_outbox(after=raise_alerts())
