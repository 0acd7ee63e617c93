import pytest

from procobs_dagster import discovery
from procobs_dagster.errors import InvalidInput
from procobs_dagster_tests.hostile import deadline


def _candidate(**overrides) -> dict:
    candidate = {
        "code": "PROC-CAND:dot:x",
        "source": "dot",
        "steps": [{"code": "DOT_A", "role": "producer"}, {"code": "DOT_B"}],
    }
    candidate.update(overrides)
    return candidate


def test_the_sample_catalog_declares_the_demo_and_a_job_backed_candidate():
    catalog = discovery.load_catalog(discovery.sample_catalog_path())
    kg = catalog.get("PROC-CAND:dot:kg")
    assert [(s.code, s.role) for s in kg.steps] == [
        ("DOT_KG_EXTRACT", "producer"),
        ("DOT_KG_VALIDATE", "verifier"),
    ]
    assert {c.code for c in catalog.job_backed} == {"PROC-CAND:job:cut", "PROC-CAND:job:kg-export"}
    cut = catalog.get("PROC-CAND:job:cut")
    assert "cut.segment" in cut.covered_codes
    assert cut.last_executed is not None and cut.last_executed.tzinfo is not None


def test_covers_default_to_the_steps():
    catalog = discovery.parse_catalog({"version": 1, "candidates": [_candidate()]})
    assert catalog.candidates[0].covered_codes == ("DOT_A", "DOT_B")


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"version": 2}, "version: Input should be 1"),
        ([], "a catalog is a mapping"),
        (
            {"version": 1, "candidates": [_candidate(code="PROC-CAND:job:x")]},
            "code 'PROC-CAND:job:x' says 'job' but source is 'dot'",
        ),
        (
            {"version": 1, "candidates": [_candidate(code="kg")]},
            "is not of the form PROC-CAND:<source>:<name>",
        ),
        (
            {"version": 1, "candidates": [_candidate(source="cron")]},
            "candidates.0.source: Input should be 'dot', 'job' or 'workflow'",
        ),
        (
            {"version": 1, "candidates": [_candidate(steps=[])]},
            "candidates.0.steps: Value should have at least 1 item",
        ),
        (
            {"version": 1, "candidates": [_candidate(steps=[{"code": "A", "role": "boss"}])]},
            "candidates.0.steps.0.role",
        ),
        (
            {"version": 1, "candidates": [_candidate(steps=[{"code": "A"}, {"code": "A"}])]},
            "step codes must be distinct, repeated: A",
        ),
        (
            {"version": 1, "candidates": [_candidate(covers=["DOT_A"])]},
            "steps not listed in covers: DOT_B",
        ),
        (
            {"version": 1, "candidates": [_candidate(title="t", colour="red")]},
            "candidates.0.colour: Extra inputs are not permitted",
        ),
        (
            {"version": 1, "candidates": [_candidate(last_executed="2026-01-01T00:00:00")]},
            "must be timezone-aware",
        ),
        (
            {"version": 1, "candidates": [_candidate(), _candidate()]},
            "candidate codes must be distinct",
        ),
    ],
)
def test_bad_catalogs_are_refused_in_one_line(document, message):
    with pytest.raises(InvalidInput) as error:
        discovery.parse_catalog(document)
    assert message in str(error.value) and "\n" not in str(error.value)


@pytest.mark.parametrize(
    "candidates",
    [
        # As many as a 1 MiB catalog holds: checking them for repeats took minutes.
        [_candidate(steps=[{"code": f"S{i}"} for i in range(60_000)])],
        [
            _candidate(code=f"PROC-CAND:dot:c{i}", covers=["A"], steps=[{"code": "A"}])
            for i in range(20_000)
        ],
    ],
    ids=["steps", "candidates"],
)
def test_a_catalog_as_large_as_its_file_limit_is_checked_in_one_pass(candidates):
    with deadline(30):
        catalog = discovery.parse_catalog({"version": 1, "candidates": candidates})
    assert len(catalog.candidates) == len(candidates)


def test_catalog_files(tmp_path):
    path = tmp_path / "catalog.yaml"
    path.write_text(
        "version: 1\ncandidates:\n"
        "  - {code: PROC-CAND:workflow:w, source: workflow, steps: [{code: s1}]}\n"
    )
    assert discovery.load_catalog(path).candidates[0].source == "workflow"
    path.write_text("version: [1\n")
    with pytest.raises(InvalidInput, match="not valid YAML at line 2"):
        discovery.load_catalog(path)
    with pytest.raises(InvalidInput, match="cannot read catalog"):
        discovery.load_catalog(tmp_path / "missing.yaml")


def test_a_code_yaml_reads_as_a_number_is_refused_saying_so(tmp_path):
    path = tmp_path / "catalog.yaml"
    path.write_text(
        "version: 1\ncandidates:\n  - {code: PROC-CAND:dot:x, source: dot, steps: [{code: 1e3}]}\n"
    )
    with pytest.raises(InvalidInput, match=r"\(YAML read it as the float 1000.0: quote it"):
        discovery.load_catalog(path)
    # A document given as Python values was read by no YAML: no word of it.
    with pytest.raises(InvalidInput) as caught:
        discovery.parse_catalog(
            {
                "version": 1,
                "candidates": [
                    {"code": "PROC-CAND:dot:x", "source": "dot", "steps": [{"code": 1000.0}]}
                ],
            }
        )
    assert "YAML" not in str(caught.value)


def _workflow(**overrides) -> dict:
    workflow = {
        "code": "PROC-CAND:workflow:etl",
        "source": "workflow",
        "steps": [{"code": "etl.extract"}, {"code": "etl.load"}],
    }
    return _candidate(**{**workflow, **overrides})


def test_a_workflow_candidate_covers_workflow_jobs_not_its_steps():
    catalog = discovery.parse_catalog(
        {
            "version": 1,
            "candidates": [
                _workflow(covers=["airflow/etl", "airflow/etl_backfill"]),
                _workflow(code="PROC-CAND:workflow:spark/nightly"),
                _workflow(code="PROC-CAND:workflow:plain"),
            ],
        }
    )
    assert catalog.workflow_candidate("airflow/etl_backfill") == "PROC-CAND:workflow:etl"
    # Without covers the job the code names is covered; a code naming no job covers none.
    assert catalog.get("PROC-CAND:workflow:spark/nightly").covered_codes == ("spark/nightly",)
    assert catalog.workflow_candidate("spark/nightly") == "PROC-CAND:workflow:spark/nightly"
    assert catalog.get("PROC-CAND:workflow:plain").covered_codes == ()
    assert catalog.workflow_candidate("airflow/other") is None


@pytest.mark.parametrize(
    ("candidates", "message"),
    [
        ([_workflow(covers=["etl.extract"])], "covers workflow jobs written <namespace>/<name>"),
        (
            [_workflow(covers=["a/etl"]), _workflow(code="PROC-CAND:workflow:a/etl")],
            "a workflow job belongs to one candidate, covered twice: a/etl",
        ),
    ],
)
def test_bad_workflow_covers_are_refused(candidates, message):
    with pytest.raises(InvalidInput, match=message):
        discovery.parse_catalog({"version": 1, "candidates": candidates})


def test_lookups_find_what_a_scan_of_the_candidates_finds():
    candidates = [
        _candidate(code=f"PROC-CAND:dot:c{i}", covers=["A"], steps=[{"code": "A"}])
        for i in range(2_000)
    ] + [_workflow(covers=["airflow/etl"]), _workflow(code="PROC-CAND:workflow:spark/nightly")]
    catalog = discovery.parse_catalog({"version": 1, "candidates": candidates})
    assert all(catalog.get(c.code) is c for c in catalog.candidates)
    assert catalog.get("PROC-CAND:dot:missing") is None
    assert catalog.workflow_candidate("airflow/etl") == "PROC-CAND:workflow:etl"
    # The index is derived: a copy with other candidates looks up its own, and a catalog
    # that was looked up in still equals one that was not.
    fewer = catalog.model_copy(update={"candidates": catalog.candidates[1:-1]})
    assert fewer.get("PROC-CAND:dot:c0") is None
    assert fewer.get("PROC-CAND:dot:c1") is catalog.candidates[1]
    assert fewer.workflow_candidate("airflow/etl") == "PROC-CAND:workflow:etl"
    assert fewer.workflow_candidate("spark/nightly") is None
    assert catalog == discovery.parse_catalog({"version": 1, "candidates": candidates})
