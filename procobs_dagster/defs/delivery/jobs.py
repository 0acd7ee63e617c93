"""Delivery as a Dagster job: the outbox relay drains what is due to every enabled sink.

The relay (procobs_dagster.delivery) claims with FOR UPDATE SKIP LOCKED on Postgres, so
delivery runs, alert runs and `procobs relay run` processes can overlap safely; the
procobs/delivery tag lets the instance bound how many delivery runs overlap.
"""

import dagster as dg
from pydantic import Field

from procobs_dagster import delivery, limits
from procobs_dagster.defs.conventions import DELIVERY_TAG, OUTBOX_KEY
from procobs_dagster.defs.markdown import markdown_table, unusable_metadata
from procobs_dagster.defs.resources import DeliverySinks, ProcobsDatabase
from procobs_dagster.errors import ConfigurationError
from procobs_dagster.records import UnusableRow

SINK_COUNTERS = ("fanned_out", "claimed", "delivered", "retried", "rejected", "dead", "expired")
STATE_COLUMNS = ("pending", "delivering", "delivered", "retry", "dead")
# A run is bounded in time by its cycles: a million cycles of one idle second is 11 days.
MAX_CYCLES = 1_000_000


class DeliveryConfig(dg.Config):
    batch: int = Field(
        default=500, ge=1, le=limits.MAX_BATCH, description="Events claimed per sink per cycle."
    )
    max_cycles: int = Field(
        default=1000,
        ge=1,
        le=MAX_CYCLES,
        description="Cycles at most, so a run ends even under load.",
    )


def delivery_metadata(
    report: delivery.RelayReport, states: list[dict], unusable: list[UnusableRow]
) -> dict[str, object]:
    return {
        "delivered": dg.MetadataValue.int(report.total("delivered")),
        "retried": dg.MetadataValue.int(report.total("retried")),
        "dead": dg.MetadataValue.int(report.total("dead")),
        "this_run": markdown_table(
            ["sink", *SINK_COUNTERS],
            [[c.sink, *(getattr(c, n) for n in SINK_COUNTERS)] for c in report.sinks.values()],
        ),
        "delivery_state": markdown_table(
            ["sink", *STATE_COLUMNS, "oldest undelivered (s)"],
            [
                [s["sink"], *(s[n] for n in STATE_COLUMNS), s["oldest_undelivered_age_seconds"]]
                for s in states
            ],
        ),
        "unusable_sinks": unusable_metadata(unusable),
    }


@dg.op(
    ins={"after": dg.In(dg.Nothing)},
    description="Deliver every due outbox event to the enabled sinks, then report per sink.",
)
def deliver_outbox(
    context: dg.OpExecutionContext,
    config: DeliveryConfig,
    procobs_db: ProcobsDatabase,
    delivery_sinks: DeliverySinks,
) -> None:
    db = procobs_db.current()
    configured = delivery_sinks.load(db)
    for row in configured.unusable:  # left aside: the other sinks are still delivered to
        context.log.warning(str(row))
    sinks = delivery.select_sinks(configured.configs, ())
    try:
        configured.check_usable()
    except ConfigurationError as exc:
        # The run says so by failing, as `procobs relay run` refuses.
        raise dg.Failure(description=str(exc)) from None
    if not sinks:
        context.log.info(
            "no enabled sink: events wait in the outbox until one is configured "
            "(procobs relay import-sinks FILE, or PROCOBS_SINKS_FILE)"
        )
        return
    with delivery.Relay(db, sinks) as relay:
        report = relay.drain(config.batch, config.max_cycles)
    with db.read() as conn:
        states = delivery.status(conn)
    for counts in report.sinks.values():
        context.log.info(f"sink {counts.sink}: {counts.as_dict()}")
    context.log_event(
        dg.AssetObservation(
            asset_key=OUTBOX_KEY,
            description=f"delivery: {report.total('delivered')} event(s) delivered",
            metadata=delivery_metadata(report, states, configured.unusable),
        )
    )


@dg.job(
    description="Deliver due outbox events to every enabled sink (at least once, retried).",
    tags={DELIVERY_TAG: "outbox"},
)
def delivery_job():
    deliver_outbox()
