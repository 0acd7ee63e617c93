"""Materialising the whole code location in-process, as the demo (and the tests) do.

Assets run grouped by their partitions: the unpartitioned ones in one run, each
partitioned one once per partition key given; every asset check runs with its asset. A
check whose partitioned asset has no partition yet still runs, on its own.
"""

import collections
import dataclasses
import os
from collections.abc import Mapping, Sequence

import dagster as dg

from procobs_dagster.errors import ConfigurationError
from procobs_dagster.store.engine import procobs_home


@dataclasses.dataclass(frozen=True)
class InProcessReport:
    results: tuple[dg.ExecuteInProcessResult, ...]

    @property
    def success(self) -> bool:
        return all(result.success for result in self.results)

    @property
    def materializations(self) -> list[dg.AssetMaterialization]:
        return [
            event.materialization
            for result in self.results
            for event in result.get_asset_materialization_events()
        ]

    @property
    def check_evaluations(self) -> list[dg.AssetCheckEvaluation]:
        return [e for result in self.results for e in result.get_asset_check_evaluations()]

    def metadata(self, asset: str, partition: str | None = None) -> dict[str, object]:
        """The metadata values of ``asset``'s (last) materialisation, by name."""
        (found, *_) = [
            m
            for m in reversed(self.materializations)
            if m.asset_key.to_user_string() == asset and m.partition == partition
        ]
        return {name: value.value for name, value in found.metadata.items()}


# Run config that keeps in-process runs from logging every step to the console.
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def materialize_all(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    partition_keys: Mapping[str, Sequence[str]] | None = None,
    *,
    quiet: bool = False,
) -> InProcessReport:
    """Materialise every asset and evaluate every check of ``defs``.

    ``partition_keys``: the keys to materialise per dynamic partitions definition name;
    they are added to the instance first. ``quiet`` logs warnings and errors only.
    """
    run_config = QUIET if quiet else None
    job = defs.resolve_implicit_global_asset_job_def()
    graph = defs.resolve_asset_graph()
    groups: dict[dg.PartitionsDefinition | None, set[dg.AssetKey]] = collections.defaultdict(set)
    for key in graph.get_all_asset_keys():
        groups[graph.get(key).partitions_def].add(key)
    results = []
    for partitions_def, keys in groups.items():
        checks = {check for check in graph.asset_check_keys if check.asset_key in keys}
        if partitions_def is None:
            run = job.get_subset(asset_selection=keys, asset_check_selection=checks)
            results.append(run.execute_in_process(run_config, instance=instance))
            continue
        if not isinstance(partitions_def, dg.DynamicPartitionsDefinition):
            raise dg.DagsterInvariantViolationError(
                f"materialize_all handles dynamic partitions only, not {partitions_def}"
            )
        wanted = list((partition_keys or {}).get(partitions_def.name, ()))
        instance.add_dynamic_partitions(partitions_def.name, wanted)
        if not wanted:
            run = job.get_subset(asset_selection=set(), asset_check_selection=checks)
            results.append(run.execute_in_process(run_config, instance=instance))
        run = job.get_subset(asset_selection=keys, asset_check_selection=checks)
        results += [
            run.execute_in_process(run_config, instance=instance, partition_key=k) for k in wanted
        ]
    return InProcessReport(tuple(results))


def local_instance() -> dg.DagsterInstance:
    """The instance `make ui` shows, so what the demo materialised is in the UI afterwards:
    $DAGSTER_HOME's when set (`make demo` sets it to the checkout, as `make ui` does), else
    a local one in $PROCOBS_HOME/dagster. With the default PROCOBS_HOME both are SQLite
    files in .procobs/dagster: the root dagster.yaml names the same folders a default
    instance there has."""
    if os.environ.get("DAGSTER_HOME"):
        try:
            return dg.DagsterInstance.get()
        except dg.DagsterError as exc:  # not a folder, or a dagster.yaml Dagster refuses
            lines = str(exc).strip().splitlines()
            raise ConfigurationError(
                "cannot use the Dagster instance of DAGSTER_HOME: "
                + (lines[0] if lines else type(exc).__name__)
            ) from None
    home = procobs_home() / "dagster"
    home.mkdir(parents=True, exist_ok=True)
    return dg.DagsterInstance.from_config(str(home.resolve()))
