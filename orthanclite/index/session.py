"""Engine and session factory of the index, and schema migrations."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

logger = logging.getLogger(__name__)


def create_index_engine(url: str) -> Engine:
    """Create the engine; SQLite connections get foreign keys and WAL."""
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            # Error messages would otherwise quote parameters: patient names.
            hide_parameters=True,
            connect_args={"check_same_thread": False, "timeout": 30},
            pool_size=16,
            max_overflow=32,
        )
        event.listen(engine, "connect", _configure_sqlite)
        # pysqlite's own transaction handling would delay BEGIN; take it over.
        event.listen(engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN"))
        return engine
    return create_engine(
        url, hide_parameters=True, pool_size=16, max_overflow=32, pool_pre_ping=True
    )


def _configure_sqlite(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def create_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def migrations_folder() -> Path:
    """Locate the ``alembic`` folder beside the package or in the working folder."""
    configured = os.environ.get("ORTHANCLITE_MIGRATIONS")
    candidates = [Path(configured)] if configured else []
    candidates += [Path(__file__).resolve().parents[2] / "alembic", Path.cwd() / "alembic"]
    for candidate in candidates:
        if (candidate / "env.py").is_file():
            return candidate
    raise RuntimeError(
        "Cannot find the alembic migrations folder; set ORTHANCLITE_MIGRATIONS to its path"
    )


def upgrade_schema(engine: Engine) -> None:
    """Create or upgrade the index schema to the latest migration."""
    config = Config()
    config.set_main_option("script_location", str(migrations_folder()))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
