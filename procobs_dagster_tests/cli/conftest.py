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


@pytest.fixture(autouse=True)
def _home_of_its_own(tmp_path, monkeypatch):
    """Whatever a command keeps beside the database (the demo's export and its Dagster
    instance) goes to a temporary PROCOBS_HOME, never into the working directory."""
    monkeypatch.setenv("PROCOBS_HOME", str(tmp_path / "procobs_home"))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)


@pytest.fixture
def procobs(db):
    return Procobs(db)


@pytest.fixture
def procobs_empty(empty_db):
    return Procobs(empty_db)
