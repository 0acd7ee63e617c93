"""Jobs of "another code location" for the Dagster runs sensor's tests: real Dagster jobs,
executed in-process into a test instance as if launched from the location ``warehouse``.

``nightly_orders`` extracts then loads, each step materialising a table with its row
count; ``load`` fails while the file its config names does not exist, so a test can fail
a run and then re-execute it from the failure."""

from pathlib import Path

import dagster as dg

LOCATION = "warehouse"
CODE_LOCATION_TAG = "dagster/code_location"
ROWS = 3


class LoadConfig(dg.Config):
    ready_marker: str = ""  # empty: always ready


@dg.op
def extract(context: dg.OpExecutionContext) -> list[int]:
    rows = list(range(ROWS))
    context.log_event(
        dg.AssetMaterialization("warehouse/raw_orders", metadata={"dagster/row_count": len(rows)})
    )
    return rows


@dg.op
def load(context: dg.OpExecutionContext, config: LoadConfig, rows: list[int]) -> None:
    if config.ready_marker and not Path(config.ready_marker).exists():
        raise ValueError("the warehouse is not ready")
    # Two tables at once, as a multi-asset step would report them.
    context.log_event(
        dg.AssetMaterialization("warehouse/orders", metadata={"row_count": len(rows)})
    )
    context.log_event(
        dg.AssetMaterialization("warehouse/order_totals", partition="2026-03-05", metadata={})
    )


@dg.job(executor_def=dg.in_process_executor)
def nightly_orders():
    load(extract())


def execute(instance: dg.DagsterInstance, *, marker: Path | None = None, **options):
    """Run nightly_orders as the location ``warehouse`` launches it."""
    config = {"ops": {"load": {"config": {"ready_marker": str(marker) if marker else ""}}}}
    return dg.execute_job(
        dg.reconstructable(nightly_orders),
        instance=instance,
        run_config=config if "reexecution_options" not in options else None,
        tags={CODE_LOCATION_TAG: LOCATION},
        raise_on_error=False,
        **options,
    )
