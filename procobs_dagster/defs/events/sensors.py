"""Sensors on event_outbox. They stay thin: the feed (procobs_dagster.events.feed) reads the
outbox in commit order, so a cursor never passes a row that commits late; the sensors turn
pages of it into run requests.

Each tick reads one bounded page. A database error fails the tick, and Dagster then keeps
the previous cursor: rows are read again next tick, never skipped. Run keys name the last
position of the page, so a tick replayed after a crash requests nothing twice.
"""

import dagster as dg

from procobs_dagster.defs.events.jobs import AlertBatch, alert_job
from procobs_dagster.defs.resources import ProcobsDatabase
from procobs_dagster.events import feed

ALERT_PAGE = 500


def read_page(
    context: dg.SensorEvaluationContext, procobs_db: ProcobsDatabase, limit: int, **filters
) -> feed.OutboxPage:
    after = feed.OutboxPosition.decode(context.cursor)
    with procobs_db.database.read() as conn:
        return feed.read_outbox(conn, after, limit=limit, **filters)


def run_key(prefix: str, page: feed.OutboxPage) -> str:
    last = page.entries[-1].position
    return f"{prefix}:{last.tx_id}:{last.seq}"


@dg.sensor(
    job=alert_job,
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=10,
    description=(
        "Requests an alert run at once for new immediate-lane events (event_type_registry."
        f"lane = 'immediate'), up to {ALERT_PAGE} events per run."
    ),
)
def immediate_lane_sensor(
    context: dg.SensorEvaluationContext, procobs_db: ProcobsDatabase
) -> dg.SensorResult:
    page = read_page(context, procobs_db, ALERT_PAGE, lane="immediate")
    if not page.entries:
        return dg.SensorResult(
            skip_reason="no new immediate-lane event", cursor=page.next_position.encode()
        )
    batch = AlertBatch(event_ids=[str(entry.event_id) for entry in page.entries])
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(
                run_key=run_key("alerts", page),
                run_config=dg.RunConfig(ops={"raise_alerts": batch}),
                tags={"procobs/alerts": str(len(page.entries))},
            )
        ],
        cursor=page.next_position.encode(),
    )
