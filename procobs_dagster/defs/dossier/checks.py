"""Dossier checks over every feature's newest snapshot: completeness and parity drift."""

import dagster as dg

from procobs_dagster.defs.automation import AFTER_A_SCAN
from procobs_dagster.defs.dossier.assets import dossier_snapshot
from procobs_dagster.defs.markdown import markdown_table
from procobs_dagster.defs.resources import ProcobsDatabase
from procobs_dagster.dossier import DivergenceKind, ParityVerdict, storage
from procobs_dagster.dossier.reconcile import reconcile_snapshot


@dg.asset_check(
    asset=dossier_snapshot,
    automation_condition=AFTER_A_SCAN,
    description=(
        "Every feature's newest snapshot is complete: no blocking artifact of the manifest "
        "(up to the scanned step) is missing or unreadable."
    ),
)
def dossier_completeness(procobs_db: ProcobsDatabase) -> dg.AssetCheckResult:
    rows, incomplete = [], []
    with procobs_db.current().read() as conn:
        for snapshot in storage.latest_snapshots(conn):
            artifacts, _ = storage.load_artifact_set(conn, snapshot.artifact_set_id)
            blocking = sorted(
                a.relative_path or a.path_pattern for a in artifacts if a.blocking and not a.present
            )
            if snapshot.completeness == "incomplete":
                incomplete.append(f"{snapshot.feature_slug}: {', '.join(blocking) or '?'}")
            counts = snapshot.counts
            rows.append(
                [
                    snapshot.feature_slug,
                    snapshot.completeness,
                    f"{counts.required_present}/{counts.required}",
                    ", ".join(blocking) or "-",
                ]
            )
    return dg.AssetCheckResult(
        passed=not incomplete,
        severity=dg.AssetCheckSeverity.ERROR,
        description=(
            "incomplete: " + "; ".join(incomplete)
            if incomplete
            else f"{len(rows)} feature(s), none incomplete"
        ),
        metadata={
            "features": dg.MetadataValue.int(len(rows)),
            "incomplete": dg.MetadataValue.int(len(incomplete)),
            "by_feature": markdown_table(
                ["feature", "completeness", "required present", "blocking missing"],
                rows,
                empty="no feature scanned yet",
            ),
        },
    )


def _paths(reconciliation, kind: DivergenceKind) -> str:
    return ", ".join(reconciliation.paths(kind)) or "-"


@dg.asset_check(
    asset=dossier_snapshot,
    automation_condition=AFTER_A_SCAN,
    description=(
        "Every feature's newest snapshot has the parity hash of its baseline. Drift warns and "
        "names every divergent path (content_mismatch, missing_in_local, missing_in_baseline); "
        "stored data that cannot be reconciled is an error."
    ),
)
def dossier_parity_drift(procobs_db: ProcobsDatabase) -> dg.AssetCheckResult:
    rows, drifted, broken = [], [], []
    with procobs_db.current().read() as conn:
        for snapshot in storage.latest_snapshots(conn):
            result = reconcile_snapshot(conn, snapshot)
            if result.verdict == ParityVerdict.DIVERGENCE:
                named = "; ".join(
                    f"{kind.value} {_paths(result, kind)}"
                    for kind in DivergenceKind
                    if result.paths(kind)
                )
                drifted.append(f"{snapshot.feature_slug}: {named}")
            elif result.verdict == ParityVerdict.ERROR:
                broken.append(f"{snapshot.feature_slug}: {result.detail}")
            rows.append(
                [
                    snapshot.feature_slug,
                    result.verdict.value,
                    result.severity or "-",
                    _paths(result, DivergenceKind.CONTENT_MISMATCH),
                    _paths(result, DivergenceKind.MISSING_IN_LOCAL),
                    _paths(result, DivergenceKind.MISSING_IN_BASELINE),
                ]
            )
    problems = broken + drifted
    return dg.AssetCheckResult(
        passed=not problems,
        severity=dg.AssetCheckSeverity.ERROR if broken else dg.AssetCheckSeverity.WARN,
        description=("; ".join(problems) if problems else f"{len(rows)} feature(s), no drift"),
        metadata={
            "features": dg.MetadataValue.int(len(rows)),
            "drifted": dg.MetadataValue.int(len(drifted)),
            "errors": dg.MetadataValue.int(len(broken)),
            "by_feature": markdown_table(
                [
                    "feature",
                    "verdict",
                    "severity",
                    "content mismatch",
                    "missing in local",
                    "missing in baseline",
                ],
                rows,
                empty="no feature scanned yet",
            ),
        },
    )
