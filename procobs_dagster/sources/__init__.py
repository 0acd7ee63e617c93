"""Sources: everything that turns a report from outside procobs into ledger rows.

``domain_events`` feeds a JSON-lines file of domain events (plans, actors, tools,
validations) to the ledger, as ``procobs events ingest`` does. ``workflow_runs`` and
``workflow_ledger`` are source-neutral: a workflow engine's reports, mapped by their source
into plain values, become runs and components of the ledger
(``source_system = 'workflow_engine'``) whatever order they arrive in; ``openlineage`` is
one such source (OpenLineage run events, validated and mapped). Dagster-free.
"""
