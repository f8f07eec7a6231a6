"""The registry's growth cap: which events are admitted (pure), and what the per-process side asks
of the store (a fake ledger counting the calls; the real one is in the integration tests)."""

from __future__ import annotations

from collections.abc import Collection, Mapping

from footfall.eventtypes.growth import DAY_US, Caps, Growth, Novelty, Take, admit
from footfall.exceptions import TooManyNewParams, TooManyNewTypes
from footfall.identity.locators import Locators
from footfall.records import NewEvent

CAPS = Caps(types=2, names=3)


def novelty(type_key: str | None, *names: str) -> Novelty:
    """What an event of ``type_key`` (None: of an existing type) adds."""
    return Novelty(type_key or "Known", type_key is not None, frozenset(names))


def test_events_are_admitted_whole_while_what_they_add_fits() -> None:
    wanted = [
        novelty("A", "x"),
        novelty("A", "x"),  # the same new type and name again: counted once
        novelty("B", "y", "z", "w"),  # a fourth name: over the names cap, and B is not taken either
        novelty("C"),
        novelty("D"),  # a third type
        novelty(None),  # adds nothing: never refused
    ]
    refusals, types, names = admit(wanted, (2, 3), CAPS)
    kinds = [type(r).__name__ if r else None for r in refusals]
    assert kinds == [None, None, "TooManyNewParams", None, "TooManyNewTypes", None]
    assert (types, names) == (2, 1)
    assert isinstance(refusals[4], TooManyNewTypes)
    assert "limit 2 a day" in str(refusals[4]) and "'D'" in str(refusals[4])
    assert isinstance(refusals[2], TooManyNewParams) and refusals[2].field == "w"


def test_no_room_refuses_every_addition() -> None:
    refusals, types, names = admit([novelty("A"), novelty(None, "n")], (0, 0), CAPS)
    assert all(refusals) and (types, names) == (0, 0)


class FakeLedger:
    """Types and names that exist, and what was added per (workspace, day)."""

    def __init__(
        self, types: set[str] | None = None, names: set[tuple[str, str]] | None = None
    ) -> None:
        self.types = types or set()
        self.names = names or set()
        self.used: dict[tuple[int, int], tuple[int, int]] = {}
        self.lookups = 0
        self.claims = 0

    def existing(
        self, workspace_id: int, types: Collection[str], names: Mapping[str, Collection[str]]
    ) -> tuple[set[str], dict[str, set[str]]]:
        self.lookups += 1
        found = {
            key: {n for n in wanted if (key, n) in self.names} for key, wanted in names.items()
        }
        return self.types & set(types), found

    def claim_growth(self, workspace_id: int, day: int, take: Take) -> None:
        self.claims += 1
        used = self.used.get((workspace_id, day), (0, 0))
        more = take(*used)
        self.used[(workspace_id, day)] = (used[0] + more[0], used[1] + more[1])


def event(type_key: str, *names: str) -> NewEvent:
    shape = tuple((name, "string") for name in names)
    return NewEvent(1, type_key, "k", "[]", "{}", "live", 0, 0, Locators(), shape=shape)


NOW = 20_000 * DAY_US


def test_known_types_and_names_cost_no_lookup_once_seen() -> None:
    ledger = FakeLedger({"Seen"}, {("Seen", "a")})
    growth = Growth(ledger, CAPS)
    assert not growth.all_known([event("Seen", "a")])
    assert growth.claim(1, [event("Seen", "a")], NOW) == [None]
    assert (ledger.lookups, ledger.claims) == (1, 0)  # existed: nothing counted
    assert growth.all_known([event("Seen", "a")])  # from now on, no call at all
    assert not growth.all_known([event("Seen", "b")])


def test_the_cap_counts_per_workspace_and_day_and_resets_the_next_day() -> None:
    ledger = FakeLedger()
    growth = Growth(ledger, CAPS)
    first = growth.claim(1, [event("A"), event("B"), event("C")], NOW)
    assert [type(r) for r in first] == [type(None), type(None), TooManyNewTypes]
    assert ledger.used[(1, NOW // DAY_US)] == (2, 0)
    assert growth.claim(1, [event("A"), event("B")], NOW) == [None, None]  # existing: admitted
    claims = ledger.claims
    assert isinstance(growth.claim(1, [event("D")], NOW)[0], TooManyNewTypes)
    assert ledger.claims == claims  # the cap is known reached today: no lock taken
    assert growth.claim(1, [event("D")], NOW + DAY_US) == [None]  # a new day
