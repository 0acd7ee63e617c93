"""One candidate's score with the evidence behind it, for `procobs discovery explain`."""

from sqlalchemy.engine import Connection

from procobs_dagster import limits
from procobs_dagster.discovery.catalog import Catalog
from procobs_dagster.discovery.evidence import recent_traces
from procobs_dagster.discovery.results import Explanation, Trace
from procobs_dagster.discovery.scoring import score_of
from procobs_dagster.discovery.summaries import current_traces


def explain(conn: Connection, catalog: Catalog, code: str, runs: int = 10) -> Explanation:
    """One candidate's score with the evidence behind it: its most recent runs (real
    first), each with the bar's three checks."""
    limits.check_count(runs, "runs")
    score = score_of(conn, catalog, code)
    traces = current_traces(conn, catalog, (code,))
    recent = tuple(
        Trace.from_row(row) for row in conn.execute(recent_traces(traces, runs)).mappings()
    )
    spec = catalog.get(code)
    return Explanation(score, recent, tuple(s.model_dump() for s in spec.steps) if spec else ())
