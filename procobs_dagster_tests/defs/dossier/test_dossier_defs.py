"""The dossier snapshot asset (one partition per feature), its completeness and parity-drift
checks, the hourly drift job, and the sensor that adds scanned features."""

import datetime as dt

import dagster as dg
import pytest

from procobs_dagster import dossier
from procobs_dagster.defs.dossier.sensors import dossier_features_sensor
from procobs_dagster.errors import InvalidInput
from procobs_dagster_tests.dossier.helpers import FEATURE, copy_sample, put

SNAPSHOT = dg.AssetKey("dossier_snapshot")


@pytest.fixture
def mission(tmp_path):
    return copy_sample(tmp_path / "mission")


def materialize(defs, instance, feature=FEATURE, **config) -> dg.ExecuteInProcessResult:
    instance.add_dynamic_partitions("dossier_feature", [feature])
    job = defs.resolve_implicit_global_asset_job_def()
    checks = {k for k in defs.resolve_asset_graph().asset_check_keys if k.asset_key == SNAPSHOT}
    return job.get_subset(
        asset_selection={SNAPSHOT}, asset_check_selection=checks
    ).execute_in_process(
        instance=instance,
        partition_key=feature,
        run_config={"ops": {"dossier_snapshot": {"config": config}}},
    )


def metadata(result) -> dict:
    (event,) = result.get_asset_materialization_events()
    return {k: v.value for k, v in event.materialization.metadata.items()}


def evaluation(result, name) -> dg.AssetCheckEvaluation:
    (found,) = [e for e in result.get_asset_check_evaluations() if e.check_name == name]
    return found


def test_first_materialisation_scans_the_given_folder(db, defs, instance, mission):
    result = materialize(defs, instance, root=str(mission), step="review")
    assert result.success
    scanned = metadata(result)
    assert scanned["completeness"] == "complete"
    assert scanned["manifest"] == "software-dev 1.0.0"
    assert scanned["parity"] == "NO_BASELINE"
    assert scanned["files_hashed"] > 0
    assert evaluation(result, "dossier_completeness").passed
    assert evaluation(result, "dossier_parity_drift").passed

    # The next materialisation rescans the same folder at the same step, hashing nothing new.
    again = metadata(materialize(defs, instance))
    assert (again["root"], again["step"], again["files_hashed"]) == (
        str(mission.resolve()),
        "review",
        0,
    )
    assert again["parity_hash"] == scanned["parity_hash"]


def test_a_feature_never_scanned_needs_a_root(db, defs, instance):
    with pytest.raises(InvalidInput, match="has never been scanned: set the root config"):
        materialize(defs, instance, feature="never-scanned")


def test_completeness_check_names_the_missing_blocking_artifacts(db, defs, instance, mission):
    (mission / "plan.md").unlink()
    result = materialize(defs, instance, root=str(mission), step="review", full=True)
    check = evaluation(result, "dossier_completeness")
    assert not check.passed
    assert check.severity == dg.AssetCheckSeverity.ERROR
    assert check.description == f"incomplete: {FEATURE}: plan.md"
    assert "| not_found |" in metadata(result)["not_present"]


def test_drift_check_warns_and_names_every_divergent_path(db, defs, instance, mission):
    materialize(defs, instance, root=str(mission), step="review")
    with db.begin() as conn:
        dossier.capture_baseline(conn, FEATURE, "tests")
    put(mission, "spec.md", "changed\n")
    (mission / "research.md").unlink()
    put(mission, "tasks/WP03-new-package.md", "new\n")

    result = materialize(defs, instance)

    check = evaluation(result, "dossier_parity_drift")
    assert not check.passed
    assert check.severity == dg.AssetCheckSeverity.WARN
    assert check.description == (
        f"{FEATURE}: content_mismatch spec.md; missing_in_local research.md; "
        "missing_in_baseline tasks/WP03-new-package.md"
    )
    assert metadata(result)["parity"] == "DIVERGENCE"
    assert "| spec.md | content_mismatch |" in metadata(result)["divergences"]


def test_parity_drift_job_runs_the_check_alone_on_its_hourly_schedule(db, defs, instance, mission):
    dossier.scan_dossier(db, mission, FEATURE, dossier.default_manifest(), step="review")
    schedule = defs.resolve_schedule_def("parity_drift_hourly")
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    with dg.build_schedule_context(
        scheduled_execution_time=dt.datetime(2026, 3, 1, 10, 37, tzinfo=dt.UTC)
    ) as context:
        (request,) = schedule.evaluate_tick(context).run_requests
    assert schedule.job_name == "parity_drift_job"
    result = defs.resolve_job_def("parity_drift_job").execute_in_process(instance=instance)
    assert [e.check_name for e in result.get_asset_check_evaluations()] == ["dossier_parity_drift"]
    assert result.get_asset_materialization_events() == []
    assert request.run_key is None


def features_tick(instance, procobs_db, defs) -> dg.SensorResult:
    """A tick of dossier_features_sensor as the daemon evaluates it: from an instance ref,
    then the events and partitions it returns are stored."""
    with dg.build_sensor_context(
        instance_ref=instance.get_ref(), resources={"procobs_db": procobs_db}, definitions=defs
    ) as context:
        data = dossier_features_sensor.evaluate_tick(context)
    for event in data.asset_events:
        instance.report_runless_asset_event(event)
    for request in data.dynamic_partitions_requests:
        instance.add_dynamic_partitions(request.partitions_def_name, request.partition_keys)
    return data


def test_sensor_records_scans_made_outside_dagster(db, procobs_db, defs, instance, mission):
    sensor = defs.resolve_sensor_def("dossier_features_sensor")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING

    def tick() -> dg.SensorResult:
        return features_tick(instance, procobs_db, defs)

    assert tick().skip_message == "no scan since the last materialisation"
    scanned = dossier.scan_dossier(db, mission, FEATURE, dossier.default_manifest(), step="review")
    data = tick()
    assert data.run_requests == []  # recorded as it happened: nothing is rescanned
    (added,) = data.dynamic_partitions_requests
    assert list(added.partition_keys) == [FEATURE]
    (event,) = data.asset_events
    assert (event.asset_key, event.partition) == (SNAPSHOT, FEATURE)
    recorded = {k: v.value for k, v in event.metadata.items()}
    assert recorded["snapshot_id"] == str(scanned.snapshot.snapshot_id)
    assert recorded["completeness"] == "complete"
    assert recorded["parity"] == "NO_BASELINE"
    assert recorded["files_hashed"] == scanned.snapshot.hashed_files > 0
    assert tick().asset_events == []

    # A rescan outside Dagster is recorded again, into the partition that exists.
    again = dossier.scan_dossier(db, mission, FEATURE, dossier.default_manifest(), step="review")
    data = tick()
    assert data.dynamic_partitions_requests == []
    (event,) = data.asset_events
    assert event.metadata["snapshot_id"].value == str(again.snapshot.snapshot_id)

    # A materialisation run scans itself: its snapshot is not recorded a second time.
    assert materialize(defs, instance).success
    assert tick().asset_events == []
    (latest,) = instance.fetch_materializations(SNAPSHOT, limit=1).records
    assert latest.run_id


def test_sensor_records_a_scan_stamped_behind_the_last_materialisation(
    db, procobs_db, defs, instance, mission, monkeypatch
):
    """computed_at is the scanning host's clock: a host running behind the Dagster host's
    stamps a new scan before the materialisation that recorded the previous one. The scan
    is new all the same, and recorded."""
    an_hour_behind = lambda: dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)  # noqa: E731
    monkeypatch.setattr("procobs_dagster.dossier.scan.utcnow", an_hour_behind)
    dossier.scan_dossier(db, mission, FEATURE, dossier.default_manifest(), step="review")
    assert features_tick(instance, procobs_db, defs).asset_events
    behind = dossier.scan_dossier(db, mission, FEATURE, dossier.default_manifest(), step="review")
    (event,) = features_tick(instance, procobs_db, defs).asset_events
    assert event.metadata["snapshot_id"].value == str(behind.snapshot.snapshot_id)
    assert features_tick(instance, procobs_db, defs).asset_events == []


@pytest.mark.parametrize(
    ("root", "problem"),
    [
        # Run config is any text: a NUL was a bare ValueError ("embedded null byte").
        ("/tmp/mission\x00x", "mission folder path contains a NUL character"),
        ("/tmp/" + "m" * 300, "does not exist"),
    ],
)
def test_a_root_no_folder_can_have_is_one_line(db, defs, instance, root, problem):
    with pytest.raises(InvalidInput, match=problem):
        materialize(defs, instance, root=root)
    with db.read() as conn:
        assert dossier.storage.latest_snapshot(conn, FEATURE) is None
