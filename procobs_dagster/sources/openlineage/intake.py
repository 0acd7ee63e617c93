"""Accepting OpenLineage events: a batch is checked whole before anything is written, and
written in one transaction — all of it or nothing.

The HTTP receiver takes one event or a JSON array of them; ``procobs workflow ingest``
takes a file as OpenLineage's file transport writes it (one event per line).
"""

import dataclasses
import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Connection

from procobs_dagster import limits
from procobs_dagster.discovery.catalog import Catalog
from procobs_dagster.errors import InvalidInput, ProcobsError
from procobs_dagster.input_files import describe, json_lines, parse_json, read_text_file
from procobs_dagster.sources import workflow_ledger
from procobs_dagster.sources.domain_events import IngestError
from procobs_dagster.sources.openlineage.mapping import parse
from procobs_dagster.sources.openlineage.validation import InvalidEvent
from procobs_dagster.sources.workflow_ledger import RecordReport
from procobs_dagster.sources.workflow_runs import WorkflowEvent
from procobs_dagster.store.engine import Database

MAX_BATCH_EVENTS = 1000


@dataclasses.dataclass(frozen=True)
class Batch:
    """Events checked and mapped, ready to write; ``ignored`` counts the job and dataset
    events among them (static metadata: nothing for the ledger, nothing kept)."""

    events: tuple[WorkflowEvent, ...]
    ignored: int


@dataclasses.dataclass
class AcceptReport:
    received: int
    ignored: int
    recorded: RecordReport

    def as_dict(self) -> dict[str, int]:
        return {"received": self.received, "ignored": self.ignored, **self.recorded.as_dict()}


def batch_of(body: Any) -> Batch:
    """One event (a JSON object) or a batch (a JSON array of them), as the HTTP transport
    sends it. Raises InvalidEvent naming the first bad event; then nothing is accepted."""
    if isinstance(body, dict):
        return parse_documents([body], label=None)
    if not isinstance(body, list):
        raise InvalidEvent("the body is one event (a JSON object) or an array of events")
    if not body:
        raise InvalidEvent("the batch is empty")
    if len(body) > MAX_BATCH_EVENTS:
        raise InvalidEvent(f"a batch holds at most {MAX_BATCH_EVENTS} events, not {len(body)}")
    return parse_documents(body, label="event")


def parse_documents(documents: Sequence[Any], *, label: str | None) -> Batch:
    events, ignored = [], 0
    for index, document in enumerate(documents):
        try:
            event = parse(document)
        except InvalidInput as exc:
            raise InvalidEvent(f"{label} {index}: {exc}" if label else str(exc)) from None
        if event is None:
            ignored += 1
        else:
            events.append(event)
    return Batch(tuple(events), ignored)


def accept(
    conn: Connection,
    batch: Batch,
    *,
    catalog: Catalog,
    received_at: dt.datetime | None = None,
) -> AcceptReport:
    """Write a checked batch in the caller's transaction."""
    recorded = workflow_ledger.record(conn, batch.events, catalog=catalog, received_at=received_at)
    return AcceptReport(len(batch.events) + batch.ignored, batch.ignored, recorded)


def ingest_file(db: Database, path: Path, *, catalog: Catalog) -> AcceptReport:
    """Ingest a JSON-lines file of OpenLineage events in one transaction: every bad line
    is reported (IngestError) and then nothing is written."""
    text = read_text_file(path, "OpenLineage events file", limits.MAX_INGEST_FILE_BYTES)
    documents, problems = [], []
    for number, line in enumerate(json_lines(text), start=1):
        if not line.strip():
            continue
        try:
            document = parse_json(line, f"line {number}")
            documents.append(parse_documents([document], label=None))
        except ProcobsError as exc:
            problems.append(str(exc) if str(exc).startswith("line ") else f"line {number}: {exc}")
    if problems:
        raise IngestError(describe(path), problems)
    batch = Batch(
        tuple(e for one in documents for e in one.events), sum(one.ignored for one in documents)
    )
    return workflow_ledger.in_transaction(db, lambda conn: accept(conn, batch, catalog=catalog))
