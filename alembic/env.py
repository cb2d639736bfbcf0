"""Alembic environment: migrates the index of orthanclite.

The server runs the migrations at start-up on its own connection (passed in
``config.attributes["connection"]``). From the command line, set
ORTHANCLITE_DATABASE_URL or ORTHANCLITE_DATA and run ``alembic upgrade head``.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from orthanclite.config import Settings
from orthanclite.index.models import Base

target_metadata = Base.metadata


def run_migrations(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    run_migrations(connection)
else:
    engine = create_engine(Settings().effective_database_url)
    with engine.begin() as own_connection:
        run_migrations(own_connection)
