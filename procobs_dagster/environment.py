"""Settings read from the environment.

A variable set but empty is refused rather than taken as unset: a deployment's
``${VALUE}`` left unset would otherwise fall back quietly to a default meant for a
laptop — a SQLite file per process, the bundled sample catalog, no sinks file."""

import os

from procobs_dagster.errors import ConfigurationError


def setting(name: str, default: str) -> str | None:
    """The value of the variable ``name``, None when it is unset; set but blank, an error
    saying what unsetting it gives (``default``)."""
    value = os.environ.get(name)
    if value is not None and not value.strip():
        raise ConfigurationError(
            f"{name} is set but empty: unset it for {default}, or give it a value"
        )
    return value
