"""Markdown tables for asset and check metadata, which the Dagster UI renders."""

from collections.abc import Iterable, Sequence

import dagster as dg


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
