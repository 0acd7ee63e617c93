"""Correlation across processes: the environment a child process gets, and the run that
environment names.

A child process joins a run through four variables (:func:`child_env`):
``PROCOBS_PROCESS_RUN_ID``, ``PROCOBS_CORRELATION_ID``, ``PROCOBS_DRY_RUN`` (``1`` for a
dry run, so the child can skip side effects) and ``PROCOBS_DATABASE_URL`` (the ledger to
write to). A step opened in the child — e.g. ``procobs observe`` — joins that run; if the
variables name no run, the step is recorded as an ``orphan`` and the
process.correlation.missing alert is raised.
"""

import contextlib
import os
import uuid
from pathlib import Path

from procobs_dagster.errors import UnknownRun
from procobs_dagster.ids import parse_uuid
from procobs_dagster.ledger import context
from procobs_dagster.ledger.records import RunRecord
from procobs_dagster.ledger.runs import find_run_by_correlation, get_run
from procobs_dagster.store.engine import Database

ENV_PROCESS_RUN_ID = "PROCOBS_PROCESS_RUN_ID"
ENV_CORRELATION_ID = "PROCOBS_CORRELATION_ID"
ENV_DRY_RUN = "PROCOBS_DRY_RUN"
ENV_DATABASE_URL = "PROCOBS_DATABASE_URL"


def variables_for(
    db: Database, process_run_id: uuid.UUID | None, correlation_id: str, dry_run: bool
) -> dict[str, str]:
    """Environment variables that make a child process's steps join this run."""
    env = {
        ENV_CORRELATION_ID: correlation_id,
        ENV_DRY_RUN: "1" if dry_run else "0",
        ENV_DATABASE_URL: _url_for_child(db),
    }
    if process_run_id is not None:
        env[ENV_PROCESS_RUN_ID] = str(process_run_id)
    return env


def child_env() -> dict[str, str]:
    """Variables for a child process to join the current step's (or run's) run; empty
    outside any run."""
    scope = context.current_step() or context.current_run()
    return scope.env() if scope is not None else {}


def _url_for_child(db: Database) -> str:
    url = db.url
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        url = url.set(database=str(Path(url.database).resolve()))
    return url.render_as_string(hide_password=False)


def run_named_by_env(db: Database) -> "RunRecord | tuple[str, str] | None":
    """The run the environment names: a RunRecord, or (variable, value) when it names
    none, or None when it names nothing."""
    raw_id = os.environ.get(ENV_PROCESS_RUN_ID) or None
    correlation_id = os.environ.get(ENV_CORRELATION_ID) or None
    if raw_id is None and correlation_id is None:
        return None
    run_id = None if raw_id is None else parse_uuid(raw_id, ENV_PROCESS_RUN_ID)
    with db.read() as conn:
        run = None
        if run_id is not None:
            with contextlib.suppress(UnknownRun):
                run = get_run(conn, run_id)
        if run is not None and correlation_id not in (None, run.correlation_id):
            run = None
        if run is None and correlation_id is not None:
            run = find_run_by_correlation(conn, correlation_id)
    if run is not None:
        return run
    if correlation_id is not None:
        return (ENV_CORRELATION_ID, correlation_id)
    return (ENV_PROCESS_RUN_ID, raw_id)
