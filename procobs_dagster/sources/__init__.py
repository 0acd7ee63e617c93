"""Workflow sources: everything that turns a report from outside procobs into ledger rows.

``domain_events`` feeds a JSON-lines file of domain events (plans, actors, tools,
validations) to the ledger, as ``procobs events ingest`` does."""
