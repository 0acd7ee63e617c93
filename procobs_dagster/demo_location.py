"""The demo's own code location, ``procobs_demo``: a small Dagster job on the bundled
knowledge-graph texts. To procobs it is another location's job, like any a platform runs:
``procobs demo`` runs it into the demo's instance, launched from this location, and
dagster_runs_sensor records the run as a workflow run of its own.

``make ui`` loads it beside procobs_dagster (demo-workspace.yaml), so the job can be
launched from the UI too, where the daemon's dagster_runs_sensor observes it. The
production workspace (workspace.yaml) does not load it.
"""

import dagster as dg

from procobs_dagster.demo import kg

LOCATION_NAME = "procobs_demo"
JOB_NAME = "kg_graph_job"


@dg.asset(
    group_name="kg_demo",
    kinds={"python"},
    description="Triples extracted from the bundled knowledge-graph texts (subject, verb, object).",
)
def kg_triples() -> dg.MaterializeResult:
    triples = kg.extract(kg.sample_folder())
    return dg.MaterializeResult(metadata={"dagster/row_count": dg.MetadataValue.int(len(triples))})


@dg.asset(
    group_name="kg_demo",
    kinds={"python"},
    deps=[kg_triples],
    description="The entities of the triples with a known verb, as the validation accepts them.",
)
def kg_entities() -> dg.MaterializeResult:
    verdict = kg.validate(kg.extract(kg.sample_folder()))
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": dg.MetadataValue.int(len(verdict["entities"])),
            "accepted_triples": dg.MetadataValue.int(verdict["accepted"]),
        }
    )


kg_graph_job = dg.define_asset_job(
    JOB_NAME,
    selection=[kg_triples, kg_entities],
    description="Extract the triples, then their entities: the demo's job of another location.",
)

defs = dg.Definitions(
    assets=[kg_triples, kg_entities], jobs=[kg_graph_job], executor=dg.in_process_executor
)
