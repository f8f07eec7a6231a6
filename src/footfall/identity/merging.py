"""The merge rules, pure: who survives a merge, which merges are allowed, and the plan of a
group-commit batch (who each event is about, which contacts it merges, which conflicts it records).

The store carries the plan out in SQL, where each merge is checked again under row locks.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from footfall.identity.locators import ANONYMOUS_ID, EXTERNAL_ID
from footfall.records import NewEvent

IdentifierKey = tuple[int, str, str]  # (workspace_id, kind, value)


@dataclass(slots=True)
class Person:
    """What the write path knows of a contact: enough to decide on a merge."""

    id: int  # negative for a contact the current batch creates
    ext: str | None
    anonymous: bool
    deleted: bool = False


def survivor_first(a: Person, b: Person) -> tuple[Person, Person]:
    """(survivor, merged): a known contact over an anonymous one, one with an externalCustomerId
    over one without, an existing one over one being created, then the older. The same pair
    always gives the same answer."""

    def rank(p: Person) -> tuple[bool, bool, bool, int]:
        return (p.anonymous, p.ext is None, p.id < 0, abs(p.id))

    return (a, b) if rank(a) <= rank(b) else (b, a)


def may_merge(a: Person, b: Person) -> bool:
    """Never merge two contacts that each have a different externalCustomerId."""
    return a.ext is None or b.ext is None or a.ext == b.ext


def identifier_keys(event: NewEvent) -> list[IdentifierKey]:
    ws = event.workspace_id
    return [(ws, kind, value) for kind, value in event.locators.identifiers()]


@dataclass(frozen=True, slots=True)
class PlannedMerge:
    workspace_id: int
    merged: int
    survivor: int
    reason: str
    key_id: int


@dataclass
class MergePlan:
    """Who each event of a batch is about. New contacts have no id yet: they are numbered -1, -2…

    Merges and conflicts are decided here on what was read at the start of the batch, and made
    in SQL afterwards, where ``identity.merge`` checks its rule again under row locks.
    """

    owners: dict[IdentifierKey, int]
    people: dict[tuple[int, int], Person]
    alias: dict[tuple[int, int], int] = field(default_factory=dict)
    new_contacts: dict[int, NewEvent] = field(default_factory=dict)
    claims: dict[IdentifierKey, int] = field(default_factory=dict)
    contacts: list[int | None] = field(default_factory=list)
    merges: list[PlannedMerge] = field(default_factory=list)
    warnings: dict[tuple[int, int, int | None], tuple[str, int, int]] = field(default_factory=dict)

    def canon(self, ws: int, contact: int) -> int:
        while (ws, contact) in self.alias:
            contact = self.alias[(ws, contact)]
        return contact

    def person(self, ws: int, contact: int) -> Person:
        contact = self.canon(ws, contact)
        person = self.people.get((ws, contact))
        if person is None:
            # Not read (see _undecided): the event names only this contact, nothing to decide.
            person = self.people[(ws, contact)] = Person(contact, None, anonymous=False)
        return person

    def warn(self, ws: int, contact: int, other: int | None, event: NewEvent) -> None:
        key = (ws, contact, other)
        _, _, seen = self.warnings.get(key, ("", 0, 0))
        reason = (
            f"an event of type {event.event_type_key!r} carried identifiers of two contacts "
            "with different externalCustomerIds"
        )
        self.warnings[key] = (reason, event.key_id, seen + 1)

    def primary(self, event: NewEvent, keys: list[IdentifierKey], live: dict[Any, int]) -> int:
        """contactId wins, then the first identifier in priority order that has an owner, skipping
        owners that are another customer; else a contact is created."""
        ws = event.workspace_id
        contact_id = event.locators.contact_id
        if contact_id is not None and (ws, contact_id) in live:
            return self.canon(ws, live[(ws, contact_id)])
        ext = event.locators.external_id
        for key in keys:
            owner = self.owners.get(key)
            if owner is None:
                continue
            person = self.person(ws, owner)
            if ext is not None and key[1] != EXTERNAL_ID and person.ext not in (None, ext):
                continue
            return person.id
        new = -(len(self.new_contacts) + 1)
        self.new_contacts[new] = event
        self.people[(ws, new)] = Person(new, None, anonymous=True)
        return new

    def join(self, event: NewEvent, owner: int, contact: int, kind: str) -> int:
        """The contact an event about both ``owner`` and ``contact`` belongs to."""
        ws = event.workspace_id
        a, b = self.person(ws, owner), self.person(ws, contact)
        if not a.anonymous and not b.anonymous:
            if kind == ANONYMOUS_ID:
                return b.id  # a shared device: the visitor id stays with its first contact
            if not may_merge(a, b):
                self.warn(ws, min(a.id, b.id), max(a.id, b.id), event)
                return b.id
        keep, drop = survivor_first(a, b)
        self.alias[(ws, drop.id)] = keep.id
        keep.ext = keep.ext or drop.ext
        keep.anonymous = keep.anonymous and drop.anonymous
        reason = (
            f"an event of type {event.event_type_key!r} carried the {kind} of one contact "
            "and identifiers of the other"
        )
        self.merges.append(PlannedMerge(ws, drop.id, keep.id, reason, event.key_id))
        return keep.id


def sole_owner(keys: list[IdentifierKey], owners: dict[IdentifierKey, int]) -> int | None:
    """The contact that owns every one of ``keys``, if one does (the common case)."""
    sole = None
    for key in keys:
        owner = owners.get(key)
        if owner is None or (sole is not None and owner != sole):
            return None
        sole = owner
    return sole


def plan_batch(
    events: Sequence[NewEvent],
    owners: dict[IdentifierKey, int],
    people: dict[tuple[int, int], Person],
    live: dict[Any, int],
    all_keys: Sequence[list[IdentifierKey]] | None = None,
) -> MergePlan:
    plan = MergePlan(owners, people)
    if all_keys is None:
        all_keys = [identifier_keys(event) for event in events]
    for event, keys in zip(events, all_keys, strict=True):
        ws = event.workspace_id
        if event.locators.contact_id is None:
            if not keys:
                plan.contacts.append(None)
                continue
            sole = sole_owner(keys, owners)
            if sole is not None:
                plan.contacts.append(plan.canon(ws, sole) if plan.alias else sole)
                continue
        elif not keys and (ws, event.locators.contact_id) not in live:
            plan.contacts.append(None)
            continue
        contact = plan.primary(event, keys, live)
        for key in keys:
            owner = owners.get(key)
            person = plan.person(ws, contact)
            if owner is None:
                if key[1] == EXTERNAL_ID and person.ext not in (None, key[2]):
                    plan.warn(ws, person.id, None, event)
                    continue
                owners[key] = plan.claims[key] = person.id
                if key[1] == EXTERNAL_ID:
                    person.ext = key[2]
                if key[1] != ANONYMOUS_ID:
                    person.anonymous = False
            elif plan.canon(ws, owner) != person.id:
                contact = plan.join(event, owner, person.id, key[1])
        plan.contacts.append(contact)
    return plan


def undecided(
    events: Sequence[NewEvent],
    all_keys: Sequence[list[IdentifierKey]],
    owners: dict[IdentifierKey, int],
) -> dict[int, set[int]]:
    """The contacts the planner must know about: those of events with a contactId, or whose
    identifiers are not all owned by one contact already (a merge, a conflict or a claim).

    Most events name one known contact, or nobody: they need no read of the contacts table.
    (An identifier claimed for a contact while a concurrent merge moved that contact away keeps
    pointing at the merged contact; timelines, exports and erasure cover merged contacts too.)
    """
    wanted: dict[int, set[int]] = defaultdict(set)
    for event, keys in zip(events, all_keys, strict=True):
        ws = event.workspace_id
        found = set()
        unowned = False
        for key in keys:
            owner = owners.get(key)
            if owner is None:
                unowned = True
            else:
                found.add(owner)
        if event.locators.contact_id is not None:
            wanted[ws].add(event.locators.contact_id)
            wanted[ws].update(found)
        elif found and (unowned or len(found) > 1):
            wanted[ws].update(found)
    return wanted
