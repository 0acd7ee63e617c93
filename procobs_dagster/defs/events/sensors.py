"""Sensors on event_outbox. They stay thin: the feed (procobs_dagster.events.feed) reads the
outbox in commit order, so a cursor never passes a row that commits late; the sensors turn
pages of it into run requests.

Each tick reads one bounded page. A database error fails the tick (a database not at the
schema head with SchemaNotReady, naming the fix), and Dagster then keeps the previous
cursor: rows are read again next tick, never skipped. Run keys name the last
position of the page, so a tick replayed after a crash requests nothing twice.
"""

import dagster as dg

from procobs_dagster.defs.delivery.jobs import delivery_job
from procobs_dagster.defs.discovery.assets import discovery_scores
from procobs_dagster.defs.discovery.jobs import discovery_refresh_job
from procobs_dagster.defs.events.jobs import AlertBatch, alert_job
from procobs_dagster.defs.resources import ProcobsDatabase
from procobs_dagster.events import ProcessEventType, feed
from procobs_dagster.sources import dagster_runs

ALERT_PAGE = 500
OUTBOX_PAGE = 10_000
# Waiting runs a tick looks at, newest first: past that many, one more request is harmless.
WAITING_RUNS_READ = 100
RUN_OUTCOMES = frozenset({ProcessEventType.RUN_COMPLETED, ProcessEventType.RUN_FAILED})
# A run in these states has not started reading yet: it will see the new rows too.
NOT_YET_READING = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
]


def read_page(
    context: dg.SensorEvaluationContext, procobs_db: ProcobsDatabase, limit: int, **filters
) -> feed.OutboxPage:
    after = feed.OutboxPosition.decode(context.cursor)
    with procobs_db.current().read() as conn:
        return feed.read_outbox(conn, after, limit=limit, **filters)


def run_key(prefix: str, page: feed.OutboxPage) -> str:
    last = page.entries[-1].position
    return f"{prefix}:{last.tx_id}:{last.seq}"


def waiting(context: dg.SensorEvaluationContext, job_name: str) -> bool:
    """Is a run of ``job_name`` already waiting to start? Another one would add nothing."""
    runs = dg.RunsFilter(job_name=job_name, statuses=NOT_YET_READING)
    return context.instance.get_runs_count(runs) > 0


def rescores(entry: feed.OutboxEntry) -> bool:
    """Does this row ask for a discovery refresh at once? A run's outcome does, unless
    the run is a Dagster run: a refresh materialises discovery_scores, which another code
    location's automation may follow with a run of its own — observed in turn. Dagster
    runs are re-scored on the refresh cron instead (docs/workflow-sources.md, "Why there
    is no loop")."""
    return entry.event_type in RUN_OUTCOMES and not dagster_runs.reported_by_dagster(
        entry.correlation_id
    )


def scores_waiting(context: dg.SensorEvaluationContext) -> bool:
    """Is a run that re-scores discovery already waiting to start: a discovery refresh, or
    a run the automation sensor launched for the cron? Either reads the new outcomes."""
    runs = context.instance.get_runs(
        dg.RunsFilter(statuses=NOT_YET_READING), limit=WAITING_RUNS_READ
    )
    return any(
        run.job_name == discovery_refresh_job.name
        or (run.asset_selection and discovery_scores.key in run.asset_selection)
        for run in runs
    )


@dg.sensor(
    jobs=[delivery_job, discovery_refresh_job],
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
    description=(
        f"Follows every new event_outbox row, up to {OUTBOX_PAGE} per tick: requests a "
        "delivery run for new rows, and a discovery-score refresh (the ledger tables and the "
        "scores) when process.run.completed or process.run.failed events arrive (of runs "
        "other than those dagster_runs_sensor records, which the refresh cron re-scores); "
        "never a second run while one that would do the same is waiting."
    ),
)
def event_outbox_sensor(
    context: dg.SensorEvaluationContext, procobs_db: ProcobsDatabase
) -> dg.SensorResult:
    page = read_page(context, procobs_db, OUTBOX_PAGE)
    requests = []
    if page.entries and not waiting(context, delivery_job.name):
        requests.append(
            dg.RunRequest(job_name=delivery_job.name, run_key=run_key("delivery", page))
        )
    if any(rescores(entry) for entry in page.entries) and not scores_waiting(context):
        requests.append(
            dg.RunRequest(job_name=discovery_refresh_job.name, run_key=run_key("discovery", page))
        )
    cursor = page.next_position.encode()
    if not requests:
        reason = f"{len(page.entries)} new event(s), nothing to request"
        return dg.SensorResult(skip_reason=reason, cursor=cursor)
    return dg.SensorResult(run_requests=requests, cursor=cursor)


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
