"""The only package that knows SQL: schema, migrations and named operations on SQLite and PostgreSQL."""

from __future__ import annotations

from footfall.config import Settings
from footfall.store.base import Store
from footfall.store.migrate import upgrade


def open_store(settings: Settings) -> Store:
    """The store for FOOTFALL_DATABASE_URL (a SQLite file in the data directory by default)."""
    url = settings.resolved_database_url
    if url.startswith("sqlite:///"):
        from footfall.store.sqlite import SqliteStore

        return SqliteStore(url, busy_timeout_ms=settings.busy_timeout_ms)
    from footfall.store.postgres import PostgresStore

    return PostgresStore(url)


def migrate(settings: Settings) -> None:
    url = settings.resolved_database_url
    if url.startswith("sqlite:///"):
        from pathlib import Path

        from footfall.exceptions import StorageUnavailable

        try:
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageUnavailable(f"cannot create the data directory: {exc}") from exc
    upgrade(url)


__all__ = ["Store", "migrate", "open_store"]
