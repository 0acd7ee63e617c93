"""`procobs discovery`: which process candidates really run, why, and the OCEL 2.0 export."""

from pathlib import Path

import click

from procobs_dagster import discovery as discovery_api
from procobs_dagster import output_files
from procobs_dagster.cli.confirm import confirm_replacing, yes_option
from procobs_dagster.cli.context import CliContext, pass_cli
from procobs_dagster.cli.output import echo_table, emit_json, json_option, say
from procobs_dagster.cli.params import IDENTIFIER, ROWS, SafePath
from procobs_dagster.discovery.ocel import export_ocel

SCORE_COLUMNS = (
    "candidate",
    "status",
    "support",
    "dry_runs",
    "completion",
    "evidence",
    "fitness",
    "last_seen",
    "why",
)
RUN_COLUMNS = ("run_id", "origin", "header", "steps", "completed", "two_steps", "timed", "verdict")

catalog_option = click.option(
    "--catalog",
    "catalog_path",
    type=SafePath(dir_okay=False, path_type=Path),
    envvar="PROCOBS_CATALOG",
    help="Candidate catalog (YAML).  [default: $PROCOBS_CATALOG, else the bundled sample]",
)


def load(catalog_path: Path | None) -> discovery_api.Catalog:
    return discovery_api.load_catalog(catalog_path or discovery_api.default_catalog_path())


def _score_row(score: discovery_api.CandidateScore) -> dict:
    status = score.status + (f" (born {score.definition_code})" if score.definition_code else "")
    return {
        "candidate": score.candidate_code + ("" if score.declared else " *"),
        "status": status,
        "support": score.support,
        "dry_runs": score.dry_runs,
        "completion": score.completion_ratio,
        "evidence": score.evidence_completeness,
        "fitness": score.fitness,
        "last_seen": score.last_seen_at.isoformat(timespec="seconds")
        if score.last_seen_at
        else None,
        "why": score.summary,
    }


@click.group()
def discovery() -> None:
    """Process discovery: the evidence that each candidate really runs."""


@discovery.command()
@catalog_option
@click.option(
    "--full",
    is_flag=True,
    help="Re-summarise every trace from the live and archive tables, not only the traces "
    "changed since the last scoring.",
)
@json_option
@pass_cli
def score(cli: CliContext, catalog_path: Path | None, full: bool, as_json: bool) -> None:
    """Score every declared and discovered candidate, store the scores, and show them.

    The bar for verified_candidate (docs/design.md, "The verified bar"): one real run
    with a completed header, ≥2 components sharing its correlation_id, started_at and
    ended_at set. Dry runs and last_executed backfills never count. * marks a candidate
    the catalog does not declare. Only the traces changed since the last scoring are
    re-read (docs/discovery.md, "Trace summaries"); --full re-reads them all.
    """
    catalog = load(catalog_path)
    with cli.ready_database().begin() as conn:
        scores = discovery_api.score_candidates(conn, catalog, full=full)
    if as_json:
        emit_json([s.as_dict() for s in scores])
        return
    echo_table((_score_row(s) for s in scores), SCORE_COLUMNS, empty="no candidates")


def _echo_explanation(result: discovery_api.Explanation) -> None:
    score = result.score
    kind = f"declared, {score.source}" if score.declared else "discovered, not in the catalog"
    say(f"{score.candidate_code}  ({kind})")
    say(f"status:      {score.status}")
    say(f"why:         {score.explanation}")
    if score.definition_code:
        say(f"born as:     {score.definition_code}")
    if result.expected_steps:
        steps = " → ".join(
            s["code"] + (f" ({s['role']})" if s["role"] else "") for s in result.expected_steps
        )
        say(f"expected:    {steps}")
    measures = {
        "support": score.support,
        "completion_ratio": score.completion_ratio,
        "evidence_completeness": score.evidence_completeness,
        "fitness": score.fitness,
        "last_seen_at": score.last_seen_at,
    }
    say()
    say("scores:")
    for name, value in measures.items():
        shown = "-" if value is None else f"{value:.3f}" if isinstance(value, float) else value
        say(f"  {name:<22} {shown!s:<34} {discovery_api.SCORE_DEFINITIONS[name]}")
    if score.last_executed:
        say(
            f"  {'last_executed':<22} {score.last_executed.isoformat():<34} "
            "a backfill: shown, never counted"
        )
    say()
    say("variants (real runs, most frequent first):")
    echo_table(
        (
            {"count": v.count, "fits": v.fits, "steps": " → ".join(v.steps) or "(no components)"}
            for v in score.variants[: discovery_api.VARIANTS_SHOWN]
        ),
        ("count", "fits", "steps"),
        empty="  none",
    )
    say()
    say("directly follows:")
    echo_table(
        ({"from": e.source, "to": e.target, "count": e.count} for e in score.directly_follows),
        ("from", "to", "count"),
        empty="  none",
    )
    say()
    say("recent runs (real first) against the bar:")
    echo_table(
        (
            {
                "run_id": t.run_id,
                "origin": t.origin,
                "header": t.header_status or "-",
                "steps": t.steps,
                "completed": t.checks["completed"],
                "two_steps": t.checks["two_components"],
                "timed": t.checks["timestamps"],
                "verdict": "meets the bar" if t.meets_bar else "; ".join(t.missing),
            }
            for t in result.recent_runs
        ),
        RUN_COLUMNS,
        empty="  none",
    )


@discovery.command()
@click.argument("candidate", type=IDENTIFIER)
@click.option("--runs", type=ROWS, default=10, show_default=True, help="Recent runs to show.")
@catalog_option
@json_option
@pass_cli
def explain(
    cli: CliContext, candidate: str, runs: int, catalog_path: Path | None, as_json: bool
) -> None:
    """Why CANDIDATE has its status: the proving (or nearest) run, the scores and their
    definitions, the variants, the directly-follows relation and recent runs."""
    catalog = load(catalog_path)
    with cli.ready_database().read() as conn:
        result = discovery_api.explain(conn, catalog, candidate, runs=runs)
    if as_json:
        emit_json(result.as_dict())
    else:
        _echo_explanation(result)


@discovery.command("export-ocel")
@click.argument("out", type=SafePath(dir_okay=False, path_type=Path))
@click.option(
    "--candidate", type=IDENTIFIER, help="Only the runs of this candidate (and their ancestors)."
)
@click.option("--include-dry-run", is_flag=True, help="Export dry runs too (left out by default).")
@yes_option
@json_option
@pass_cli
def export_ocel_command(
    cli: CliContext,
    out: Path,
    candidate: str | None,
    include_dry_run: bool,
    yes: bool,
    as_json: bool,
) -> None:
    """Write the ledger as an OCEL 2.0 log: OUT.json (JSON) or OUT.sqlite (SQLite).

    Objects: process_run, component, correlation, candidate. Events: every run and
    component transition. Read it with pm4py.read_ocel2_json / read_ocel2_sqlite. An
    existing OUT is replaced only when confirmed (or with --yes); never the procobs
    database itself.
    """
    output_files.check_target(out, "OCEL log")
    cli.refuse_overwriting_database(out)
    confirm_replacing([out], yes=yes)
    summary = export_ocel(
        cli.ready_database(), out, candidate=candidate, include_dry_run=include_dry_run
    )
    if as_json:
        emit_json(summary.as_dict())
        return
    objects = ", ".join(f"{n} {kind}" for kind, n in summary.objects.items())
    say(
        f"wrote {summary.path} (OCEL 2.0 {summary.format}): {summary.events} events of "
        f"{summary.event_types} types; objects: {objects}"
    )
