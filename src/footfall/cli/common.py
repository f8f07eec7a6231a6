"""What every command shares: the settings (and the database they name, said on stderr first),
the migrated store, and errors turned into a message and exit status 1."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from footfall.config import Settings
from footfall.exceptions import FootfallError

if TYPE_CHECKING:
    from footfall.store import Store

__all__ = ["load_settings", "migrate_database", "migrated_store", "when", "workspace_id"]


def load_settings() -> Settings:
    """The settings, once the database they name is printed."""
    try:
        settings = Settings.from_env()
    except FootfallError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"footfall: database {settings.database_label()}", err=True)
    return settings


def migrate_database(settings: Settings) -> None:
    from footfall.store import migrate

    try:
        migrate(settings)
    except FootfallError as exc:
        raise click.ClickException(str(exc)) from exc


@contextmanager
def migrated_store(settings: Settings | None = None) -> Iterator[Store]:
    """The migrated store; a FootfallError inside becomes a message and exit status 1."""
    from footfall.store import open_store

    settings = settings or load_settings()
    migrate_database(settings)
    store = open_store(settings)
    try:
        yield store
    except FootfallError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        store.close()


def workspace_id(store: Store, name: str) -> int:
    """The id of the workspace named ``name``; a message and exit status 1 if there is none."""
    found = store.access.workspace_id(name)
    if found is None:
        raise click.ClickException(f"no workspace named {name!r}")
    return found


def read_json(path: str, max_bytes: int) -> Any:
    """The JSON in ``path`` (``-``: standard input), at most ``max_bytes``."""
    import msgspec

    from footfall.decoding import decode_json

    try:
        if path == "-":
            data = sys.stdin.buffer.read(max_bytes + 1)
        else:
            with Path(path).open("rb") as stream:
                data = stream.read(max_bytes + 1)
    except OSError as exc:
        raise click.ClickException(f"{path}: {exc.strerror or exc}") from exc
    if len(data) > max_bytes:
        raise click.ClickException(f"{path}: larger than {max_bytes // 1024 // 1024} MiB")

    def invalid(exc: Exception) -> FootfallError:
        return FootfallError(str(exc))

    try:
        return decode_json(data, msgspec.json.Decoder(), invalid, path)
    except FootfallError as exc:
        raise click.ClickException(str(exc)) from exc


def when(us: int | None) -> str:
    """A moment as the API shows it (ISO 8601, UTC), or ``-`` for none."""
    from footfall.ingest.dates import from_us

    return "-" if us is None else from_us(us)
