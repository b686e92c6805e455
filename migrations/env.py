"""Alembic environment: the database URL comes from pgfraud's settings, nowhere else."""

from __future__ import annotations

from alembic import context

from pgfraud.kernel.db import create_engine, database_url

config = context.config


def run_migrations_online() -> None:
    url = config.attributes.get("database_url") or database_url()
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            context.configure(connection=connection, transaction_per_migration=True)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("pgfraud migrations run online only; the schema is readable in sql/schema/")
run_migrations_online()
