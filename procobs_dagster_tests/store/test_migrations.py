from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from procobs_dagster.errors import InvalidInput
from procobs_dagster.store import migrate
from procobs_dagster.store.tables import metadata
from procobs_dagster.store.tables.delivery import DELIVERY_STATE_STORAGE

SQL_DIR = Path(__file__).resolve().parents[2] / "sql"


def schema_snapshot(db) -> dict:
    """Everything a schema is made of that the inspector can see, in comparable form."""
    with db.read() as conn:
        inspector = sa.inspect(conn)
        snapshot = {}
        for table in sorted(inspector.get_table_names()):
            snapshot[table] = {
                "columns": [
                    (c["name"], str(c["type"]), c["nullable"]) for c in inspector.get_columns(table)
                ],
                "pk": inspector.get_pk_constraint(table)["constrained_columns"],
                "fks": sorted(
                    (fk["name"], tuple(fk["constrained_columns"]), fk["referred_table"])
                    for fk in inspector.get_foreign_keys(table)
                ),
                "indexes": sorted(
                    (ix["name"], tuple(ix["column_names"]), bool(ix["unique"]))
                    for ix in inspector.get_indexes(table)
                ),
                "checks": sorted(ck["name"] for ck in inspector.get_check_constraints(table)),
            }
        return snapshot


def test_migrations_build_exactly_the_metadata(db):
    with db.read() as conn:
        diffs = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}), metadata
        )
    assert diffs == []


def test_up_down_up_leaves_the_same_schema(empty_db):
    migrate.upgrade(empty_db)
    first = schema_snapshot(empty_db)
    assert set(metadata.tables) <= set(first)
    migrate.downgrade(empty_db, "base")
    assert set(schema_snapshot(empty_db)) <= {"alembic_version"}
    migrate.upgrade(empty_db)
    assert schema_snapshot(empty_db) == first


def test_each_step_down_and_up_again_is_reversible(empty_db):
    migrate.upgrade(empty_db)
    at_head = schema_snapshot(empty_db)
    for _ in migrate.pending_revisions(None):
        migrate.downgrade(empty_db, "-1")
    with empty_db.read() as conn:
        assert migrate.current_revision(conn) is None
    for revision in migrate.pending_revisions(None):
        migrate.upgrade(empty_db, revision)
    assert schema_snapshot(empty_db) == at_head


def test_documented_ledger_indexes_exist(db):
    """The ledger needs these indexes; the partial unique ones guard idempotency."""
    with db.read() as conn:
        inspector = sa.inspect(conn)
        runs = {
            tuple(ix["column_names"]): ix for ix in inspector.get_indexes("process_run_observation")
        }
        components = {
            tuple(ix["column_names"]): ix
            for ix in inspector.get_indexes("process_component_observation")
        }
    for column in ("correlation_id", "process_candidate_code", "status", "parent_run_id"):
        assert (column,) in runs
    for column in ("process_run_id", "correlation_id", "dot_code", "queue_job_id"):
        assert (column,) in components
    assert runs[("idempotency_key",)]["unique"]
    assert components[("idempotency_key",)]["unique"]


def _index_definitions(conn, schema: str) -> dict[str, str]:
    """Postgres's own rendering of every index (partial predicates included), schema aside."""
    rows = conn.execute(
        sa.text("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = :schema"),
        {"schema": schema},
    )
    return {name: definition.replace(f"{schema}.", "") for name, definition in rows}


def _storage_parameters(conn, schema: str) -> dict[str, list[str] | None]:
    rows = conn.execute(
        sa.text(
            "SELECT c.relname, c.reloptions FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = :schema AND c.relkind = 'r'"
        ),
        {"schema": schema},
    )
    return {name: options for name, options in rows}


def test_migrations_build_the_partial_indexes_and_storage_of_the_tables(db):
    """What compare_metadata does not see: partial-index predicates and, on Postgres,
    table storage parameters (fillfactor, autovacuum) must be what the tables declare."""
    with db.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("CREATE SCHEMA declared"))
            metadata.create_all(conn.execution_options(schema_translate_map={None: "declared"}))
            declared = _index_definitions(conn, "declared")
            migrated = _index_definitions(conn, "public")
            assert {n: migrated.get(n) for n in declared} == declared
            declared_storage = _storage_parameters(conn, "declared")
            migrated_storage = _storage_parameters(conn, "public")
            assert {n: migrated_storage[n] for n in declared_storage} == declared_storage
            conn.execute(sa.text("DROP SCHEMA declared CASCADE"))
            return
        stored = dict(
            conn.execute(sa.text("SELECT name, sql FROM sqlite_master WHERE type = 'index'")).all()
        )
        for table in metadata.tables.values():
            for index in table.indexes:
                if index.dialect_options["sqlite"]["where"] is not None:
                    created = str(sa.schema.CreateIndex(index).compile(dialect=conn.dialect))
                    assert stored[index.name] == created.strip()


def test_no_index_repeats_its_tables_primary_key(db):
    """The primary key is an index already: another on the same columns only doubles
    every insert's index writes and the table's size on disk."""
    with db.read() as conn:
        inspector = sa.inspect(conn)
        repeats = [
            index["name"]
            for table in inspector.get_table_names()
            for index in inspector.get_indexes(table)
            if list(index["column_names"])
            == inspector.get_pk_constraint(table)["constrained_columns"]
            and not any(k.endswith("_where") for k in index.get("dialect_options", {}))
        ]
    assert repeats == []


def test_delivery_state_is_stored_as_a_queue_table(postgres_db):
    """The storage parameters docs/operations/sizing.md tells a DBA to keep."""
    with postgres_db.read() as conn:
        options = _storage_parameters(conn, "public")["delivery_state"]
    assert sorted(options) == sorted(f"{k}={v}" for k, v in DELIVERY_STATE_STORAGE.items())


def test_sql_packet_matches_the_migrations():
    for direction, name in (("upgrade", "apply.sql"), ("downgrade", "rollback.sql")):
        committed = (SQL_DIR / name).read_text()
        assert committed == migrate.render_sql(direction), (
            f"sql/{name} is stale: regenerate with `make sql`"
        )


def _run_script(db, path: Path) -> None:
    """Run a SQL file as psql would: one simple query, no bound parameters."""
    with (
        db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn,
        conn.connection.dbapi_connection.cursor() as cursor,
    ):
        cursor.execute(path.read_text())


def _routines(db) -> tuple[set[str], set[str]]:
    """The triggers and functions of the public schema, which the inspector does not see."""
    with db.read() as conn:
        triggers = conn.execute(
            sa.text(
                "SELECT tgrelid::regclass::text || '.' || tgname FROM pg_trigger"
                " WHERE NOT tgisinternal"
            )
        ).scalars()
        functions = conn.execute(
            sa.text(
                "SELECT p.oid::regprocedure::text FROM pg_proc p"
                " JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public'"
            )
        ).scalars()
        return set(triggers), set(functions)


def test_the_sql_packet_applies_and_rolls_back(postgres_databases, postgres_db):
    """What a DBA runs with psql: apply.sql on an empty database builds the schema the
    migrations build, its functions work, and rollback.sql takes it all away again."""
    packet = postgres_databases.create(migrated=False)
    try:
        _run_script(packet, SQL_DIR / "apply.sql")
        with packet.read() as conn:
            assert migrate.current_revision(conn) == migrate.head_revision()
        assert schema_snapshot(packet) == schema_snapshot(postgres_db)
        assert _routines(packet) == _routines(postgres_db)
        with packet.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO process_status_history (subject_kind, subject_id, to_status,"
                    " changed_at, actor) VALUES ('run', gen_random_uuid(), 'started', now(), 'a')"
                )
            )
        refused = pytest.raises(sa.exc.DBAPIError, match="process_status_history is append-only")
        with refused, packet.begin() as conn:
            conn.execute(sa.text("UPDATE process_status_history SET actor = 'b'"))
        _run_script(packet, SQL_DIR / "rollback.sql")
        assert set(schema_snapshot(packet)) <= {"alembic_version"}
        assert _routines(packet) == (set(), set())
    finally:
        postgres_databases.drop(packet)


def test_a_downgrade_goes_down_and_an_upgrade_up(empty_db):
    """Revisions as Alembic takes them — full ids, unique prefixes, symbols — in the
    direction of the command; where the database already is, an upgrade does nothing."""
    first, second, third = migrate.pending_revisions(None)[:3]
    migrate.upgrade(empty_db, second[:4])  # a unique prefix, up
    for revision in (first, first[:4], "base"):
        with pytest.raises(InvalidInput, match="an upgrade goes up"):
            migrate.upgrade(empty_db, revision)
    for revision in (second, second[:4], third):
        with pytest.raises(InvalidInput, match="a downgrade goes down"):
            migrate.downgrade(empty_db, revision)
    migrate.upgrade(empty_db, second[:4])
    with empty_db.read() as conn:
        assert migrate.current_revision(conn) == second
    migrate.upgrade(empty_db, "heads")
    with empty_db.read() as conn:
        assert migrate.current_revision(conn) == migrate.head_revision()


def test_unknown_revision_is_refused(db):
    with pytest.raises(InvalidInput, match="unknown migration revision"):
        migrate.upgrade(db, "9999_nope")


def test_database_not_at_head_is_refused_with_the_fix(empty_db):
    from procobs_dagster.errors import SchemaNotReady

    with pytest.raises(SchemaNotReady, match="procobs db upgrade"):
        migrate.ensure_current(empty_db)
    migrate.upgrade(empty_db, "0001_ledger")
    with pytest.raises(SchemaNotReady, match="0001_ledger"):
        migrate.ensure_current(empty_db)


def test_rehearsal_on_an_empty_database_leaves_nothing(empty_db):
    from procobs_dagster.ledger.rehearsal import write_probe_run

    result = migrate.rehearse(empty_db, write_probe_run)
    assert result["changed"] == []
    assert result["revision_after_rollback"] is None
    assert result["tables"]["birth_registry"] == {
        "before": None,
        "after": 0,
        "after_rollback": None,
    }
    with empty_db.read() as conn:
        assert not sa.inspect(conn).has_table("process_run_observation")


def test_rehearsal_reports_a_guarded_write(db):
    """A probe that births a process is caught: the count changes, rehearse says so."""
    from procobs_dagster.store.tables import process_definition

    def births(conn):
        conn.execute(
            process_definition.insert().values(
                definition_code="PROC:x",
                candidate_code="PROC-CAND:x",
                created_at=sa.func.now(),
                approved_by="nobody",
            )
        )

    result = migrate.rehearse(db, births)
    assert result["changed"] == ["process_definition"]
    assert result["tables"]["process_definition"] == {"before": 0, "after": 1, "after_rollback": 0}


def test_a_migration_waiting_on_a_lock_gives_up_and_changes_nothing(postgres_db, monkeypatch):
    """A migration's DDL queued behind a long transaction would hold every later reader
    and writer of its table behind it for as long: it gives up after the lock timeout."""
    import threading

    from procobs_dagster.errors import EXIT_DATABASE, ProcobsError

    db = postgres_db
    monkeypatch.setattr(migrate, "MIGRATION_LOCK_TIMEOUT_SECONDS", 0.5)
    migrate.downgrade(db, "0015_job_delete_changes")  # 0016 builds an index on delivery_state
    with db.read() as conn:
        before = migrate.current_revision(conn)
    raised = []

    def upgrade() -> None:
        try:
            migrate.upgrade(db)
        except Exception as exc:
            raised.append(exc)

    holder = db.engine.connect()
    try:
        holder.begin()
        holder.execute(sa.text("LOCK TABLE delivery_state IN ROW EXCLUSIVE MODE"))
        thread = threading.Thread(target=upgrade)
        thread.start()
        thread.join(timeout=20)
        assert not thread.is_alive(), "the upgrade still waits on the lock"
    finally:
        holder.rollback()
        holder.close()
        thread.join(timeout=20)
    (error,) = raised
    assert isinstance(error, ProcobsError) and error.exit_code == EXIT_DATABASE
    assert "waited more than 0.5 s for a lock" in str(error) and "\n" not in str(error)
    with db.read() as conn:
        assert migrate.current_revision(conn) == before
        setting = conn.execute(sa.text("SHOW lock_timeout")).scalar_one()
    assert setting == "0"  # nothing leaks into the pooled session
    migrate.upgrade(db)
    with db.read() as conn:
        assert migrate.current_revision(conn) == migrate.head_revision()
