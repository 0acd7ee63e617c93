"""Dagster's event log as the plain values sources/dagster_runs.py reads.

Run status changes come from ``fetch_run_status_changes``, one query per kind, each after
the same storage id and bounded: the run status changes share one sequence of storage ids
(on SQLite, the index shard Dagster mirrors them into), so merging the queries and keeping
the first ``limit`` is their storage order. A run's step records come from
``get_records_for_run``, which reads that run's own log (its shard on SQLite).
"""

import datetime as dt

import dagster as dg

from procobs_dagster.sources import dagster_runs
from procobs_dagster.sources.dagster_runs import (
    DagsterRun,
    Materialization,
    RecordsPage,
    RunChange,
    RunChangeKind,
    StepRecord,
    StepRecordKind,
)

CODE_LOCATION_TAG = "dagster/code_location"
RUN_CHANGES = {kind: dg.DagsterEventType[kind.value] for kind in RunChangeKind}
STEP_RECORDS = {kind: dg.DagsterEventType[kind.value] for kind in StepRecordKind}
_STEP_KINDS = {event_type: kind for kind, event_type in STEP_RECORDS.items()}


class InstanceEventLog:
    """``dagster_runs.EventLog`` over a Dagster instance."""

    def __init__(self, instance: dg.DagsterInstance):
        self.instance = instance

    def run_changes(self, after: int, limit: int) -> list[RunChange]:
        records = []
        for kind, event_type in RUN_CHANGES.items():
            result = self.instance.fetch_run_status_changes(
                dg.RunStatusChangeRecordsFilter(event_type, after_storage_id=after),
                limit=limit,
                ascending=True,
            )
            records += [(record, kind) for record in result.records]
        records = sorted(records, key=lambda pair: pair[0].storage_id)[:limit]
        runs = self._runs({record.run_id for record, _ in records})
        return [
            RunChange(
                storage_id=record.storage_id,
                kind=kind,
                at=_time(record.event_log_entry.timestamp),
                run=runs.get(record.run_id),
                message=record.event_log_entry.message or None,
            )
            for record, kind in records
        ]

    def run_records(self, run_id: str, cursor: str | None, limit: int) -> RecordsPage:
        connection = self.instance.get_records_for_run(
            run_id, cursor=cursor, of_type=set(STEP_RECORDS.values()), limit=limit
        )
        return RecordsPage(
            records=tuple(_step_record(record) for record in connection.records),
            cursor=connection.cursor,
            has_more=connection.has_more,
        )

    def _runs(self, run_ids: set[str]) -> dict[str, DagsterRun]:
        """The runs (with the run each re-executes, while it is in the instance), by id."""
        if not run_ids:
            return {}
        found = self.instance.get_runs(dg.RunsFilter(run_ids=sorted(run_ids)))
        parent_ids = {run.parent_run_id for run in found if run.parent_run_id}
        parents = {
            run.run_id: _run(run)
            for run in (
                self.instance.get_runs(dg.RunsFilter(run_ids=sorted(parent_ids)))
                if parent_ids
                else ()
            )
        }
        return {run.run_id: _run(run, parents.get(run.parent_run_id)) for run in found}


def _run(run: dg.DagsterRun, parent: DagsterRun | None = None) -> DagsterRun:
    origin = run.remote_job_origin
    location = origin.location_name if origin is not None else run.tags.get(CODE_LOCATION_TAG)
    return DagsterRun(
        run_id=run.run_id,
        job_name=run.job_name,
        location=location,
        snapshot_id=run.job_snapshot_id,
        parent=parent,
    )


def _step_record(record: dg.EventLogRecord) -> StepRecord:
    entry = record.event_log_entry
    event = entry.dagster_event
    kind = _STEP_KINDS[event.event_type]
    materialization = None
    if kind is StepRecordKind.MATERIALIZATION:
        asset = event.step_materialization_data.materialization
        values = {key: value.value for key, value in asset.metadata.items()}
        materialization = Materialization(
            asset_key=asset.asset_key.to_user_string(),
            partition=asset.partition,
            row_count=dagster_runs.row_count(values),
        )
    return StepRecord(
        storage_id=record.storage_id,
        kind=kind,
        step_key=event.step_key,
        at=_time(entry.timestamp),
        error=_cause(event.step_failure_data.error) if kind is StepRecordKind.FAILURE else None,
        materialization=materialization,
    )


def _cause(error) -> str | None:
    """The innermost cause of a step's failure, as it was raised ("ValueError: …")."""
    if error is None:
        return None
    while error.cause is not None:
        error = error.cause
    return error.message.strip() or None


def _time(timestamp: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC)
