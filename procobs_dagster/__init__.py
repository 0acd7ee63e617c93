"""procobs_dagster: process observation on Dagster."""

__version__ = "0.1.0"
