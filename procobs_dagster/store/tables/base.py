"""The one MetaData every table belongs to, with deterministic constraint names."""

import sqlalchemy as sa

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# An auto-incrementing 64-bit key: BIGINT identity on Postgres, the rowid alias on SQLite
# (SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY).
BigSerial = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def partial_unique(name: str, table_column: str, where: str) -> sa.Index:
    """A unique index over the rows matching ``where`` only, on both dialects."""
    return sa.Index(
        name,
        table_column,
        unique=True,
        postgresql_where=sa.text(where),
        sqlite_where=sa.text(where),
    )
