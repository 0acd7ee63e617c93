"""Drop ``ix_process_run_observation_archive_process_run_id``: it indexes the run
archive's primary key a second time.

The archive tables are built from their live tables with an index on ``process_run_id``,
so an archived run is found with its components and history; in the run archive that
column is the primary key, whose own index already finds it. The copy doubled every
archived run's index writes and grew with an archive that is kept forever.

Revision ID: 0017_archive_run_key_index
Revises: 0016_dead_delivery_index
"""

from alembic import op

revision = "0017_archive_run_key_index"
down_revision = "0016_dead_delivery_index"
branch_labels = None
depends_on = None

INDEX = "ix_process_run_observation_archive_process_run_id"
TABLE = "process_run_observation_archive"


def upgrade() -> None:
    op.drop_index(INDEX, table_name=TABLE)


def downgrade() -> None:
    op.create_index(INDEX, TABLE, ["process_run_id"], unique=False)
