"""How fast a workspace's registry may grow: new event types and new parameter names per UTC day.

Every new type and every new (type, parameter name) is a row kept for good, so random names sent
as events would grow the registry without bound. Each workspace may add at most
``FOOTFALL_MAX_NEW_EVENT_TYPES_PER_DAY`` types and ``FOOTFALL_MAX_NEW_PARAM_NAMES_PER_DAY`` names
a day; an event that would add more is refused (logged, 400), while events of the types and names
the workspace has are never refused.

What each workspace added today is a row in the database, read and raised under a row lock, so
the cap holds across processes. A new item is counted when an event asking for it is admitted,
before it commits, so the count can run high (two processes admitting the same new type at the
same moment, a commit that then fails) but never low. Each process remembers which types, names
and whole event structures exist (a bounded set of hashes), so an event of known types and names
costs one hash and no query.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from cachetools import LRUCache

from footfall.exceptions import InvalidEvent, TooManyNewParams, TooManyNewTypes
from footfall.records import NewEvent

__all__ = ["DAY_US", "Caps", "Growth", "GrowthLedger", "Novelty", "Take", "admit"]

DAY_US = 86_400_000_000
REMEMBER_AT_ONCE = 10_000
KNOWN_ENTRIES = 200_000  # structures, types and names a process remembers (about 15 MB at most)
Take = Callable[[int, int], tuple[int, int]]


@dataclass(frozen=True, slots=True)
class Caps:
    types: int  # new types a workspace may add per day
    names: int  # new (type, parameter name) pairs per day


@dataclass(frozen=True, slots=True)
class Novelty:
    """What one event would add to the registry."""

    key: str  # its type
    new_type: bool  # the type is new
    names: frozenset[str]  # its parameter names that are new to the type


def _types_refusal(key: str, caps: Caps) -> InvalidEvent:
    return TooManyNewTypes(
        f"too many new event types in this workspace today (limit {caps.types} a day, "
        f"FOOTFALL_MAX_NEW_EVENT_TYPES_PER_DAY): {key!r} is not created; events of existing "
        "types are accepted as usual",
        field="eventTypeKey",
    )


def _names_refusal(key: str, names: Iterable[str], caps: Caps) -> InvalidEvent:
    name = min(names)
    return TooManyNewParams(
        f"too many new parameter names in this workspace today (limit {caps.names} a day, "
        f"FOOTFALL_MAX_NEW_PARAM_NAMES_PER_DAY): param {name!r} is new to {key!r}; events "
        "whose params the type has seen are accepted as usual",
        field=name,
    )


def admit(
    wanted: Sequence[Novelty], room: tuple[int, int], caps: Caps
) -> tuple[list[InvalidEvent | None], int, int]:
    """Events in order, each admitted whole if what it adds still fits ``room`` (types, names);
    each new item counts once however many events bring it. The refusals (None: admitted) and
    how many new types and names the admitted events take."""
    types: set[str] = set()
    names: dict[str, set[str]] = {}  # type -> names taken
    taken = 0
    refusals: list[InvalidEvent | None] = []
    for novelty in wanted:
        key = novelty.key
        more_types = {key} - types if novelty.new_type else set()
        more_names = novelty.names - names.get(key, set())
        if len(types) + len(more_types) > room[0]:
            refusals.append(_types_refusal(key, caps))
        elif taken + len(more_names) > room[1]:
            refusals.append(_names_refusal(key, more_names, caps))
        else:
            types |= more_types
            names.setdefault(key, set()).update(more_names)
            taken += len(more_names)
            refusals.append(None)
    return refusals, len(types), taken


class GrowthLedger(Protocol):
    """What the cap needs of the store (``Store.types``)."""

    def existing(
        self, workspace_id: int, types: Collection[str], names: Mapping[str, Collection[str]]
    ) -> tuple[set[str], dict[str, set[str]]]: ...

    def claim_growth(self, workspace_id: int, day: int, take: Take) -> None: ...


def _structure(event: NewEvent) -> int:
    """One hash for the event's type and its parameters: events of a type mostly share it."""
    return hash((event.workspace_id, event.event_type_key, event.shape))


class _Recent:
    """Hashes seen lately, at most ``size``: two generations of sets (look-ups at C speed, unlike
    an LRU's); one found in the older is carried to the newer, and the older is dropped when the
    newer fills. A hash, not the item: a fraction of the memory; a collision (about one in 2**64,
    with a per-process seed) would let one new item through uncounted."""

    def __init__(self, size: int) -> None:
        self._half = max(size // 2, 1)
        self._new: set[int] = set()
        self._old: set[int] = set()

    def __contains__(self, seen: int) -> bool:
        if seen in self._new:
            return True
        if seen in self._old:
            self.add(seen)
            return True
        return False

    def add(self, seen: int) -> None:
        self.update((seen,))

    def update(self, seen: Iterable[int]) -> None:
        self._new.update(seen)
        if len(self._new) >= self._half:
            self._old, self._new = self._new, set()


class Growth:
    """The per-process side of the cap: which types and names are known to exist, and which
    workspaces reached a cap today; the store keeps the count."""

    def __init__(self, ledger: GrowthLedger, caps: Caps) -> None:
        self._ledger = ledger
        self.caps = caps
        self._known = _Recent(KNOWN_ENTRIES)  # events' structures, types and names
        self._full: LRUCache[int, tuple[int, bool, bool]] = LRUCache(maxsize=10_000)
        self._lock = threading.Lock()

    def all_known(self, events: Sequence[NewEvent]) -> bool:
        """True when every type and name of ``events`` is known to exist: nothing to count.
        Without the lock (set operations are atomic): a race at worst forgets an entry."""
        known = self._known
        return all(_structure(event) in known for event in events)

    def _remember(self, items: Iterable[object]) -> None:
        """Remember ``items`` as existing, at most REMEMBER_AT_ONCE of them: a huge request
        neither flushes what is in use nor pays for what the store can tell again later."""
        with self._lock:
            self._known.update(hash(item) for item in itertools.islice(items, REMEMBER_AT_ONCE))

    def claim(
        self, workspace_id: int, events: Sequence[NewEvent], now_us: int
    ) -> list[InvalidEvent | None]:
        """Each event's refusal (None: admitted), counting what the admitted ones add (I/O:
        called off the event loop)."""
        wanted = self._novelties(workspace_id, events)
        day = now_us // DAY_US
        refusals: list[InvalidEvent | None] = [None] * len(events)
        if any(n.new_type or n.names for n in wanted):
            refusals = self._take(workspace_id, day, wanted)
        admitted = [i for i, refusal in enumerate(refusals) if refusal is None]
        ws = workspace_id
        self._remember((ws, wanted[i].key) for i in admitted if wanted[i].new_type)
        self._remember((ws, wanted[i].key, name) for i in admitted for name in wanted[i].names)
        self._remember((ws, events[i].event_type_key, events[i].shape) for i in admitted)
        return refusals

    def _novelties(self, workspace_id: int, events: Sequence[NewEvent]) -> list[Novelty]:
        """What each event adds: its type and names not known here, less those the store has."""
        ws, known = workspace_id, self._known
        types: set[str] = set()
        names: dict[str, set[str]] = {}  # type -> its names in events of unknown structure
        with self._lock:
            for e in events:
                key = e.event_type_key
                if hash((ws, key)) not in known:
                    types.add(key)
                if _structure(e) not in known:
                    names.setdefault(key, set()).update(n for n, _ in e.shape)
            for key, asked in names.items():  # each distinct name once
                names[key] = {n for n in asked if hash((ws, key, n)) not in known}
        names = {key: asked for key, asked in names.items() if asked}
        found_types: set[str] = set()
        found_names: dict[str, set[str]] = {}
        if types or names:  # else a new combination of known names: nothing to ask
            found_types, found_names = self._ledger.existing(ws, types, names)
        self._remember((ws, key) for key in found_types)
        self._remember((ws, key, n) for key, found in found_names.items() for n in found)
        new_names = {key: wanted - found_names.get(key, set()) for key, wanted in names.items()}
        novelties = []
        for e in events:
            key = e.event_type_key
            new = new_names.get(key)
            fresh = frozenset(n for n, _ in e.shape if n in new) if new else frozenset()
            novelties.append(Novelty(key, key in types and key not in found_types, fresh))
        return novelties

    def _take(
        self, workspace_id: int, day: int, wanted: list[Novelty]
    ) -> list[InvalidEvent | None]:
        caps = self.caps
        with self._lock:
            full = self._full.get(workspace_id)
        if full is not None and full[0] == day:
            # A cap reached today stays reached: what it alone refuses needs no lock.
            refusals, types, names = admit(
                wanted, (0 if full[1] else caps.types, 0 if full[2] else caps.names), caps
            )
            if types == names == 0:
                return refusals
        outcome: list[list[InvalidEvent | None]] = [[]]

        def take(types_used: int, names_used: int) -> tuple[int, int]:
            room = (max(caps.types - types_used, 0), max(caps.names - names_used, 0))
            outcome[0], types, names = admit(wanted, room, caps)
            with self._lock:
                self._full[workspace_id] = (day, types >= room[0], names >= room[1])
            return types, names

        self._ledger.claim_growth(workspace_id, day, take)
        return outcome[0]
