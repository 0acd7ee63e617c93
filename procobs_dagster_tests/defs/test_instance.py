"""deploy/dagster.yaml, the production instance, against the CI's PostgreSQL: Dagster's own
storage in a fresh database, an asset materialised through it."""

import uuid
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa
from dagster._core.instance.ref import InstanceRef

from procobs_dagster.definitions import build_definitions
from procobs_dagster_tests.databases import postgres_admin_url
from procobs_dagster_tests.defs.conftest import resource_for

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


@pytest.fixture
def dagster_storage_db(monkeypatch):
    """A fresh database for Dagster's storage, and DAGSTER_PG_* naming it, as an operator
    would set them for deploy/dagster.yaml."""
    admin_url = postgres_admin_url()
    name = f"dagster_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    monkeypatch.setenv("DAGSTER_PG_HOST", admin_url.host)
    monkeypatch.setenv("DAGSTER_PG_PORT", str(admin_url.port or 5432))
    monkeypatch.setenv("DAGSTER_PG_USER", admin_url.username)
    monkeypatch.setenv("DAGSTER_PG_PASSWORD", admin_url.password or "")
    monkeypatch.setenv("DAGSTER_PG_DB", name)
    yield admin_url.set(database=name)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


@pytest.mark.postgres_only
def test_production_instance_materialises_an_asset(dagster_storage_db, postgres_db, tmp_path):
    ref = InstanceRef.from_dir(str(tmp_path), config_dir=str(DEPLOY))
    with dg.DagsterInstance.from_ref(ref) as instance:
        limits = instance.get_concurrency_config().run_queue_config.tag_concurrency_limits
        assert {"key": "procobs/maintenance", "limit": 1} in limits
        defs = build_definitions(resource_for(postgres_db))
        job = defs.resolve_implicit_global_asset_job_def()
        result = job.execute_in_process(
            instance=instance,
            asset_selection=[
                dg.AssetKey("process_run_observation"),
                dg.AssetKey("process_component_observation"),
            ],
        )
        assert result.success
        materialization = instance.get_latest_materialization_event(
            dg.AssetKey("process_run_observation")
        )
        assert materialization.run_id == result.run_id
    # The run and its events are in the fresh Postgres database, not in local files.
    engine = sa.create_engine(dagster_storage_db)
    with engine.connect() as conn:
        run_ids = conn.execute(sa.text("SELECT run_id FROM runs")).scalars().all()
        events = conn.execute(
            sa.text("SELECT count(*) FROM event_logs WHERE run_id = :r"), {"r": result.run_id}
        ).scalar_one()
    engine.dispose()
    assert run_ids == [result.run_id]
    assert events > 0
