"""A variable set but empty is refused, not taken as unset (procobs_dagster/environment.py):
through the CLI for the catalog and the sinks file, as for the database URL, and when the
code location loads."""

import pytest

from procobs_dagster.defs.resources import delivery_sinks_from_env, procobs_database_from_env
from procobs_dagster.environment import setting
from procobs_dagster.errors import EXIT_REFUSED, ConfigurationError


def test_a_variable_set_but_blank_is_refused_unset_is_none(monkeypatch):
    monkeypatch.delenv("PROCOBS_X", raising=False)
    assert setting("PROCOBS_X", "the default") is None
    monkeypatch.setenv("PROCOBS_X", "value")
    assert setting("PROCOBS_X", "the default") == "value"
    for blank in ("", "  "):
        monkeypatch.setenv("PROCOBS_X", blank)
        with pytest.raises(ConfigurationError) as caught:
            setting("PROCOBS_X", "the default")
        assert str(caught.value) == (
            "PROCOBS_X is set but empty: unset it for the default, or give it a value"
        )


@pytest.mark.parametrize(
    ("variable", "args", "default"),
    [
        ("PROCOBS_CATALOG", ("discovery", "score"), "the bundled sample catalog"),
        ("PROCOBS_SINKS_FILE", ("relay", "sinks"), "the delivery_sink table"),
        ("PROCOBS_SINKS_FILE", ("relay", "run", "--once"), "the delivery_sink table"),
    ],
)
def test_an_empty_setting_stops_the_command_in_one_line(hostile, variable, args, default):
    # A deployment's ${VALUE} left unset quietly meant the sample catalog or the table's
    # sinks, exit 0.
    message = hostile.refused(*args, env={variable: ""}, exit_code=EXIT_REFUSED)
    assert message == f"{variable} is set but empty: unset it for {default}, or give it a value"


@pytest.mark.parametrize(
    ("variable", "load"),
    [
        ("PROCOBS_DATABASE_URL", procobs_database_from_env),
        ("PROCOBS_SINKS_FILE", delivery_sinks_from_env),
    ],
)
def test_an_empty_setting_stops_the_code_location_loading(monkeypatch, variable, load):
    monkeypatch.setenv(variable, "")
    with pytest.raises(ConfigurationError, match=f"{variable} is set but empty"):
        load()
