"""Alembic environment. procobs always hands Alembic a connection (online) or a
dialect name (offline, to render the SQL packet); Alembic never opens its own engine."""

from alembic import context

from procobs_dagster.store.tables import metadata

config = context.config


def run_offline() -> None:
    context.configure(
        dialect_name=config.attributes.get("dialect_name", "postgresql"),
        # A psql script has no bound parameters: with the driver's pyformat style every
        # literal % would be written doubled (RAISE '%%' then fails in psql).
        dialect_opts={"paramstyle": "named"},
        target_metadata=metadata,
        literal_binds=True,
        transaction_per_migration=False,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes["connection"]
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
