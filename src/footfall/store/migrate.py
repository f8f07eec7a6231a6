"""Versioned schema migrations with Alembic, applied under a lock so that several processes may start at once."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from footfall.exceptions import StorageUnavailable

MIGRATIONS = Path(__file__).with_name("migrations")
_LOCK_ID = 7_346_201_998  # pg_advisory_lock key shared by every Footfall process


def sqlalchemy_url(database_url: str) -> str:
    """The SQLAlchemy spelling of a FOOTFALL_DATABASE_URL (psycopg 3 driver for PostgreSQL)."""
    for prefix in ("postgresql://", "postgres://"):
        if database_url.startswith(prefix):
            return "postgresql+psycopg://" + database_url[len(prefix) :]
    return database_url


def alembic_config(connection: sa.Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def _engine(database_url: str) -> sa.Engine:
    url = sqlalchemy_url(database_url)
    if not url.startswith("sqlite"):
        return sa.create_engine(url, poolclass=sa.NullPool)
    # pysqlite would run each DDL statement in its own implicit transaction; take the write lock
    # up front instead, so a migration is atomic and concurrent migrators wait for each other.
    engine = sa.create_engine(
        url, poolclass=sa.NullPool, connect_args={"isolation_level": None, "timeout": 60}
    )

    @sa.event.listens_for(engine, "begin")
    def _begin_immediate(connection: sa.Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def upgrade(database_url: str, revision: str = "head") -> None:
    """Bring the database to ``revision`` in one transaction; a no-op when it is already there."""
    engine = _engine(database_url)
    try:
        with engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(sa.text(f"SELECT pg_advisory_xact_lock({_LOCK_ID})"))
            command.upgrade(alembic_config(connection), revision)
    except (sa.exc.OperationalError, sa.exc.InterfaceError, OSError) as exc:
        raise StorageUnavailable(f"cannot migrate the database: {exc}") from exc
    finally:
        engine.dispose()


def current_revision(database_url: str) -> str | None:
    engine = sa.create_engine(sqlalchemy_url(database_url), poolclass=sa.NullPool)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


def head_revision() -> str | None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(config).get_current_head()
