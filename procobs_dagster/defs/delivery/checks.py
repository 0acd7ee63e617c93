"""Delivery health as an asset check on the outbox: no event dead-lettered."""

import dagster as dg

from procobs_dagster import delivery
from procobs_dagster.defs.delivery.jobs import OUTBOX_KEY, STATE_COLUMNS
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
