"""How the assets stay up to date in a deployment, without a click.

The observation tables, the event registry and the outbox are re-read on a cron every
PROCOBS_REFRESH_MINUTES (default 15) and carry a freshness policy derived from it: WARN
once a refresh is missed, FAIL after two. discovery_scores follows its upstream tables
(see defs/discovery), dossier partitions follow the scans (see defs/dossier/sensors.py).
The automation sensor evaluates every condition; it starts RUNNING, and every run it
launches carries the procobs/refresh tag, which dagster.yaml limits to one at a time.

Two checks watch the data itself and WARN past their window: the oldest event the sinks
are still owed (PROCOBS_OUTBOX_BACKLOG_MINUTES, default 15) and the newest real run the
ledger recorded (PROCOBS_NEWEST_RUN_HOURS, default 24).

These settings are read when the code location loads, so changing one takes a reload. A
refresh every minute suits a demonstration; a deployment keeps the default unless its
users watch the tables more closely: each refresh is a run in Dagster's run history, which
Dagster keeps.
"""

import datetime as dt
import os
from collections.abc import Mapping, Sequence

import dagster as dg

from procobs_dagster import limits
from procobs_dagster.defs.conventions import DATABASE_KINDS, OWNERS
from procobs_dagster.defs.markdown import age_metadata
from procobs_dagster.errors import ConfigurationError

REFRESH_MINUTES_ENV = "PROCOBS_REFRESH_MINUTES"
DEFAULT_REFRESH_MINUTES = 15
# Minutes that divide the hour evenly, so every refresh is the same distance apart.
ALLOWED_REFRESH_MINUTES = (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30, 60)
REFRESH_TAG = "procobs/refresh"
# How old the data itself may grow before its check warns: the oldest event the sinks are
# still owed (minutes, up to a week), the newest real run the ledger recorded (hours, up to
# a year).
OUTBOX_BACKLOG_MINUTES_ENV = "PROCOBS_OUTBOX_BACKLOG_MINUTES"
DEFAULT_OUTBOX_BACKLOG_MINUTES = 15
NEWEST_RUN_HOURS_ENV = "PROCOBS_NEWEST_RUN_HOURS"
DEFAULT_NEWEST_RUN_HOURS = 24


def int_setting(
    environ: Mapping[str, str], name: str, default: int, allowed: Sequence[int] | range
) -> int:
    """The whole number the variable ``name`` holds (``default`` when unset); a value
    outside ``allowed`` is refused, naming what is."""
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    # ASCII digits only (isdigit() takes other scripts'), and few enough for int().
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 9 or int(raw) not in allowed:
        shown = (
            f"a whole number from {allowed.start} to {allowed.stop - 1}"
            if isinstance(allowed, range)
            else "one of " + ", ".join(map(str, allowed))
        )
        raise ConfigurationError(f"{name}={limits.shown(raw)}: use {shown}")
    return int(raw)


def refresh_minutes(environ: Mapping[str, str] = os.environ) -> int:
    """The refresh interval PROCOBS_REFRESH_MINUTES names (default 15), a divisor of 60."""
    return int_setting(
        environ, REFRESH_MINUTES_ENV, DEFAULT_REFRESH_MINUTES, ALLOWED_REFRESH_MINUTES
    )


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


def age_within(
    window: dt.timedelta,
    age_seconds: float | None,
    *,
    measured: str,
    subject: str,
    absent: str,
    absent_passes: bool,
    metadata: Mapping[str, dg.MetadataValue] | None = None,
) -> dg.AssetCheckResult:
    """A check that WARNs when ``subject`` is older than ``window``; ``absent`` says what
    it means that there is none, which passes or not as ``absent_passes`` says. The age is
    the metadata entry ``measured``, plotted beside the window and ``metadata``."""
    limit = window.total_seconds()
    if age_seconds is None:
        passed, description = absent_passes, absent
    else:
        passed = age_seconds <= limit
        description = f"{subject} is {age_seconds:.0f} s old; the window is {limit:.0f} s"
    return dg.AssetCheckResult(
        passed=passed,
        severity=dg.AssetCheckSeverity.WARN,
        description=description,
        metadata={
            **age_metadata(measured, age_seconds),
            "window_seconds": dg.MetadataValue.float(limit),
            **(metadata or {}),
        },
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
OUTBOX_BACKLOG_MINUTES = int_setting(
    os.environ, OUTBOX_BACKLOG_MINUTES_ENV, DEFAULT_OUTBOX_BACKLOG_MINUTES, range(1, 10_081)
)
NEWEST_RUN_HOURS = int_setting(
    os.environ, NEWEST_RUN_HOURS_ENV, DEFAULT_NEWEST_RUN_HOURS, range(1, 8_761)
)


def refreshed_table(
    key: str | dg.AssetKey, group: str, description: str, deps: Sequence[dg.AssetKey] = ()
) -> dg.AssetSpec:
    """A procobs table as an asset: re-read on the refresh cron, Fresh while the refreshes
    keep up."""
    return dg.AssetSpec(
        key,
        group_name=group,
        kinds=DATABASE_KINDS,
        owners=OWNERS,
        automation_condition=ON_REFRESH_CRON,
        freshness_policy=REFRESH_FRESHNESS,
        deps=deps,
        description=description,
    )


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
