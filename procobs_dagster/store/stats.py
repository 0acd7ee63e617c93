"""Grouped row counts for dashboards (the Dagster assets' metadata), one query each."""

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection


def grouped_counts(
    conn: Connection,
    table: sa.Table,
    columns: Sequence[sa.ColumnElement],
    *,
    where: Sequence[sa.ColumnElement[bool]] = (),
) -> dict[tuple, int]:
    """``{(value, ...): rows}`` for each combination of ``columns`` present in ``table``."""
    rows = conn.execute(
        sa.select(*columns, sa.func.count())
        .select_from(table)
        .where(*where)
        .group_by(*columns)
        .order_by(*columns)
    )
    return {tuple(row[:-1]): row[-1] for row in rows}
