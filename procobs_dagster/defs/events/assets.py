"""The event registry and the transactional outbox as Dagster assets."""

import dagster as dg
import sqlalchemy as sa

from procobs_dagster.defs.automation import ON_REFRESH_CRON, REFRESH_FRESHNESS
from procobs_dagster.defs.conventions import DATABASE_KINDS, OWNERS
from procobs_dagster.defs.markdown import markdown_table
from procobs_dagster.defs.resources import ProcobsDatabase
from procobs_dagster.store.stats import grouped_counts
from procobs_dagster.store.tables import (
    event_outbox,
    event_type_registry,
    piece_event_runtime,
    process_dot_runtime,
)

GROUP = "events"

registry_spec = dg.AssetSpec(
    "event_type_registry",
    group_name=GROUP,
    kinds=DATABASE_KINDS,
    owners=OWNERS,
    automation_condition=ON_REFRESH_CRON,
    freshness_policy=REFRESH_FRESHNESS,
    description=(
        "Every event type procobs knows (process, dossier and domain families) with its "
        "stream, lane and severity, and whether it is active. Types start inactive; an owner "
        "activates them. Also reports the emission kill switch and dry-run-only mode."
    ),
)
outbox_spec = dg.AssetSpec(
    "event_outbox",
    group_name=GROUP,
    kinds=DATABASE_KINDS,
    owners=OWNERS,
    automation_condition=ON_REFRESH_CRON,
    freshness_policy=REFRESH_FRESHNESS,
    deps=[registry_spec.key],
    description=(
        "Insert-only event facts, written in the same transaction as the ledger change that "
        "caused them; the sensors read it in commit order. Reports rows per event type."
    ),
)


def _setting(conn: sa.Connection, table: sa.Table, flag: str, default: bool) -> bool:
    value = conn.execute(sa.select(table.c[flag])).scalar()
    return default if value is None else bool(value)


def registry_metadata(conn: sa.Connection) -> dict[str, object]:
    r = event_type_registry.c
    by_family = grouped_counts(conn, event_type_registry, [r.family, r.lane, r.active])
    active = conn.execute(
        sa.select(r.event_type, r.family, r.lane, r.severity).where(r.active).order_by(r.event_type)
    ).all()
    families = sorted({family for family, _, _ in by_family})
    rows = [
        [
            family,
            sum(n for (f, _, _), n in by_family.items() if f == family),
            sum(n for (f, _, a), n in by_family.items() if f == family and a),
            sum(n for (f, lane, _), n in by_family.items() if f == family and lane == "immediate"),
        ]
        for family in families
    ]
    return {
        "types": dg.MetadataValue.int(sum(by_family.values())),
        "active_types": dg.MetadataValue.int(len(active)),
        "emit_enabled": dg.MetadataValue.bool(
            _setting(conn, piece_event_runtime, "emit_enabled", default=True)
        ),
        "dry_run_only": dg.MetadataValue.bool(
            _setting(conn, process_dot_runtime, "dry_run_only", default=False)
        ),
        "by_family": markdown_table(["family", "types", "active", "immediate lane"], rows),
        "active": markdown_table(
            ["event type", "family", "lane", "severity"], active, empty="no active type"
        ),
    }


def outbox_metadata(conn: sa.Connection) -> dict[str, object]:
    o, r = event_outbox.c, event_type_registry.c
    per_type = conn.execute(
        sa.select(o.event_type, r.lane, sa.func.count(), sa.func.max(o.recorded_at))
        .join(event_type_registry, r.event_type == o.event_type)
        .group_by(o.event_type, r.lane)
        .order_by(o.event_type)
    ).all()
    return {
        "rows": dg.MetadataValue.int(sum(n for _, _, n, _ in per_type)),
        "newest_seq": dg.MetadataValue.int(
            conn.execute(sa.select(sa.func.coalesce(sa.func.max(o.seq), 0))).scalar_one()
        ),
        "by_event_type": markdown_table(
            ["event type", "lane", "rows", "newest"], per_type, empty="no event emitted yet"
        ),
    }


@dg.multi_asset(specs=[registry_spec, outbox_spec], name="event_system")
def event_system(procobs_db: ProcobsDatabase):
    """Migrate the procobs database to head, then report the registry and the outbox."""
    with procobs_db.migrated().read() as conn:
        yield dg.MaterializeResult(asset_key=registry_spec.key, metadata=registry_metadata(conn))
        yield dg.MaterializeResult(asset_key=outbox_spec.key, metadata=outbox_metadata(conn))
