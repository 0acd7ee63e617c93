"""The ledger's PostgreSQL functions (migration 0012) take one argument per column of the
run and component tables, frozen in the migration; a column added later must come with a
migration that replaces them (docs/ledger.md, "The write path")."""

import importlib.util
from pathlib import Path

import pytest

from procobs_dagster.store import tables

MIGRATION = (
    Path(tables.__file__).parent.parent / "migrations" / "versions" / "0012_ledger_functions.py"
)


def _migration():
    spec = importlib.util.spec_from_file_location("ledger_functions_migration", MIGRATION)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("table", "frozen"),
    [
        ("process_run_observation", ("_RUN_COLUMNS", "_LIFECYCLE_COLUMNS")),
        ("process_component_observation", ("_COMPONENT_COLUMNS", "_LIFECYCLE_COLUMNS")),
    ],
)
def test_functions_take_every_column_of_their_table(table, frozen):
    migration = _migration()
    names = [name for part in frozen for name, _ in getattr(migration, part)]
    assert sorted(names) == sorted(c.name for c in tables.metadata.tables[table].columns), (
        f"{table}'s columns changed: replace procobs_insert_*/procobs_move_* in a new migration"
    )
