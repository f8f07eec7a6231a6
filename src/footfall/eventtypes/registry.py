"""Each process keeps the operator's type rules in memory, so ingestion never waits on a read.

Rules changed through this process apply at once; those changed through another process apply
within ``FOOTFALL_TYPE_RULES_REFRESH_SECONDS``. The cache belongs to each API process, so its
refresh stays there (it is not a deployment-wide job for footfall.background); the periodic check
is one small query, and every type's settings are read only when it shows a change.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, Protocol

import msgspec

from footfall import logs
from footfall.eventtypes.rules import TypeRules, TypeSettings, compile_settings
from footfall.exceptions import FootfallError

log = logs.get("footfall.types")


class SettingsSource(Protocol):
    """What the rules cache needs of the store (``Store.types``)."""

    def all_type_settings(self) -> list[tuple[int, str, Any]]: ...

    def type_settings_version(self) -> tuple[int, int, int]: ...


def rules_from_json(settings: object) -> TypeRules | None:
    """Compiled rules from stored settings; None when they ask for nothing."""
    parsed = msgspec.convert(settings, TypeSettings)
    if not parsed.validateParams and parsed.jsonSchema is None:
        return None
    return compile_settings(parsed, stored=True)


class TypeRulesCache:
    def __init__(self, store: SettingsSource, refresh_seconds: float) -> None:
        self._store = store
        self._refresh_seconds = refresh_seconds
        self._rules: dict[tuple[int, str], TypeRules] = {}
        self._sources: dict[tuple[int, str], object] = {}
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        # A refresh that read the database before a put() must not undo it.
        self._generation = 0
        self._put_at: dict[tuple[int, str], int] = {}
        # What the settings looked like at the last full read: the periodic check compares this
        # one small query and reads every type's settings only when it changed.
        self._version: tuple[int, int, int] | None = None

    def rules(self, workspace_id: int, key: str) -> TypeRules | None:
        return self._rules.get((workspace_id, key))

    def put(self, workspace_id: int, key: str, settings: object) -> None:
        self._generation += 1
        self._put_at[(workspace_id, key)] = self._generation
        self._apply(workspace_id, key, settings)

    def _apply(self, workspace_id: int, key: str, settings: object) -> None:
        self._sources[(workspace_id, key)] = settings
        compiled = rules_from_json(settings)
        if compiled is None:
            self._rules.pop((workspace_id, key), None)
        else:
            self._rules[(workspace_id, key)] = compiled

    def refresh(self) -> None:
        """Read every type's settings if any changed since the last read; compile only those."""
        version = self._store.type_settings_version()  # before the read: a later change shows
        if version == self._version:
            return
        self._reload()
        self._version = version

    def _reload(self) -> None:
        started = self._generation
        seen = set()
        for workspace_id, key, settings in self._store.all_type_settings():
            seen.add((workspace_id, key))
            if self._put_at.get((workspace_id, key), 0) > started:
                continue  # put() while we were reading: it is newer than what we read
            if self._sources.get((workspace_id, key)) != settings:
                try:
                    self._apply(workspace_id, key, settings)
                except (FootfallError, msgspec.ValidationError):
                    log.exception("unusable type settings", action="types.invalid", key=key)
        for gone in {k for k in set(self._sources) - seen if self._put_at.get(k, 0) <= started}:
            self._sources.pop(gone, None)
            self._rules.pop(gone, None)

    async def start(self) -> None:
        self._stopping.clear()
        try:
            await asyncio.to_thread(self.refresh)
        except FootfallError as exc:  # storage down at start: events get 503 until it is back
            log.warning("type rules not loaded yet", action="types.stale", error=str(exc))
        if self._refresh_seconds > 0:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self._refresh_seconds)
                return
            try:
                await asyncio.to_thread(self.refresh)
            except FootfallError as exc:  # storage down: keep the rules we have
                log.warning("type rules not refreshed", action="types.stale", error=str(exc))

    async def stop(self) -> None:
        """Let a refresh in progress finish, then stop: the store it reads closes next, and
        closing a connection under a running statement can crash the process."""
        self._stopping.set()
        if self._task is not None:
            await self._task
            self._task = None
