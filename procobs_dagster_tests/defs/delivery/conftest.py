import pytest


@pytest.fixture(params=["sqlite"])
def backend(request) -> str:
    """These tests check the Dagster wiring around procobs_dagster.delivery, which its own
    tests run on both databases (as test_materialize_all runs these definitions); one
    database is enough here and keeps the suite fast."""
    return request.param
