"""The event registry and the transactional outbox as Dagster assets."""

import dataclasses

import dagster as dg
import sqlalchemy as sa

from procobs_dagster import delivery
from procobs_dagster.clock import utcnow
from procobs_dagster.defs.automation import refreshed_table
from procobs_dagster.defs.conventions import OUTBOX_KEY
from procobs_dagster.defs.markdown import age_metadata, markdown_table
from procobs_dagster.defs.resources import ProcobsDatabase
from procobs_dagster.events import summary as events_summary

GROUP = "events"

registry_spec = refreshed_table(
    "event_type_registry",
    GROUP,
    (
        "Every event type procobs knows (process, dossier and domain families) with its "
        "stream, lane and severity, and whether it is active. Types start inactive; an owner "
        "activates them. Also reports the emission kill switch and dry-run-only mode."
    ),
)
outbox_spec = refreshed_table(
    OUTBOX_KEY,
    GROUP,
    (
        "Insert-only event facts, written in the same transaction as the ledger change that "
        "caused them; the sensors read it in commit order. Reports rows per event type and "
        "what delivery still owes the sinks: undelivered, dead and "
        "oldest_undelivered_age_seconds plot the backlog."
    ),
    deps=[registry_spec.key],
)


def registry_metadata(conn: sa.Connection) -> dict[str, object]:
    summary = events_summary.registry_summary(conn)
    return {
        "types": dg.MetadataValue.int(summary.types),
        "active_types": dg.MetadataValue.int(len(summary.active)),
        "emit_enabled": dg.MetadataValue.bool(summary.emit_enabled),
        "dry_run_only": dg.MetadataValue.bool(summary.dry_run_only),
        "by_family": markdown_table(
            ["family", "types", "active", "immediate lane"],
            (dataclasses.astuple(f) for f in summary.by_family),
        ),
        "active": markdown_table(
            ["event type", "family", "lane", "severity"],
            ((t.event_type, t.family, t.lane, t.severity) for t in summary.active),
            empty="no active type",
        ),
    }


def outbox_metadata(conn: sa.Connection) -> dict[str, object]:
    summary = events_summary.outbox_summary(conn)
    owed = delivery.backlog(conn)
    return {
        "rows": dg.MetadataValue.int(summary.rows),
        "newest_seq": dg.MetadataValue.int(summary.newest_seq),
        "undelivered": dg.MetadataValue.int(owed.undelivered),
        "dead": dg.MetadataValue.int(owed.dead),
        **age_metadata("oldest_undelivered_age_seconds", owed.oldest_age_seconds(utcnow())),
        "by_event_type": markdown_table(
            ["event type", "lane", "rows", "newest"],
            (dataclasses.astuple(t) for t in summary.by_event_type),
            empty="no event emitted yet",
        ),
    }


@dg.multi_asset(specs=[registry_spec, outbox_spec], name="event_system")
def event_system(procobs_db: ProcobsDatabase):
    """Migrate the procobs database to head, then report the registry and the outbox."""
    with procobs_db.migrated().read() as conn:
        yield dg.MaterializeResult(asset_key=registry_spec.key, metadata=registry_metadata(conn))
        yield dg.MaterializeResult(asset_key=outbox_spec.key, metadata=outbox_metadata(conn))
