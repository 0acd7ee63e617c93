"""The ledger's PostgreSQL functions (migrations 0012 and 0014) take one argument per
column of the run and component tables, frozen in the migration; a column added later
must come with a migration that replaces them (docs/ledger.md, "The write path")."""

import importlib.util
from pathlib import Path

import pytest

from procobs_dagster.store import tables

VERSIONS = Path(tables.__file__).parent.parent / "migrations" / "versions"
MIGRATIONS = ("0012_ledger_functions", "0014_ledger_compound_moves")


def _migration(name: str):
    spec = importlib.util.spec_from_file_location(f"migration_{name}", VERSIONS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", MIGRATIONS)
@pytest.mark.parametrize(
    ("table", "frozen"),
    [
        ("process_run_observation", ("_RUN_COLUMNS", "_LIFECYCLE_COLUMNS")),
        ("process_component_observation", ("_COMPONENT_COLUMNS", "_LIFECYCLE_COLUMNS")),
    ],
)
def test_functions_take_every_column_of_their_table(name, table, frozen):
    migration = _migration(name)
    names = [column for part in frozen for column, _ in getattr(migration, part)]
    assert sorted(names) == sorted(c.name for c in tables.metadata.tables[table].columns), (
        f"{table}'s columns changed: replace the functions of {name} in a new migration"
    )
