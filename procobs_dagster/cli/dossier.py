"""`procobs dossier`: scan mission folders, keep baselines, detect parity drift."""

from pathlib import Path

import click

from procobs_dagster import dossier as dossier_api
from procobs_dagster.cli.context import CliContext, pass_cli
from procobs_dagster.cli.output import echo_table, emit_json, json_option, say
from procobs_dagster.cli.params import IDENTIFIER, NAME, SafePath
from procobs_dagster.dossier import storage
from procobs_dagster.dossier.reconcile import ParityVerdict, Reconciliation
from procobs_dagster.errors import DatabaseUnreachable, ProcobsError, SchemaNotReady

MISSING_COLUMNS = (
    "artifact_key",
    "relative_path",
    "required_status",
    "blocking",
    "reason_code",
    "reason_detail",
)
ARTIFACT_COLUMNS = (
    "artifact_key",
    "artifact_class",
    "relative_path",
    "required_status",
    "present",
    "content_sha256",
)
DIVERGENCE_COLUMNS = ("relative_path", "kind", "artifact_key", "blocking")
BASELINE_COLUMNS = (
    "mission_type",
    "manifest_version",
    "snapshot_id",
    "parity_hash",
    "captured_at",
    "captured_by",
)


class DriftCheckFailed(ProcobsError):
    """`dossier drift` could not answer: exit 2, apart from drift (1) and parity (0)."""

    exit_code = 2


@click.group()
def dossier() -> None:
    """Mission dossiers: scan a folder against its manifest, keep a baseline, detect drift."""


def _echo_reconciliation(result: Reconciliation, label: str) -> None:
    line = result.verdict.value
    if result.verdict == ParityVerdict.DIVERGENCE:
        line += f"  {len(result.divergences)} path(s), severity {result.severity}"
    if result.detail:
        line += f"  ({result.detail})"
    say(f"{label:<14} {line}")
    if result.divergences:
        echo_table((d.as_dict() for d in result.divergences), DIVERGENCE_COLUMNS, empty="")


@dossier.command()
@click.argument("path", type=SafePath(path_type=Path))
@click.option(
    "--feature", required=True, type=IDENTIFIER, help="Feature slug the folder belongs to."
)
@click.option(
    "--manifest",
    "manifest_file",
    type=SafePath(path_type=Path),
    help="Manifest YAML.  [default: the shipped software-dev manifest]",
)
@click.option("--no-manifest", is_flag=True, help="Index every file; completeness is unknown.")
@click.option(
    "--step",
    type=IDENTIFIER,
    help="Mission step reached: its entries and earlier steps' are required.",
)
@click.option("--full", is_flag=True, help="Re-hash every file, even unchanged ones.")
@json_option
@pass_cli
def scan(
    cli: CliContext,
    path: Path,
    feature: str,
    manifest_file: Path | None,
    no_manifest: bool,
    step: str | None,
    full: bool,
    as_json: bool,
) -> None:
    """Scan the mission folder PATH and store a snapshot of its artifacts."""
    if manifest_file and no_manifest:
        raise click.UsageError("--manifest and --no-manifest exclude each other")
    if no_manifest:
        manifest = None
    elif manifest_file:
        manifest = dossier_api.load_manifest(manifest_file)
    else:
        manifest = dossier_api.default_manifest()
    result = dossier_api.scan_dossier(cli.ready_database(), path, feature, manifest, step, full)
    if result.emission.error:
        say(f"procobs: warning: events not emitted: {result.emission.error}", err=True)
    if as_json:
        emit_json(result.as_dict())
        return
    snap = result.snapshot
    counts = snap.counts
    say(f"snapshot:      {snap.snapshot_id}")
    say(
        f"feature:       {snap.feature_slug}  ({snap.mission_type} {snap.manifest_version},"
        f" step {snap.step_id or '-'})"
    )
    say(
        f"completeness:  {snap.completeness}  (required {counts.required_present}/{counts.required}"
        f" present, optional {counts.optional_present}/{counts.optional} present)"
    )
    say(f"parity hash:   {snap.parity_hash}")
    present = counts.required_present + counts.optional_present
    if result.reused:
        say(f"files hashed:  0  (folder unchanged since the last scan: {present} hashes reused)")
    else:
        kept = max(present - len(result.hashed_paths), 0)
        say(f"files hashed:  {len(result.hashed_paths)}  (unchanged, hash kept: {kept})")
    if result.missing:
        say("not present:")
        echo_table((a.as_dict() for a in result.missing), MISSING_COLUMNS, empty="")
    for skipped in result.skipped:
        say(f"not followed:  {skipped.relative_path}  ({skipped.reason})")
    _echo_reconciliation(result.reconciliation, "baseline:")
    emitted = sum(result.emission.emitted.values())
    due = sum(result.emission.due.values())
    say(f"events:        {emitted} of {due} emitted (inactive types emit nothing)")


@dossier.command()
@click.argument("feature", type=IDENTIFIER)
@json_option
@pass_cli
def show(cli: CliContext, feature: str, as_json: bool) -> None:
    """Show the newest snapshot of FEATURE and its artifacts."""
    with cli.ready_database().read() as conn:
        snapshot = storage.require_latest_snapshot(conn, feature)
        artifacts, _ = storage.load_artifact_set(conn, snapshot.artifact_set_id)
    if as_json:
        emit_json({"snapshot": snapshot.as_dict(), "artifacts": [a.as_dict() for a in artifacts]})
        return
    for key, value in snapshot.as_dict().items():
        say(f"{key:>18}: {'-' if value is None else value}")
    say("")
    echo_table((a.as_dict() for a in artifacts), ARTIFACT_COLUMNS, empty="no artifacts")


@dossier.group()
def baseline() -> None:
    """The snapshot drift is measured against, one per (feature, mission type, manifest version)."""


@baseline.command("set")
@click.argument("feature", type=IDENTIFIER)
@click.option(
    "--by", "captured_by", type=NAME, help="Who captures the baseline (recorded with it)."
)
@json_option
@pass_cli
def baseline_set(cli: CliContext, feature: str, captured_by: str | None, as_json: bool) -> None:
    """Capture the newest snapshot of FEATURE as the baseline of its namespace."""
    with cli.ready_database().begin() as conn:
        captured, snapshot = dossier_api.capture_baseline(conn, feature, captured_by)
    if as_json:
        emit_json({**captured.as_dict(), "parity_hash": snapshot.parity_hash})
        return
    say(
        f"baseline of {feature} ({captured.mission_type} {captured.manifest_version}) is now"
        f" snapshot {captured.snapshot_id}  {snapshot.parity_hash}"
    )


@baseline.command("show")
@click.argument("feature", type=IDENTIFIER)
@json_option
@pass_cli
def baseline_show(cli: CliContext, feature: str, as_json: bool) -> None:
    """List the baselines of FEATURE, one per namespace."""
    with cli.ready_database().read() as conn:
        rows = [
            {**b.as_dict(), "parity_hash": storage.get_snapshot(conn, b.snapshot_id).parity_hash}
            for b in storage.baselines_of(conn, feature)
        ]
    if as_json:
        emit_json(rows)
    else:
        echo_table(rows, BASELINE_COLUMNS, empty=f"no baseline for {feature}")


@dossier.command()
@click.argument("feature", type=IDENTIFIER)
@json_option
@pass_cli
def drift(cli: CliContext, feature: str, as_json: bool) -> None:
    """Reconcile the newest snapshot of FEATURE with its baseline.

    Exit 0 on PARITY (or NO_BASELINE: nothing to drift from), 1 on DIVERGENCE, 2 on ERROR
    or when there is nothing to reconcile (3 when the database is unreachable)."""
    try:
        result = dossier_api.reconcile(cli.ready_database(), feature)
    except (DatabaseUnreachable, SchemaNotReady):
        raise
    except ProcobsError as exc:
        raise DriftCheckFailed(str(exc)) from None
    if as_json:
        emit_json(result.as_dict())
    else:
        say(f"feature:       {feature}  ({result.mission_type} {result.manifest_version})")
        say(f"local:         {result.local_snapshot_id}  {result.local_parity_hash}")
        if result.baseline_snapshot_id:
            say(f"baseline:      {result.baseline_snapshot_id}  {result.baseline_parity_hash}")
        _echo_reconciliation(result, "verdict:")
    click.get_current_context().exit(result.verdict.exit_code)
