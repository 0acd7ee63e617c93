"""``ix_delivery_state_dead``: the dead deliveries in key order, which ``relay redrive
--all`` walks a batch at a time (docs/delivery.md, "Guarantees").

Event ids are time-ordered, so when a sink was down for a stretch its dead rows lie behind
every delivered row in the primary key's order, and the first batch walked the whole
delivered history to reach them: 0.2 s at 500,000 deliveries, growing with the table. The
index holds only dead rows, and ``state`` is already indexed, so it costs the write path
nothing a row's move to or from dead did not already pay.

Revision ID: 0016_dead_delivery_index
Revises: 0015_job_delete_changes
"""

import sqlalchemy as sa
from alembic import op

revision = "0016_dead_delivery_index"
down_revision = "0015_job_delete_changes"
branch_labels = None
depends_on = None

DEAD = sa.text("state = 'dead'")


def upgrade() -> None:
    op.create_index(
        "ix_delivery_state_dead",
        "delivery_state",
        ["event_id", "sink"],
        unique=False,
        postgresql_where=DEAD,
        sqlite_where=DEAD,
    )


def downgrade() -> None:
    op.drop_index("ix_delivery_state_dead", table_name="delivery_state")
