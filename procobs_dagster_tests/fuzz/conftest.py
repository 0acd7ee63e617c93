# Whatever a fuzzed command keeps beside the database goes to a temporary PROCOBS_HOME.
from procobs_dagster_tests.cli.conftest import _home_of_its_own  # noqa: F401
