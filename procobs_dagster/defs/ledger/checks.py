"""Ledger integrity as Dagster asset checks: real SQL against the ledger tables."""

import dagster as dg

from procobs_dagster.defs.markdown import markdown_table
from procobs_dagster.defs.resources import ProcobsDatabase
from procobs_dagster.ledger import integrity


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
