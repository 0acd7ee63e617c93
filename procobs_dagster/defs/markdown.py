"""Metadata the Dagster UI renders: markdown tables, and ages it plots."""

from collections.abc import Iterable, Sequence

import dagster as dg

from procobs_dagster.limits import shown
from procobs_dagster.records import UnusableRow


def _cell(value: object) -> str:
    text = "-" if value is None else str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def markdown_table(
    headers: Sequence[str], rows: Iterable[Sequence[object]], empty: str = "none"
) -> dg.MetadataValue:
    rows = list(rows)
    if not rows:
        return dg.MetadataValue.md(f"_{empty}_")
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return dg.MetadataValue.md("\n".join(lines))


def age_metadata(name: str, seconds: float | None) -> dict[str, dg.MetadataValue]:
    """``{name: seconds}`` for the UI's plot, or nothing while there is nothing to age."""
    return {} if seconds is None else {name: dg.MetadataValue.float(seconds)}


def unusable_metadata(rows: Sequence[UnusableRow]) -> dg.MetadataValue:
    """Stored settings a job left aside, each with its problem and fix, as a table."""
    return markdown_table(
        ["table", "row", "problem", "fix"],
        [[r.table, shown(r.key), r.problem, r.fix] for r in rows],
        empty="every stored setting was usable",
    )
