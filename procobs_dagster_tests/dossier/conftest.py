import pytest

from procobs_dagster_tests.dossier.helpers import copy_sample


@pytest.fixture
def mission(tmp_path):
    """A settled copy of the bundled sample mission (complete for the default manifest)."""
    return copy_sample(tmp_path / "mission")
