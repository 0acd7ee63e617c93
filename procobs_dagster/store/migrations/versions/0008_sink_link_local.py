"""delivery_sink.allow_link_local: a sink's explicit leave to reach link-local and
cloud-metadata addresses, which webhooks are otherwise refused (docs/delivery.md).

Revision ID: 0008_sink_link_local
Revises: 0007_workflow
"""

import sqlalchemy as sa
from alembic import op

revision = "0008_sink_link_local"
down_revision = "0007_workflow"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "delivery_sink",
        sa.Column("allow_link_local", sa.Boolean(), server_default=sa.false(), nullable=False),
    )


def downgrade() -> None:
    op.drop_column("delivery_sink", "allow_link_local")
