"""The only package that knows SQL: schema, migrations and named operations on SQLite and PostgreSQL.

``Store`` is a small core (connections, transactions, error translation, retries) on a dialect,
with the operations of each capability on their own object: ``access``, ``events``, ``feed``,
``contacts``, ``types``, ``webhooks``, ``workflows``, ``workflow_runs``, ``workflow_dates`` and
``workspace_settings``.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TypeVar

from footfall.config import DEFAULT_DATA_DIR, Settings
from footfall.exceptions import ConfigurationError, StorageUnavailable
from footfall.store.access import AccessStore
from footfall.store.contacts import ContactStore
from footfall.store.core import Database, PoolLimits
from footfall.store.cursor import Cursor
from footfall.store.dialect import Dialect
from footfall.store.events import EventStore
from footfall.store.feed import FeedStore
from footfall.store.message_templates import TemplateStore
from footfall.store.migrate import upgrade
from footfall.store.registry import TypeStore
from footfall.store.webhooks import WebhookStore
from footfall.store.workflow_dates import DateStore
from footfall.store.workflow_runs import RunStore
from footfall.store.workflows import WorkflowStore
from footfall.store.workspace_settings import WorkspaceSettingsStore

T = TypeVar("T")


class Store:
    """The database of one deployment, by capability."""

    def __init__(self, dialect: Dialect, limits: PoolLimits | None = None) -> None:
        self.dialect = dialect
        self.db = Database(dialect, limits)
        self.access = AccessStore(self.db)
        self.events = EventStore(self.db)
        self.feed = FeedStore(self.db)
        self.contacts = ContactStore(self.db)
        self.types = TypeStore(self.db, self.events)
        self.webhooks = WebhookStore(self.db)
        self.workflows = WorkflowStore(self.db)
        self.templates = TemplateStore(self.db)
        self.workflow_runs = RunStore(self.db)
        self.workflow_dates = DateStore(self.db)
        self.workspace_settings = WorkspaceSettingsStore(self.db)

    def read(self) -> AbstractContextManager[Cursor]:
        """Statements in autocommit on this thread's connection."""
        return self.db.read()

    def transact(self, work: Callable[[Cursor], T]) -> T:
        """Run ``work`` in a write transaction, again from the start if the database aborted it."""
        return self.db.transact(work)

    def ping(self) -> None:
        """Read a page of the database itself, so a vanished or unreadable file shows too."""
        with self.db.read() as tx:
            tx.one("SELECT count(*) FROM workspaces")

    def close(self) -> None:
        """Close every connection this store opened, on any thread."""
        self.events.close()
        self.db.close()


def open_store(settings: Settings) -> Store:
    """The store for FOOTFALL_DATABASE_URL (a SQLite file in the data directory by default)."""
    url = settings.resolved_database_url
    limits = PoolLimits(settings.db_pool_size, settings.db_pool_timeout_seconds)
    if url.startswith("sqlite:///"):
        from footfall.store.sqlite import SqliteDialect

        return Store(SqliteDialect(url, busy_timeout_ms=settings.busy_timeout_ms), limits)
    from footfall.store.postgres import PostgresDialect

    return Store(PostgresDialect(url), limits)


def migrate(settings: Settings) -> None:
    path = settings.sqlite_path
    if path is not None:
        _sqlite_directory(settings, path.parent)
    upgrade(settings.resolved_database_url)


def _sqlite_directory(settings: Settings, directory: Path) -> None:
    """Create the data directory if it is missing (the default one with its parents), never
    another: a directory that does not exist is more likely a mistyped path than a wish."""
    if directory.is_dir():
        return
    if settings.database_url:
        raise ConfigurationError(
            f"FOOTFALL_DATABASE_URL: the directory {directory} does not exist; create it first "
            "(sqlite:///name is relative to the working directory, sqlite:////path absolute)"
        )
    default = directory == DEFAULT_DATA_DIR
    if not default and not directory.parent.is_dir():
        state = "is not a directory" if directory.parent.exists() else "does not exist"
        raise ConfigurationError(
            f"FOOTFALL_DATA_DIR: {directory.parent} {state} "
            f"(Footfall creates {directory.name!r} in it, not the directories above)"
        )
    try:
        directory.mkdir(parents=default, exist_ok=True)
    except OSError as exc:
        raise StorageUnavailable(f"cannot create the data directory {directory}: {exc}") from exc


__all__ = ["Store", "migrate", "open_store"]
