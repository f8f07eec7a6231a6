"""Re-submitting failed events once their type's rules were fixed: the CLI and the API share it."""

from __future__ import annotations

from typing import Protocol

from footfall.eventtypes.registry import SettingsSource, rules_from_json
from footfall.eventtypes.rules import TypeRules
from footfall.exceptions import InvalidEvent
from footfall.ingest.service import reparse
from footfall.records import NewEvent
from footfall.store.registry import Pending, Reparse, Replayed, ReplaySelection


class FailureLog(SettingsSource, Protocol):
    """What replay needs of the store (``Store.types``)."""

    def replay_failures(
        self, selection: ReplaySelection, reparse: Reparse, now: int
    ) -> list[Replayed]: ...


def _reparser(store: FailureLog, type_key: str, now_us: int, max_age_days: int) -> Reparse:
    """Parse a failed event again under the type's current rules, read fresh from the database."""
    current: dict[tuple[int, str], TypeRules | None] = {}
    for workspace_id, key, settings in store.all_type_settings():
        if key == type_key:
            current[(workspace_id, key)] = rules_from_json(settings)

    def lookup(workspace_id: int, key: str) -> TypeRules | None:
        return current.get((workspace_id, key))

    def again(row: Pending) -> NewEvent:
        raw = row.raw.encode()
        if len(raw) < row.raw_bytes:
            raise InvalidEvent(
                f"only {len(raw)} of the body's {row.raw_bytes} bytes were kept: it cannot be "
                "replayed"
            )
        return reparse(
            row.route,
            raw,
            workspace_id=row.workspace_id,
            now_us=now_us,
            sent_us=row.received_us,
            max_age_days=max_age_days,
            rules=lookup,
        )

    return again


def replay_failed(
    store: FailureLog, selection: ReplaySelection, now_us: int, max_age_days: int = 0
) -> list[Replayed]:
    """Replay the failed events ``selection`` picks; each accepted one is stored exactly once.

    ``max_age_days`` is FOOTFALL_PAST_EVENTS_MAX_AGE_DAYS: past events obey it on replay too.
    """
    again = _reparser(store, selection.event_type_key, now_us, max_age_days)
    return store.replay_failures(selection, again, now_us)
