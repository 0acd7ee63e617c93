"""Statements whose construction differs by dialect (not just their spelling)."""

import functools

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite


@functools.cache
def insert_ignoring_conflicts(dialect: str, table: sa.Table) -> sa.Insert:
    """``INSERT … ON CONFLICT DO NOTHING`` on any unique constraint or index."""
    module = postgresql if dialect == "postgresql" else sqlite
    return module.insert(table).on_conflict_do_nothing()
