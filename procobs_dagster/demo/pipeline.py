"""What `procobs demo` does on the database, before Dagster materialises the result.

Real work on bundled files, recorded the three ways procobs observes processes:

1. the knowledge-graph family through the DOT wrapper: extract (producer) then validate
   (verifier) over the bundled texts — one real run with two components and evidence;
2. a job-queue-backed pipeline: kg.export then kg.checksum as job_queue rows sharing a
   run_id, worked by the platform's queue (demo/job_queue.py);
3. one dry run of a candidate that is wired but has never run for real;

and two workflow engines' runs, recorded as a platform's workflows are, with no code of
theirs changed:

4. an Airflow-like DAG run with two tasks, sent over OpenLineage through the HTTP
   receiver (demo/lineage.py);
5. a run of a Dagster job of another code location, which the caller runs and has the
   Dagster runs sensor record (``observe_dagster``: this package does not import Dagster).

Before the first of them, the demo walks the owner path for the process.*
types the knowledge-graph run emits (every type ships inactive): it stages an activation
packet, writes it beside the database for review, and applies it as a named approver, so
the audit log records who activated what (docs/design.md, "Event types and the activation
gate"). The KG run then writes real event_outbox rows in the ledger's transactions; the
dry run writes none (it records its event codes only).

Then the bundled mission folder is scanned as a dossier (its baseline captured the first
time), and every candidate of the sample catalog is scored. Run twice, it stays correct:
each run observes new work, and what is set up once (the activation, the baseline) is set
once.
"""

import dataclasses
import uuid
from collections.abc import Callable
from pathlib import Path

import yaml
from sqlalchemy.engine import Connection

from procobs_dagster import delivery, discovery, dossier, ledger
from procobs_dagster.demo import job_queue, kg, lineage
from procobs_dagster.dossier import storage
from procobs_dagster.events import ProcessEventType, activation, registry, runtime
from procobs_dagster.events import summary as events_summary
from procobs_dagster.ids import uuid7
from procobs_dagster.ledger import summary as ledger_summary
from procobs_dagster.sources import dagster_runs, openlineage
from procobs_dagster.sources import workflow_store as reported
from procobs_dagster.store import migrate
from procobs_dagster.store.engine import Database, procobs_home

CANDIDATE = "PROC-CAND:dot:kg"
JOB_CANDIDATE = "PROC-CAND:job:kg-export"
DRY_RUN_CANDIDATE = "PROC-CAND:dot:kg-explain"
FEATURE = "042-kg-export"
JOB_KINDS = ("kg.export", "kg.checksum")
DRY_RUN_STEPS = (("DOT_KG_EXPLAIN", "producer"), ("DOT_KG_EXPLAIN_REVIEW", "verifier"))
# The owner the demo applies its activation packet as; the audit log names it.
APPROVER = "procobs demo"
# What the knowledge-graph run announces: its start, each step's start and completion,
# its completion (ledger/tracking.py). A failed run or missing evidence stays inactive.
KG_EVENT_TYPES = tuple(
    t.value
    for t in (
        ProcessEventType.RUN_STARTED,
        ProcessEventType.STEP_STARTED,
        ProcessEventType.STEP_COMPLETED,
        ProcessEventType.RUN_COMPLETED,
    )
)
SINK_NAME = "demo-file"


@dataclasses.dataclass(frozen=True)
class Activation:
    """What the demo did so that the KG run's events pass the gate."""

    event_types: tuple[str, ...]
    activated: tuple[str, ...]  # by this run; empty when they already were active
    packet_file: Path | None
    emission_turned_on: bool


def activate_kg_events(db: Database, packet_file: Path) -> Activation:
    """Activate KG_EVENT_TYPES the way an owner does (`procobs events activation stage`,
    review, `apply --approved-by`): the real stage and apply, audited, as APPROVER. Types
    already active are left alone; when all are, nothing is staged. Emission off (the
    kill switch) is turned on through its owner-gated switch, audited too."""
    with db.read() as conn:
        active = {t.event_type for t in registry.active_event_types(conn, among=KG_EVENT_TYPES)}
        inactive = [t for t in KG_EVENT_TYPES if t not in active]
        packet = activation.stage(conn, inactive) if inactive else None
    if packet is not None:
        packet_file.parent.mkdir(parents=True, exist_ok=True)
        packet_file.write_text(packet.to_json())
        # Applied from the reviewed file, as `procobs events activation apply FILE` does.
        packet = activation.Packet.load(packet_file)
    with db.begin() as conn:
        applied = activation.apply(conn, packet, approved_by=APPROVER) if packet else []
        switched = runtime.set_emission(conn, True, approved_by=APPROVER)
    return Activation(
        event_types=KG_EVENT_TYPES,
        activated=tuple(c.event_type for c in applied),
        packet_file=packet_file if packet else None,
        emission_turned_on=switched.changed,
    )


def write_sinks_file(home: Path) -> tuple[delivery.SinkConfig, Path]:
    """The demo's one sink, a JSON-lines file under ``home``, and the sinks YAML file
    (``home``/demo-sinks.yaml) naming it, for the delivery job's DeliverySinks resource.
    A file sink has no secret. Rewritten on every run, identically."""
    home.mkdir(parents=True, exist_ok=True)
    sink = delivery.SinkConfig(
        name=SINK_NAME, kind="file", path=str((home / "delivered-events.jsonl").resolve())
    )
    path = home / "demo-sinks.yaml"
    path.write_text(yaml.safe_dump({"sinks": [sink.model_dump(include={"name", "kind", "path"})]}))
    return sink, path


def observe_kg_run(db: Database) -> ledger.RunRecord:
    """Extract then validate the bundled texts as one observed run: the DOT wrapper
    records each step, its evidence, and the process.* events it would emit."""
    folder = str(kg.sample_folder())
    with ledger.observe_run(db, CANDIDATE, input_ref=folder) as run:
        with run.step("DOT_KG_EXTRACT", role="producer", input_ref=folder) as extracting:
            triples = kg.extract(kg.sample_folder())
            extracting.touched(len(triples))
            extracting.output(triples, ref=f"triples:{len(triples)}")
        with run.step(
            "DOT_KG_VALIDATE", role="verifier", input_ref=extracting.output_ref
        ) as validating:
            verdict = kg.validate(triples)
            validating.touched(verdict["accepted"])
            validating.output(verdict)
        run.output_ref = f"entities:{len(verdict['entities'])}"
    with db.read() as conn:
        return ledger.get_run(conn, run.process_run_id)


def run_export_jobs(db: Database, out: Path) -> uuid.UUID:
    """Export the graph and verify the export as two queued jobs sharing one run_id."""
    run_id = uuid7()
    job_queue.enqueue(db, run_id, JOB_KINDS, {"folder": str(kg.sample_folder()), "out": str(out)})
    job_queue.work(
        db,
        run_id,
        {
            "kg.export": lambda job, _: kg.export(Path(job["folder"]), Path(job["out"])),
            "kg.checksum": lambda job, done: kg.checksum(
                Path(job["out"]), done["kg.export"]["sha256"]
            ),
        },
    )
    return run_id


def record_dry_run(db: Database) -> ledger.RunRecord:
    """A dry run proves the wiring of a candidate, never the process (docs/design.md,
    "Anti-fake rules")."""
    with db.begin() as conn:
        run, _ = ledger.start_run(conn, candidate_code=DRY_RUN_CANDIDATE, dry_run=True)
        for dot_code, role in DRY_RUN_STEPS:
            step, _ = ledger.record_component(
                conn, process_run_id=run.process_run_id, dot_code=dot_code, role=role
            )
            ledger.transition_component(conn, step.component_run_id, "completed")
        return ledger.finish_run(conn, run.process_run_id)


def scan_mission(db: Database) -> dossier.Reconciliation:
    """Scan the bundled mission folder; its first snapshot becomes the feature's baseline."""
    result = dossier.scan_dossier(
        db, dossier.sample_mission(), FEATURE, dossier.default_manifest(), step="review"
    )
    with db.begin() as conn:
        if storage.get_baseline(conn, result.snapshot.namespace) is None:
            dossier.capture_baseline(conn, FEATURE, "procobs demo")
    return dossier.reconcile(db, FEATURE)


@dataclasses.dataclass(frozen=True)
class WorkflowRun:
    """A workflow engine's run as the ledger recorded it."""

    source: str
    run_key: str
    run: ledger.RunRecord
    components: list[ledger.ComponentRecord]


def recorded_workflow_run(conn: Connection, source: str, run_key: str) -> WorkflowRun:
    placed = reported.load_run(conn, source, run_key)
    if placed is None or placed.process_run_id is None:
        raise LookupError(f"{source} run {run_key} is not in the ledger")
    return WorkflowRun(
        source,
        run_key,
        ledger.get_run(conn, placed.process_run_id),
        ledger.components_of(conn, placed.process_run_id),
    )


@dataclasses.dataclass(frozen=True)
class DemoResult:
    database: str
    kg_run: ledger.RunRecord
    kg_components: list[ledger.ComponentRecord]
    job_run_id: uuid.UUID
    dry_run: ledger.RunRecord
    runs_by_status: dict[tuple, int]  # (status, dry run?) -> runs, the whole ledger
    activation: Activation
    kg_events: dict[str, int]  # event_type -> outbox rows the KG run wrote
    dry_run_events: int  # outbox rows the dry run wrote: none, it only records codes
    events_in_outbox: int
    snapshot: dossier.Snapshot
    parity: dossier.Reconciliation
    scores: list[discovery.CandidateScore]
    lineage: lineage.LineageSent
    dag_run: WorkflowRun
    dagster_run: WorkflowRun | None  # None: no observe_dagster given


def _events_by_type(conn: Connection, process_run_id: uuid.UUID) -> dict[str, int]:
    """The outbox rows a run wrote, per type, in KG_EVENT_TYPES' order."""
    counts = events_summary.outbox_rows_by_type(conn, process_run_id)
    order = {t: i for i, t in enumerate(KG_EVENT_TYPES)}
    return dict(sorted(counts.items(), key=lambda item: order.get(item[0], len(order))))


def run_demo(db: Database, observe_dagster: Callable[[], str] | None = None) -> DemoResult:
    """``observe_dagster`` runs the demo's Dagster job, has the Dagster runs sensor record
    it, and returns the Dagster run id."""
    migrate.upgrade(db)
    activated = activate_kg_events(db, procobs_home() / "demo" / "activation-packet.json")
    kg_run = observe_kg_run(db)
    job_run_id = run_export_jobs(db, procobs_home() / "demo" / "kg-export.jsonl")
    dry_run = record_dry_run(db)
    catalog = discovery.load_catalog(discovery.sample_catalog_path())
    sent = lineage.send_dag_run(db, catalog)
    dagster_run_id = observe_dagster() if observe_dagster is not None else None
    parity = scan_mission(db)
    with db.begin() as conn:
        scores = discovery.score_candidates(conn, catalog)
    with db.read() as conn:
        return DemoResult(
            database=db.display_url,
            kg_run=kg_run,
            kg_components=ledger.components_of(conn, kg_run.process_run_id),
            job_run_id=job_run_id,
            dry_run=dry_run,
            runs_by_status=ledger_summary.runs_by_status(conn),
            activation=activated,
            kg_events=_events_by_type(conn, kg_run.process_run_id),
            dry_run_events=sum(_events_by_type(conn, dry_run.process_run_id).values()),
            events_in_outbox=events_summary.outbox_summary(conn).rows,
            snapshot=storage.require_latest_snapshot(conn, FEATURE),
            parity=parity,
            scores=scores,
            lineage=sent,
            dag_run=recorded_workflow_run(conn, openlineage.SOURCE, sent.dag_run_id),
            dagster_run=(
                None
                if dagster_run_id is None
                else recorded_workflow_run(conn, dagster_runs.SOURCE, dagster_run_id)
            ),
        )
