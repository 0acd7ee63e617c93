"""How every asset stays up to date: the automation conditions, evaluated tick by tick as
the automation sensor does, the freshness policies, and the refresh setting."""

import datetime as dt

import dagster as dg
import pytest

from procobs_dagster.defs.automation import (
    DEFAULT_REFRESH_MINUTES,
    REFRESH_EVERY_MINUTES,
    REFRESH_TAG,
    int_setting,
    refresh_cron,
    refresh_minutes,
)
from procobs_dagster.errors import ConfigurationError

CRON_ASSETS = [
    "event_outbox",
    "event_type_registry",
    "process_component_observation",
    "process_run_observation",
]
SCORES = dg.AssetKey("discovery_scores")
SNAPSHOT = dg.AssetKey("dossier_snapshot")
# Dagster's own evaluate_automation_conditions passes a beta parameter; procobs does not.
pytestmark = pytest.mark.filterwarnings(
    "ignore:Parameter `include_sources` of function `AssetSelection.all`:dagster.BetaWarning"
)
# A minute after a quarter past: the default cron's tick at :15 is behind it.
START = dt.datetime(2026, 3, 2, 10, 16, tzinfo=dt.UTC)


@pytest.fixture(params=["sqlite"])
def backend(request) -> str:
    """Automation is Dagster's bookkeeping over runs; the runs here read the ledger, whose
    own tests cover both databases."""
    return request.param


def test_the_refresh_interval_divides_the_hour():
    assert refresh_minutes({}) == DEFAULT_REFRESH_MINUTES == 15
    assert refresh_minutes({"PROCOBS_REFRESH_MINUTES": " 5 "}) == 5
    assert (refresh_cron(1), refresh_cron(15), refresh_cron(60)) == (
        "*/1 * * * *",
        "*/15 * * * *",
        "0 * * * *",
    )
    for bad in ("7", "0", "-5", "15m", "90"):
        with pytest.raises(ConfigurationError, match=r"PROCOBS_REFRESH_MINUTES=.*use one of 1, "):
            refresh_minutes({"PROCOBS_REFRESH_MINUTES": bad})


def test_a_window_is_a_whole_number_within_its_bounds():
    hours = range(1, 8_761)
    assert int_setting({}, "PROCOBS_NEWEST_RUN_HOURS", 24, hours) == 24
    assert (
        int_setting({"PROCOBS_NEWEST_RUN_HOURS": "8760"}, "PROCOBS_NEWEST_RUN_HOURS", 24, hours)
        == 8760
    )
    # Digits of other scripts read as a number (U+0661 U+0665 as 15), 5,000 digits a bare
    # ValueError from int() when the code location loaded, echoed whole.
    for bad in ("0", "8761", "1.5", "a day", "\u0661\u0665", "9" * 5000, "0" * 5000 + "24"):
        with pytest.raises(
            ConfigurationError, match=r"PROCOBS_NEWEST_RUN_HOURS=.*a whole number from 1 to 8760"
        ) as refused:
            int_setting({"PROCOBS_NEWEST_RUN_HOURS": bad}, "PROCOBS_NEWEST_RUN_HOURS", 24, hours)
        assert len(str(refused.value)) < 200


def test_every_asset_says_how_it_stays_up_to_date(defs):
    graph = defs.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        if key == SNAPSHOT:
            # Scans happen when their owners make them: the features sensor records them.
            assert node.automation_condition is None and node.freshness_policy is None
            assert defs.resolve_sensor_def("dossier_features_sensor").asset_selection
            continue
        assert node.automation_condition is not None, key
        # WARN once a refresh is missed, FAIL after two.
        window = node.freshness_policy
        assert (window.warn_window.to_timedelta(), window.fail_window.to_timedelta()) == (
            dt.timedelta(minutes=2 * REFRESH_EVERY_MINUTES),
            dt.timedelta(minutes=3 * REFRESH_EVERY_MINUTES),
        ), key
    for check in graph.asset_check_keys:
        # Checks on a dossier follow its scans; the others run with their asset's refresh.
        condition = graph.get(check).automation_condition
        assert (condition is not None) == (check.asset_key == SNAPSHOT), check


def test_the_automation_sensor_runs_by_default_over_everything(defs):
    sensor = defs.resolve_sensor_def("procobs_automation")
    assert isinstance(sensor, dg.AutomationConditionSensorDefinition)
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    assert sensor.run_tags == {REFRESH_TAG: "automation"}
    graph = defs.resolve_asset_graph()
    assert sensor.asset_selection.resolve(graph) == graph.get_all_asset_keys()
    assert sensor.asset_selection.resolve_checks(graph) == graph.asset_check_keys


class Ticks:
    """The automation sensor's evaluations, one tick at a time, on a clock of our own."""

    def __init__(self, defs, instance):
        self.defs, self.instance, self.cursor = defs, instance, None

    def at(self, when: dt.datetime) -> set[str]:
        result = dg.evaluate_automation_conditions(
            defs=self.defs, instance=self.instance, evaluation_time=when, cursor=self.cursor
        )
        self.cursor = result.cursor
        return {r.key.to_user_string() for r in result.results if r.true_subset.size}


def test_the_cron_refreshes_tables_and_scores_in_one_run_and_a_refresh_is_not_repeated(
    db, defs, instance
):
    ticks = Ticks(defs, instance)
    assert ticks.at(START) == set()  # the first evaluation waits for a tick
    assert ticks.at(START + dt.timedelta(minutes=10)) == set()
    # Past :30: the cron assets, and the scores with them (their tables are requested).
    due = ticks.at(START + dt.timedelta(minutes=15))
    assert due == {*CRON_ASSETS, "discovery_scores"}

    job = defs.resolve_implicit_global_asset_job_def()
    keys = {dg.AssetKey(name) for name in due}
    assert job.get_subset(asset_selection=keys).execute_in_process(instance=instance).success
    assert ticks.at(START + dt.timedelta(minutes=16)) == set()

    # A run outcome: the outbox sensor's refresh re-reads the tables and re-scores; the
    # automation sensor follows nothing more.
    refresh = defs.resolve_job_def("discovery_refresh_job").execute_in_process(instance=instance)
    assert refresh.success
    assert ticks.at(START + dt.timedelta(minutes=17)) == set()

    # Tables refreshed without the scores (a click on them): the scores follow.
    tables = {dg.AssetKey("process_run_observation"), dg.AssetKey("process_component_observation")}
    assert job.get_subset(asset_selection=tables).execute_in_process(instance=instance).success
    assert ticks.at(START + dt.timedelta(minutes=18)) == {"discovery_scores"}


def test_dossier_checks_follow_every_recorded_scan(defs, instance):
    ticks = Ticks(defs, instance)
    assert ticks.at(START) == set()
    instance.add_dynamic_partitions("dossier_feature", ["042-kg-export"])
    instance.report_runless_asset_event(
        dg.AssetMaterialization(SNAPSHOT, partition="042-kg-export")
    )
    checks = {"dossier_snapshot:dossier_completeness", "dossier_snapshot:dossier_parity_drift"}
    assert ticks.at(START + dt.timedelta(seconds=30)) == checks
    assert ticks.at(START + dt.timedelta(seconds=60)) == set()
