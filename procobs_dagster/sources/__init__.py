"""Sources: everything that turns an external report into ledger rows.

``workflow_runs`` and ``workflow_ledger`` are source-neutral: a workflow engine's reports,
mapped by their source into plain values, become runs and components of the ledger
(``source_system = 'workflow_engine'``) whatever order they arrive in. ``openlineage``
is one such source: OpenLineage run events, validated and mapped. Dagster-free.
"""
