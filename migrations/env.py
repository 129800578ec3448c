"""Alembic's environment: migrations run on the connection realtime.collect.migrate hands over, or, from
the command line (`alembic -c migrations/alembic.ini upgrade head`), on DATABASE_URL."""

from __future__ import annotations

import os

from alembic import context

from realtime.collect.store import database_url, make_engine, metadata


def run() -> None:
    """Run the migrations online, on the given connection or on a new one to DATABASE_URL."""
    connection = context.config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=metadata)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = make_engine(database_url(os.environ.get("DATABASE_URL", "")))
    with engine.begin() as own:
        context.configure(connection=own, target_metadata=metadata)
        with context.begin_transaction():
            context.run_migrations()


run()
