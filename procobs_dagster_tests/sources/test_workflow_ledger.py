"""Recording workflow reports: what the Python API refuses before it writes."""

import pytest
import sqlalchemy as sa

from procobs_dagster.discovery.catalog import EMPTY_CATALOG
from procobs_dagster.errors import InvalidInput
from procobs_dagster.sources import workflow_ledger
from procobs_dagster.sources.workflow_runs import EventKind, JobRef, WorkflowEvent
from procobs_dagster.store.tables import process_run_observation, workflow_event, workflow_run
from procobs_dagster_tests.sources.helpers import T0


def report(source: str, run_key: str) -> WorkflowEvent:
    return WorkflowEvent(source, run_key, EventKind.START, T0, JobRef(f"{source}/ns", "job"))


def test_a_source_the_tables_do_not_take_is_refused_before_anything_is_written(db):
    batch = [report("openlineage", "r1"), report("prefect\x1b[2J", "r2")]
    unknown = r"workflow source 'prefect\\x1b\[2J' is unknown"
    with pytest.raises(InvalidInput, match=unknown), db.begin() as conn:
        workflow_ledger.record(conn, batch, catalog=EMPTY_CATALOG)
    with db.read() as conn:
        for table in (workflow_event, workflow_run, process_run_observation):
            assert conn.execute(sa.select(sa.func.count()).select_from(table)).scalar() == 0
    with db.begin() as conn:  # the known source alone is recorded
        placed = workflow_ledger.record(conn, batch[:1], catalog=EMPTY_CATALOG)
    assert placed.runs_placed == 1
