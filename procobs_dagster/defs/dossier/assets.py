"""The mission dossier snapshot as a Dagster asset, one partition per feature slug."""

import dagster as dg
from pydantic import Field

from procobs_dagster import dossier, limits
from procobs_dagster.defs.conventions import DATABASE_KINDS, OWNERS
from procobs_dagster.defs.markdown import markdown_table
from procobs_dagster.defs.resources import ProcobsDatabase
from procobs_dagster.dossier import storage
from procobs_dagster.errors import InvalidInput

# Features appear as partitions when they are first scanned (see sensors.py).
feature_partitions = dg.DynamicPartitionsDefinition(name="dossier_feature")


class DossierScanConfig(dg.Config):
    root: str = Field(
        default="", description="Mission folder; empty: the folder of the feature's last scan."
    )
    manifest: str = Field(
        default="", description="Manifest YAML file; empty: the bundled software-dev manifest."
    )
    step: str = Field(default="", description="Mission step; empty: the step of the last scan.")
    full: bool = Field(default=False, description="Re-hash every file, changed or not.")


def _scan_settings(
    config: DossierScanConfig, last: dossier.Snapshot | None, feature: str
) -> tuple[str, dossier.Manifest, str | None]:
    """Where, against what and at which step to rescan: the config, else the last scan."""
    manifest = (
        dossier.load_manifest(config.manifest) if config.manifest else dossier.default_manifest()
    )
    if last is None and not config.root:
        raise InvalidInput(
            f"feature {limits.shown(feature)} has never been scanned: set the root config"
        )
    if last is not None and not config.manifest:
        namespace = (manifest.mission_type, manifest.manifest_version)
        if namespace != (last.mission_type, last.manifest_version):
            raise InvalidInput(
                f"feature {limits.shown(feature)} was scanned against {last.mission_type} "
                f"{last.manifest_version}: set the manifest config to that manifest's file"
            )
    step = config.step or (last.step_id if last else None)
    return config.root or last.root_path, manifest, step


def snapshot_metadata(
    snapshot: dossier.Snapshot, reconciliation: dossier.Reconciliation
) -> dict[str, object]:
    """What a stored snapshot says, whether a run scanned it or the sensor records a scan
    made outside Dagster."""
    counts = snapshot.counts
    return {
        "snapshot_id": dg.MetadataValue.text(str(snapshot.snapshot_id)),
        "root": dg.MetadataValue.path(snapshot.root_path),
        "manifest": dg.MetadataValue.text(f"{snapshot.mission_type} {snapshot.manifest_version}"),
        "step": dg.MetadataValue.text(snapshot.step_id or "-"),
        "parity_hash": dg.MetadataValue.text(snapshot.parity_hash),
        "completeness": dg.MetadataValue.text(snapshot.completeness),
        "required_present": dg.MetadataValue.int(counts.required_present),
        "required_missing": dg.MetadataValue.int(counts.required_missing),
        "optional_present": dg.MetadataValue.int(counts.optional_present),
        "files_hashed": dg.MetadataValue.int(snapshot.hashed_files),
        "parity": dg.MetadataValue.text(reconciliation.verdict.value),
        "divergences": markdown_table(
            ["path", "kind", "artifact", "blocking"],
            [
                [d.relative_path, d.kind.value, d.artifact_key, d.blocking]
                for d in reconciliation.divergences
            ],
            empty=reconciliation.detail or "none",
        ),
    }


def scan_metadata(result: dossier.ScanResult) -> dict[str, object]:
    return {
        **snapshot_metadata(result.snapshot, result.reconciliation),
        "not_present": markdown_table(
            ["artifact", "class", "path", "blocking", "reason"],
            [
                [
                    a.artifact_key,
                    a.artifact_class,
                    a.relative_path or a.path_pattern,
                    a.blocking,
                    a.reason_code,
                ]
                for a in result.missing
            ],
            empty="every artifact present",
        ),
        "events_emitted": dg.MetadataValue.int(sum(result.emission.emitted.values())),
        "events_due": dg.MetadataValue.int(sum(result.emission.due.values())),
    }


@dg.asset(
    partitions_def=feature_partitions,
    group_name="dossier",
    kinds=DATABASE_KINDS,
    owners=OWNERS,
    description=(
        "The parity snapshot of a feature's mission folder, one partition per feature slug: "
        "each artifact indexed against the manifest (present, missing, unreadable), the "
        "completeness, the parity hash, and the verdict against the feature's baseline. "
        "Materialising rescans the folder (only changed files are re-hashed) and emits the "
        "dossier events through the gate; a scan made outside Dagster (procobs dossier scan) "
        "is recorded as a materialisation of its feature's partition by "
        "dossier_features_sensor, without rescanning."
    ),
)
def dossier_snapshot(
    context: dg.AssetExecutionContext, config: DossierScanConfig, procobs_db: ProcobsDatabase
) -> dg.MaterializeResult:
    feature = context.partition_key
    db = procobs_db.migrated()
    with db.read() as conn:
        last = storage.latest_snapshot(conn, feature)
    root, manifest, step = _scan_settings(config, last, feature)
    result = dossier.scan_dossier(db, root, feature, manifest, step, config.full)
    if result.emission.error:
        context.log.warning(f"dossier events not emitted: {result.emission.error}")
    return dg.MaterializeResult(metadata=scan_metadata(result))
