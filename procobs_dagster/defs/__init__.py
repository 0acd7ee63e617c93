"""Dagster definitions: thin wrappers over the domain packages."""
