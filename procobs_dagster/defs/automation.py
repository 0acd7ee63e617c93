"""How the assets stay up to date in a deployment, without a click.

The observation tables, the event registry and the outbox are re-read on a cron every
PROCOBS_REFRESH_MINUTES (default 15) and carry a freshness policy derived from it: WARN
once a refresh is missed, FAIL after two. discovery_scores follows its upstream tables
(see defs/discovery), dossier partitions follow the scans (see defs/dossier/sensors.py).
The automation sensor evaluates every condition; it starts RUNNING, and every run it
launches carries the procobs/refresh tag, which dagster.yaml limits to one at a time.

The cron is read when the code location loads, so changing it takes a reload. Every
minute suits a demonstration; a deployment keeps the default unless its users watch the
tables more closely: each refresh is a run in Dagster's run history, which Dagster keeps.
"""

import datetime as dt
import os
from collections.abc import Mapping

import dagster as dg

from procobs_dagster.errors import ConfigurationError

REFRESH_MINUTES_ENV = "PROCOBS_REFRESH_MINUTES"
DEFAULT_REFRESH_MINUTES = 15
# Minutes that divide the hour evenly, so every refresh is the same distance apart.
ALLOWED_REFRESH_MINUTES = (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30, 60)
REFRESH_TAG = "procobs/refresh"


def refresh_minutes(environ: Mapping[str, str] = os.environ) -> int:
    """The refresh interval PROCOBS_REFRESH_MINUTES names (default 15); anything but a
    divisor of 60 is refused with the values that are allowed."""
    raw = environ.get(REFRESH_MINUTES_ENV, "").strip()
    if not raw:
        return DEFAULT_REFRESH_MINUTES
    if not raw.isdigit() or int(raw) not in ALLOWED_REFRESH_MINUTES:
        allowed = ", ".join(map(str, ALLOWED_REFRESH_MINUTES))
        raise ConfigurationError(f"{REFRESH_MINUTES_ENV}={raw!r}: use one of {allowed}")
    return int(raw)


def refresh_cron(minutes: int) -> str:
    return "0 * * * *" if minutes == 60 else f"*/{minutes} * * * *"


def refreshed_on_cron(minutes: int) -> dg.AutomationCondition:
    """Once per cron tick, unless a run already updating the asset is in progress: that run
    ends after the tick, which handles it (a refresh the outbox sensor asked for is not
    followed by a second one)."""
    cron = refresh_cron(minutes)
    condition = dg.AutomationCondition.on_cron(cron) & ~dg.AutomationCondition.in_progress()
    return condition.with_label(f"every {minutes} min (UTC cron {cron}), unless in progress")


def refresh_freshness(minutes: int) -> dg.FreshnessPolicy:
    """WARN when one refresh was missed, FAIL when two were."""
    return dg.FreshnessPolicy.time_window(
        warn_window=dt.timedelta(minutes=2 * minutes), fail_window=dt.timedelta(minutes=3 * minutes)
    )


# Dossier checks judge every feature's newest snapshot: they run whenever a scan is
# recorded, including the scans the features sensor reports without a run.
AFTER_A_SCAN = (
    dg.AutomationCondition.any_deps_updated().since_last_handled()
    & ~dg.AutomationCondition.any_deps_in_progress()
    & ~dg.AutomationCondition.in_progress()
).with_label("after every recorded scan")


REFRESH_EVERY_MINUTES = refresh_minutes()
ON_REFRESH_CRON = refreshed_on_cron(REFRESH_EVERY_MINUTES)
REFRESH_FRESHNESS = refresh_freshness(REFRESH_EVERY_MINUTES)

automation_sensor = dg.AutomationConditionSensorDefinition(
    "procobs_automation",
    target=dg.AssetSelection.all(),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
    run_tags={REFRESH_TAG: "automation"},
    description=(
        "Evaluates every asset's and check's automation condition and launches what is due: "
        "the observation tables, the registry and the outbox on their cron, discovery_scores "
        "after its upstream tables, the dossier checks after a scan."
    ),
)
