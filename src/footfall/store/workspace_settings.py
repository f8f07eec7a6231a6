"""A workspace's settings for workflows: its time zone and the daily window actions may run in.

Stored as given: the values are checked above the store (``footfall.workspace_timing``), and the
engine falls back to UTC on a zone it cannot load. A NULL zone is UTC; NULL hours are any time.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from footfall.exceptions import UnknownWorkspace
from footfall.store.core import Database
from footfall.store.cursor import Cursor
from footfall.store.sql import marks

__all__ = [
    "DEFAULT_TIMING",
    "UNCHANGED",
    "Unchanged",
    "WorkspaceSettingsStore",
    "WorkspaceTiming",
    "read_timing",
]

_CHUNK = 500


@dataclass(frozen=True, slots=True)
class WorkspaceTiming:
    """An IANA zone name, and the allowed hours ("HH:MM", "HH:MM") or None for any time."""

    time_zone: str
    allowed: tuple[str, str] | None


DEFAULT_TIMING = WorkspaceTiming("UTC", None)


class Unchanged(enum.Enum):
    """A setting an update leaves as it is."""

    UNCHANGED = "unchanged"


UNCHANGED = Unchanged.UNCHANGED


def read_timing(tx: Cursor, workspace_ids: Sequence[int]) -> dict[int, WorkspaceTiming]:
    """The timing of each workspace asked for, one statement per chunk of ids; a workspace
    without a row gets the defaults (UTC, any time)."""
    wanted = sorted(set(workspace_ids))
    found = dict.fromkeys(wanted, DEFAULT_TIMING)
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        rows = tx.all(
            "SELECT id, time_zone, allowed_from, allowed_to FROM workspaces "
            f"WHERE id IN ({marks(chunk)})",
            *chunk,
        )
        found.update((int(row[0]), _timing(row)) for row in rows)
    return found


def _timing(row: Any) -> WorkspaceTiming:
    allowed = None if row[2] is None or row[3] is None else (str(row[2]), str(row[3]))
    return WorkspaceTiming(str(row[1] or "UTC"), allowed)


class WorkspaceSettingsStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    def get(self, ws: int) -> WorkspaceTiming:
        with self._db.read() as tx:
            return read_timing(tx, [ws])[ws]

    def update(
        self,
        ws: int,
        *,
        time_zone: str | Unchanged = UNCHANGED,
        allowed: tuple[str, str] | Unchanged | None = UNCHANGED,
    ) -> WorkspaceTiming:
        """Set the settings given (``allowed=None`` clears the window), keep the others, and
        return them all; UnknownWorkspace when there is no such workspace."""
        changes: dict[str, str | None] = {}
        if not isinstance(time_zone, Unchanged):
            changes["time_zone"] = time_zone
        if not isinstance(allowed, Unchanged):
            changes["allowed_from"], changes["allowed_to"] = allowed or (None, None)
        if not changes:
            with self._db.read() as tx:
                return _existing(tx, ws)
        return self._db.transact(_updated(ws, changes))


def _updated(ws: int, changes: dict[str, str | None]) -> Callable[[Cursor], WorkspaceTiming]:
    def work(tx: Cursor) -> WorkspaceTiming:
        assigned = ", ".join(f"{column} = ?" for column in changes)
        tx.execute(f"UPDATE workspaces SET {assigned} WHERE id = ?", *changes.values(), ws)
        return _existing(tx, ws)

    return work


def _existing(tx: Cursor, ws: int) -> WorkspaceTiming:
    row = tx.one("SELECT id, time_zone, allowed_from, allowed_to FROM workspaces WHERE id = ?", ws)
    if row is None:
        raise UnknownWorkspace(f"no workspace with id {ws}")
    return _timing(row)
