"""A delete of ``job_queue`` rows queues their run_ids for discovery's refresh, and on
PostgreSQL a TRUNCATE has every job trace re-summarised (docs/discovery.md, "Trace
summaries").

``job_queue`` is the platform's own table and has no archive: when the platform prunes it,
the job traces of the deleted rows lose steps or vanish. A full scoring computes them from
the rows left; the refresh re-summarises only what is queued, and a delete queued nothing,
so it kept counting deleted jobs until the next full pass. Ledger deletes still queue
nothing: they are retention's moves into the archive, which change no trace.

Revision ID: 0015_job_delete_changes
Revises: 0014_ledger_compound_moves
"""

from alembic import op

from procobs_dagster.store.triggers import (
    drop_job_queue_removal_triggers,
    job_queue_removal_triggers,
)

revision = "0015_job_delete_changes"
down_revision = "0014_ledger_compound_moves"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for statement in job_queue_removal_triggers(op.get_context().dialect.name):
        op.execute(statement)


def downgrade() -> None:
    for statement in drop_job_queue_removal_triggers(op.get_context().dialect.name):
        op.execute(statement)
