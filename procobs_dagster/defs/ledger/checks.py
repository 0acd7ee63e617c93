"""Ledger integrity as Dagster asset checks: real SQL against the ledger tables; and how
recently the ledger recorded a real run."""

import datetime as dt

import dagster as dg

from procobs_dagster.clock import seconds_since, utcnow
from procobs_dagster.defs.automation import NEWEST_RUN_HOURS, NEWEST_RUN_HOURS_ENV, age_within
from procobs_dagster.defs.ledger.assets import runs_spec
from procobs_dagster.defs.markdown import markdown_table
from procobs_dagster.defs.resources import ProcobsDatabase
from procobs_dagster.ledger import integrity
from procobs_dagster.ledger import summary as ledger_summary


def _integrity_check(rule: integrity.IntegrityRule) -> dg.AssetChecksDefinition:
    @dg.asset_check(asset=rule.table, name=rule.name, description=rule.description)
    def _check(procobs_db: ProcobsDatabase) -> dg.AssetCheckResult:
        with procobs_db.current().read() as conn:
            report = integrity.check_rule(conn, rule)
        return dg.AssetCheckResult(
            passed=report.passed,
            severity=dg.AssetCheckSeverity.ERROR,
            description=rule.description,
            metadata={
                "violations": dg.MetadataValue.int(report.violations),
                "first_offenders": markdown_table(
                    ["id"], [[row_id] for row_id in report.sample], empty="none"
                ),
            },
        )

    return _check


ledger_integrity_checks = [_integrity_check(rule) for rule in integrity.RULES]


@dg.asset_check(
    asset=runs_spec.key,
    description=(
        f"The ledger recorded a real run within the last {NEWEST_RUN_HOURS} hour(s) "
        f"({NEWEST_RUN_HOURS_ENV}); WARN when its newest real run is older, or there is "
        "none yet: nothing is being observed. Dry runs do not count."
    ),
)
def newest_run_within_window(
    context: dg.AssetCheckExecutionContext, procobs_db: ProcobsDatabase
) -> dg.AssetCheckResult:
    now = utcnow()
    with procobs_db.current().read() as conn:
        newest = ledger_summary.newest_real_run_at(conn, now)
        from_the_future = ledger_summary.real_runs_from_the_future(conn, now)
    if from_the_future:
        context.log.warning(
            f"{from_the_future} real run(s) are dated in the future (reported with a wrong "
            "time): not counted as the newest; find them with `procobs runs list`"
        )
    return age_within(
        dt.timedelta(hours=NEWEST_RUN_HOURS),
        seconds_since(now, newest),
        measured="newest_real_run_age_seconds",
        subject="the newest real run",
        absent="no real run recorded yet",
        absent_passes=False,
        metadata={"real_runs_from_the_future": dg.MetadataValue.int(from_the_future)},
    )
