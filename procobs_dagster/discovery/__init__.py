"""Process discovery: which candidates really run, with what evidence, and the owner-gated
birth of a process definition from a verified candidate.

Dagster-free: ``defs/`` materialises these as assets. Everything that writes takes a
Connection inside a transaction the caller owns.
"""

from procobs_dagster.discovery.birth import Birth, birth
from procobs_dagster.discovery.catalog import (
    CandidateSpec,
    Catalog,
    Step,
    default_catalog_path,
    load_catalog,
    parse_catalog,
    sample_catalog_path,
)
from procobs_dagster.discovery.explain import explain
from procobs_dagster.discovery.ocel import ExportSummary, export_ocel
from procobs_dagster.discovery.results import (
    SCORE_DEFINITIONS,
    VARIANTS_SHOWN,
    CandidateScore,
    Edge,
    Explanation,
    Trace,
    Variant,
)
from procobs_dagster.discovery.score_storage import score_candidates, store_scores
from procobs_dagster.discovery.scoring import compute_scores, score_of
from procobs_dagster.discovery.summaries import SummaryRefresh, refresh_summaries
from procobs_dagster.errors import BirthRefused, UnknownCandidate

__all__ = [
    "SCORE_DEFINITIONS",
    "VARIANTS_SHOWN",
    "Birth",
    "BirthRefused",
    "CandidateScore",
    "CandidateSpec",
    "Catalog",
    "Edge",
    "Explanation",
    "ExportSummary",
    "Step",
    "SummaryRefresh",
    "Trace",
    "UnknownCandidate",
    "Variant",
    "birth",
    "compute_scores",
    "default_catalog_path",
    "explain",
    "export_ocel",
    "load_catalog",
    "parse_catalog",
    "refresh_summaries",
    "sample_catalog_path",
    "score_candidates",
    "score_of",
    "store_scores",
]
