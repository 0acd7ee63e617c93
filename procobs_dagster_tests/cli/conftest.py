import json

import pytest
from click.testing import CliRunner

from procobs_dagster.cli import main


class Procobs:
    """Runs `procobs --database-url URL ARGS…` in-process, as a user would from a shell."""

    def __init__(self, db):
        self.url = db.url.render_as_string(hide_password=False)

    def __call__(self, *args: str, expect_exit: int = 0):
        result = CliRunner().invoke(main, ["--database-url", self.url, *args])
        assert result.exit_code == expect_exit, result.output + str(result.exception or "")
        return result

    def json(self, *args: str):
        return json.loads(self(*args, "--json").stdout)


@pytest.fixture
def procobs(db):
    return Procobs(db)


@pytest.fixture
def procobs_empty(empty_db):
    return Procobs(empty_db)
