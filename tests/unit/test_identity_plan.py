"""The batch planner's identity decisions, without a database: who an event is about, which
contacts it merges, and when it records a warning instead."""

from __future__ import annotations

from footfall.identity.locators import Locators
from footfall.identity.merging import Person, may_merge, plan_batch, survivor_first
from footfall.records import NewEvent

WS = 1


def event(**locators: object) -> NewEvent:
    return NewEvent(WS, "visit", "k", "[]", "{}", "live", 1, 1, Locators(**locators))  # type: ignore[arg-type]


def people(*persons: Person) -> dict[tuple[int, int], Person]:
    return {(WS, p.id): p for p in persons}


def test_survivor_is_known_then_named_then_existing_then_older() -> None:
    known, visitor = Person(9, None, False), Person(2, None, True)
    assert survivor_first(visitor, known) == (known, visitor)
    named, unnamed = Person(9, "crm", False), Person(2, None, False)
    assert survivor_first(unnamed, named) == (named, unnamed)
    existing, new = Person(9, None, False), Person(-1, None, False)
    assert survivor_first(new, existing) == (existing, new)
    assert survivor_first(Person(5, None, False), Person(3, None, False))[0].id == 3


def test_two_different_external_ids_may_not_merge() -> None:
    assert not may_merge(Person(1, "a", False), Person(2, "b", False))
    assert may_merge(Person(1, "a", False), Person(2, None, False))
    assert may_merge(Person(1, "a", False), Person(2, "a", False))


def test_an_event_naming_two_contacts_plans_one_merge() -> None:
    owners = {(WS, "email", "a@b.co"): 1, (WS, "phone", "+380501234567"): 2}
    plan = plan_batch(
        [event(email="a@b.co", phone="+380501234567")],
        owners,
        people(Person(1, None, False), Person(2, None, False)),
        {},
    )
    assert plan.contacts == [1]
    assert [(m.merged, m.survivor) for m in plan.merges] == [(2, 1)]
    assert plan.warnings == {}


def test_later_events_of_the_batch_see_the_merge() -> None:
    owners = {(WS, "email", "a@b.co"): 1, (WS, "phone", "+380501234567"): 2}
    plan = plan_batch(
        [event(email="a@b.co", phone="+380501234567"), event(phone="+380501234567")],
        owners,
        people(Person(1, None, False), Person(2, None, False)),
        {},
    )
    assert [plan.canon(WS, c) for c in plan.contacts if c is not None] == [1, 1]
    assert len(plan.merges) == 1


def test_conflicting_external_ids_give_a_warning_and_no_merge() -> None:
    owners = {(WS, "externalCustomerId", "b"): 2, (WS, "email", "a@b.co"): 1}
    plan = plan_batch(
        [event(external_id="b", email="a@b.co")],
        owners,
        people(Person(1, "a", False), Person(2, "b", False)),
        {},
    )
    assert plan.contacts == [2]
    assert plan.merges == []
    [(key, (_, _, times))] = plan.warnings.items()
    assert key == (WS, 1, 2) and times == 1


def test_a_new_external_id_skips_another_customers_email() -> None:
    owners = {(WS, "email", "a@b.co"): 1}
    plan = plan_batch(
        [event(external_id="new", email="a@b.co")], owners, people(Person(1, "a", False)), {}
    )
    assert plan.contacts == [-1]  # a new contact for the new customer
    assert (WS, "externalCustomerId", "new") in plan.claims
    assert (WS, "email", "a@b.co") not in plan.claims
    assert len(plan.warnings) == 1


def test_an_anonymous_visitor_is_merged_into_the_known_contact() -> None:
    owners = {(WS, "anonymousId", "cookie"): 7, (WS, "email", "a@b.co"): 1}
    plan = plan_batch(
        [event(anonymous_id="cookie", email="a@b.co")],
        owners,
        people(Person(1, None, False), Person(7, None, True)),
        {},
    )
    assert plan.contacts == [1]
    assert [(m.merged, m.survivor) for m in plan.merges] == [(7, 1)]


def test_a_visitor_id_alone_creates_an_anonymous_contact() -> None:
    plan = plan_batch([event(anonymous_id="cookie")], {}, {}, {})
    assert plan.contacts == [-1]
    assert plan.people[(WS, -1)].anonymous is True
    plan = plan_batch([event(anonymous_id="cookie", email="a@b.co")], {}, {}, {})
    assert plan.people[(WS, -1)].anonymous is False


def test_a_shared_device_does_not_merge_known_contacts() -> None:
    owners = {(WS, "anonymousId", "pc"): 1, (WS, "email", "b@b.co"): 2}
    plan = plan_batch(
        [event(anonymous_id="pc", email="b@b.co")],
        owners,
        people(Person(1, None, False), Person(2, None, False)),
        {},
    )
    assert plan.contacts == [2]
    assert plan.merges == [] and plan.warnings == {}


def test_contact_id_wins_and_merges_the_owner_of_another_identifier() -> None:
    owners = {(WS, "email", "a@b.co"): 2}
    plan = plan_batch(
        [event(contact_id=5, email="a@b.co")],
        owners,
        people(Person(5, None, False), Person(2, None, False)),
        {(WS, 5): 5},
    )
    assert plan.canon(WS, plan.contacts[0] or 0) == 2  # the older one survives
    assert [(m.merged, m.survivor) for m in plan.merges] == [(5, 2)]
