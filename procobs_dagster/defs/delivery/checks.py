"""Delivery health as asset checks on the outbox: no event dead-lettered, and none waiting
for its sinks longer than its window."""

import datetime as dt

import dagster as dg

from procobs_dagster import delivery
from procobs_dagster.clock import utcnow
from procobs_dagster.defs.automation import (
    OUTBOX_BACKLOG_MINUTES,
    OUTBOX_BACKLOG_MINUTES_ENV,
    age_within,
)
from procobs_dagster.defs.conventions import OUTBOX_KEY
from procobs_dagster.defs.delivery.jobs import STATE_COLUMNS
from procobs_dagster.defs.markdown import markdown_table
from procobs_dagster.defs.resources import ProcobsDatabase


@dg.asset_check(
    asset=OUTBOX_KEY,
    description=(
        "No delivery is dead: every event reached every sink, or is still being retried. "
        "Dead letters warn, per sink; `procobs relay dead` lists them and `procobs relay "
        "redrive` sends them again."
    ),
)
def no_dead_deliveries(procobs_db: ProcobsDatabase) -> dg.AssetCheckResult:
    with procobs_db.current().read() as conn:
        states = delivery.status(conn)
    dead = [f"{s['sink']}: {s['dead']} dead" for s in states if s["dead"]]
    return dg.AssetCheckResult(
        passed=not dead,
        severity=dg.AssetCheckSeverity.WARN,
        description="; ".join(dead) if dead else f"{len(states)} sink(s), no dead letter",
        metadata={
            "dead": dg.MetadataValue.int(sum(s["dead"] for s in states)),
            "by_sink": markdown_table(
                ["sink", *STATE_COLUMNS],
                [[s["sink"], *(s[n] for n in STATE_COLUMNS)] for s in states],
                empty="nothing delivered yet",
            ),
        },
    )


@dg.asset_check(
    asset=OUTBOX_KEY,
    description=(
        f"No event has waited for its sinks longer than {OUTBOX_BACKLOG_MINUTES} minute(s) "
        f"({OUTBOX_BACKLOG_MINUTES_ENV}): WARN when the oldest event a started sink is still "
        "owed (pending, retried, or not yet fanned out) entered the outbox before that. Dead "
        "letters are no_dead_deliveries' concern."
    ),
)
def oldest_undelivered_within_window(procobs_db: ProcobsDatabase) -> dg.AssetCheckResult:
    with procobs_db.current().read() as conn:
        owed = delivery.backlog(conn)
    return age_within(
        dt.timedelta(minutes=OUTBOX_BACKLOG_MINUTES),
        owed.oldest_age_seconds(utcnow()),
        measured="oldest_undelivered_age_seconds",
        subject="the oldest undelivered event",
        absent="nothing owed to any sink",
        absent_passes=True,
        metadata={"undelivered": dg.MetadataValue.int(owed.undelivered)},
    )
