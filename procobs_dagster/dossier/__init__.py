"""The mission dossier: a folder's artifacts indexed against a manifest, hashed into a
parity snapshot, reconciled with a baseline, and reported through four events.

Dagster-free; ``defs/`` wraps ``scan_dossier`` and ``reconcile``.
"""

from importlib import resources
from pathlib import Path

from procobs_dagster.dossier.emission import EmissionReport
from procobs_dagster.dossier.hashing import parity_hash
from procobs_dagster.dossier.manifest import (
    ArtifactEntry,
    InvalidManifest,
    Manifest,
    UnknownStep,
    default_manifest,
    load_manifest,
)
from procobs_dagster.dossier.reconcile import (
    Divergence,
    DivergenceKind,
    ParityVerdict,
    Reconciliation,
    capture_baseline,
    reconcile,
)
from procobs_dagster.dossier.records import Artifact, Baseline, Counts, Snapshot
from procobs_dagster.dossier.scan import InvalidMissionFolder, ScanResult, scan_dossier
from procobs_dagster.dossier.storage import UnknownFeature


def sample_mission() -> Path:
    """The bundled sample mission folder, complete for the default manifest."""
    return Path(str(resources.files("procobs_dagster.dossier").joinpath("sample_mission")))


__all__ = [
    "Artifact",
    "ArtifactEntry",
    "Baseline",
    "Counts",
    "Divergence",
    "DivergenceKind",
    "EmissionReport",
    "InvalidManifest",
    "InvalidMissionFolder",
    "Manifest",
    "ParityVerdict",
    "Reconciliation",
    "ScanResult",
    "Snapshot",
    "UnknownFeature",
    "UnknownStep",
    "capture_baseline",
    "default_manifest",
    "load_manifest",
    "parity_hash",
    "reconcile",
    "sample_mission",
    "scan_dossier",
]
