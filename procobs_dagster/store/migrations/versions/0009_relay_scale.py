"""delivery_state kept fast as it grows: partial indexes that hold only the rows still
moving (not the delivered bulk), an acknowledgement that finds its claim by token, and
storage parameters of a queue table — fillfactor and a fixed autovacuum trigger
(docs/delivery.md, "How the relay stays fast").

Revision ID: 0009_relay_scale
Revises: 0008_sink_link_local
"""

import sqlalchemy as sa
from alembic import op

revision = "0009_relay_scale"
down_revision = "0008_sink_link_local"
branch_labels = None
depends_on = None

UNDELIVERED = sa.text("state IN ('pending', 'retry', 'delivering')")
OPEN = sa.text("state <> 'delivered'")
# Written out rather than imported: a migration keeps the values it shipped with.
STORAGE = (
    "fillfactor = 70",
    "autovacuum_vacuum_scale_factor = 0.0",
    "autovacuum_vacuum_threshold = 10000",
)


def _storage_names() -> str:
    return ", ".join(setting.split(" = ")[0] for setting in STORAGE)


def upgrade() -> None:
    op.drop_index("ix_delivery_state_sink_state", table_name="delivery_state")
    op.drop_index("ix_delivery_state_sink_correlation_id_seq", table_name="delivery_state")
    op.create_index(
        "ix_delivery_state_open",
        "delivery_state",
        ["sink", "state", "lock_token"],
        unique=False,
        postgresql_where=OPEN,
        sqlite_where=OPEN,
    )
    op.create_index(
        "ix_delivery_state_undelivered_correlation",
        "delivery_state",
        ["sink", "correlation_id", "seq"],
        unique=False,
        postgresql_where=UNDELIVERED,
        sqlite_where=UNDELIVERED,
    )
    if op.get_context().dialect.name == "postgresql":
        # Applies to pages written from now on; existing ones keep their fill until
        # rewritten (VACUUM FULL or pg_repack), which the migration does not impose.
        op.execute(f"ALTER TABLE delivery_state SET ({', '.join(STORAGE)})")


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        op.execute(f"ALTER TABLE delivery_state RESET ({_storage_names()})")
    op.drop_index("ix_delivery_state_undelivered_correlation", table_name="delivery_state")
    op.drop_index("ix_delivery_state_open", table_name="delivery_state")
    op.create_index(
        "ix_delivery_state_sink_correlation_id_seq",
        "delivery_state",
        ["sink", "correlation_id", "seq"],
        unique=False,
    )
    op.create_index(
        "ix_delivery_state_sink_state", "delivery_state", ["sink", "state"], unique=False
    )
