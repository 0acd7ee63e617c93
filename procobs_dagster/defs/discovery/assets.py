"""Process discovery scores as a Dagster asset: the status of every candidate, why, and
the directly-follows relation of its components."""

import dagster as dg
from pydantic import Field

from procobs_dagster import discovery
from procobs_dagster.defs.automation import REFRESH_FRESHNESS
from procobs_dagster.defs.conventions import DATABASE_KINDS, OWNERS
from procobs_dagster.defs.ledger.assets import components_spec, runs_spec
from procobs_dagster.defs.markdown import markdown_table
from procobs_dagster.defs.resources import ProcobsDatabase
from procobs_dagster.store.vocabulary import CANDIDATE_STATUSES


class DiscoveryConfig(dg.Config):
    catalog: str = Field(
        default="",
        description="Candidate catalog YAML; empty: $PROCOBS_CATALOG, else the bundled sample.",
    )
    full: bool = Field(
        default=False,
        description="Re-summarise every trace from the live and archive tables; by default "
        "only the traces changed since the last scoring are re-read.",
    )


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def score_metadata(scores: list[discovery.CandidateScore]) -> dict[str, object]:
    by_status: dict[str, int] = {}
    for score in scores:
        by_status[score.status] = by_status.get(score.status, 0) + 1
    follows = [
        [score.candidate_code, edge.source, edge.target, edge.count]
        for score in scores
        for edge in score.directly_follows
    ]
    return {
        "candidates": dg.MetadataValue.int(len(scores)),
        # Every status every time, zeros included, so each plots as a continuous line.
        **{status: dg.MetadataValue.int(by_status.get(status, 0)) for status in CANDIDATE_STATUSES},
        "scores": markdown_table(
            [
                "candidate",
                "status",
                "real runs",
                "dry runs",
                "completion",
                "evidence",
                "fitness",
                "last seen",
                "why",
            ],
            [
                [
                    s.candidate_code,
                    s.status,
                    s.support,
                    s.dry_runs,
                    _ratio(s.completion_ratio),
                    _ratio(s.evidence_completeness),
                    _ratio(s.fitness),
                    s.last_seen_at.isoformat() if s.last_seen_at else None,
                    s.summary,
                ]
                for s in scores
            ],
            empty="no candidate declared or seen",
        ),
        "directly_follows": markdown_table(
            ["candidate", "from", "to", "count"], follows, empty="no component sequence yet"
        ),
    }


@dg.asset(
    group_name="discovery",
    kinds=DATABASE_KINDS,
    owners=OWNERS,
    deps=[runs_spec.key, components_spec.key],
    # Re-scored in the run that re-reads the ledger tables (on their cron, or at once when
    # the outbox sensor sees a run end), never twice for one refresh.
    automation_condition=dg.AutomationCondition.eager(),
    freshness_policy=REFRESH_FRESHNESS,
    description=(
        "Discovery scores of every process candidate (declared in the catalog or seen in "
        "the ledger): runtime_missing, wired (dry runs only), observed, or "
        "verified_candidate (a real completed run with two components sharing its "
        "correlation_id, or job_queue rows sharing a run_id), with support, completion, "
        "evidence completeness, fitness and the directly-follows relation of components. "
        "Re-reads only the traces changed since the last scoring (config full: all). "
        "Observation is never a birth: this writes scores only."
    ),
)
def discovery_scores(config: DiscoveryConfig, procobs_db: ProcobsDatabase) -> dg.MaterializeResult:
    catalog = discovery.load_catalog(config.catalog or discovery.default_catalog_path())
    with procobs_db.migrated().begin() as conn:
        scores = discovery.score_candidates(conn, catalog, full=config.full)
    return dg.MaterializeResult(metadata=score_metadata(scores))
