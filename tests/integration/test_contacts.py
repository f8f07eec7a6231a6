"""How events find their contact: normalised locators, priority, contactId, and concurrent creation."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from footfall.store import Store


def send(client: httpx.Client, key: str | None = None, **params: Any) -> httpx.Response:
    body: dict[str, Any] = {"eventTypeKey": "visit"}
    if key is not None:
        body["keyValue"] = key
    body["params"] = [{"name": name, "value": value} for name, value in params.items()]
    return client.post("/api/v2/event", json=body)


def contact_of(client: httpx.Client, **params: Any) -> int | None:
    """Send one event under a fresh keyValue and read back the contact it was tied to."""
    key = f"k-{uuid.uuid4().hex[:12]}"
    response = send(client, key, **params)
    assert response.status_code == 200, response.text
    [event] = client.get("/api/v1/events", params={"keyValue": key}).json()
    contact: int | None = event["contactId"]
    return contact


def identifiers(store: Store, workspace_id: int) -> list[tuple[str, str, int]]:
    with store.read() as tx:
        rows = tx.all(
            "SELECT kind, value, contact_id FROM contact_identifiers WHERE workspace_id = ? "
            "ORDER BY kind, value",
            workspace_id,
        )
    return [(kind, value, int(contact)) for kind, value, contact in rows]


def contacts(store: Store, workspace_id: int) -> list[int]:
    with store.read() as tx:
        rows = tx.all(
            "SELECT id FROM contacts WHERE workspace_id = ? AND deleted_us IS NULL ORDER BY id",
            workspace_id,
        )
    return [int(row[0]) for row in rows]


def test_email_case_does_not_make_a_new_contact(
    api: httpx.Client, store: Store, workspace: Any
) -> None:
    first = contact_of(api, email="Foo@Example.COM")
    second = contact_of(api, email="foo@example.com")
    third = contact_of(api, EmailAddress="  FOO@example.com ")
    assert first is not None
    assert first == second == third
    assert identifiers(store, workspace.id) == [("email", "foo@example.com", first)]
    assert contacts(store, workspace.id) == [first]


@pytest.mark.parametrize(
    "other_form", ["380501234567", "+380501234567", "+380 (50) 123-45-67", "380-50-123-45-67"]
)
def test_phone_forms_normalise_to_one_contact(
    api: httpx.Client, store: Store, workspace: Any, other_form: str
) -> None:
    first = contact_of(api, phone="+380 50 123 45 67")
    assert first is not None
    assert contact_of(api, phone=other_form) == first
    assert contact_of(api, sms=other_form) == first
    assert identifiers(store, workspace.id) == [("phone", "+380501234567", first)]


def test_external_id_and_email_stay_with_their_first_contact(
    api: httpx.Client, store: Store, workspace: Any
) -> None:
    owner = contact_of(api, externalCustomerId="crm-7", email="seven@example.com")
    assert owner is not None
    assert contact_of(api, email="seven@example.com") == owner
    assert contact_of(api, externalCustomerId="crm-7") == owner
    assert contact_of(api, external_customer_id="crm-7", phone="+380671112233") == owner
    # The phone learnt from that event now finds the same person.
    assert contact_of(api, phone="380671112233") == owner
    assert identifiers(store, workspace.id) == [
        ("email", "seven@example.com", owner),
        ("externalCustomerId", "crm-7", owner),
        ("phone", "+380671112233", owner),
    ]


def test_external_id_takes_priority_over_email(api: httpx.Client) -> None:
    by_email = contact_of(api, email="shared@example.com")
    by_id = contact_of(api, externalCustomerId="crm-8")
    assert by_email != by_id
    # Both are known: the externalCustomerId's owner wins, whatever order the params come in.
    assert contact_of(api, email="shared@example.com", externalCustomerId="crm-8") == by_id


def test_a_new_email_gets_a_new_contact(api: httpx.Client, store: Store, workspace: Any) -> None:
    first = contact_of(api, email="one@example.com")
    second = contact_of(api, email="two@example.com")
    third = contact_of(api, externalCustomerId="crm-new")
    assert None not in (first, second, third)
    assert len({first, second, third}) == 3
    assert contacts(store, workspace.id) == sorted([first, second, third])  # type: ignore[type-var]


def test_a_contact_id_param_attaches_the_event_to_that_contact(
    api: httpx.Client, store: Store, workspace: Any
) -> None:
    known = contact_of(api, email="known@example.com")
    assert known is not None
    assert contact_of(api, contactId=str(known)) == known
    assert contact_of(api, ContactId=known) == known  # v2 number, name case-insensitive
    # contactId wins over an identifier owned by someone else …
    other = contact_of(api, email="other@example.com")
    assert contact_of(api, contact_id=str(known), email="other@example.com") == known
    assert other != known
    # … and a new identifier sent with it is learnt for that contact.
    assert contact_of(api, contactId=str(known), phone="+48601234567") == known
    assert contact_of(api, phone="48601234567") == known
    assert contacts(store, workspace.id) == sorted([known, other])  # type: ignore[type-var]


def test_without_key_value_the_contact_id_becomes_the_key(api: httpx.Client) -> None:
    known = contact_of(api, email="keyless@example.com")
    assert send(api, None, contactId=str(known)).status_code == 200
    [event] = api.get("/api/v1/events", params={"keyValue": str(known)}).json()
    assert event["contactId"] == known


def test_an_unknown_contact_id_alone_stores_the_event_without_a_contact(
    api: httpx.Client, store: Store, workspace: Any
) -> None:
    # Documented behaviour: the event is kept (its keyValue is the contactId it carried) but tied
    # to no contact, and no contact is invented for an id Footfall never issued.
    response = send(api, None, contactId="987654321")
    assert response.status_code == 200
    [event] = api.get("/api/v1/events").json()
    assert event["keyValue"] == "987654321"
    assert event["contactId"] is None
    assert contacts(store, workspace.id) == []
    assert api.get("/api/v1/events", params={"contactId": "987654321"}).json() == []


def test_an_unknown_contact_id_with_an_email_falls_back_to_the_email(api: httpx.Client) -> None:
    by_email = contact_of(api, email="fallback@example.com")
    assert contact_of(api, contactId="987654321", email="fallback@example.com") == by_email
    fresh = contact_of(api, contactId="987654321", email="fresh@example.com")
    assert fresh is not None and fresh != by_email


def test_a_contact_of_another_workspace_is_not_reachable_by_id(
    api: httpx.Client, server: Any, other_workspace: Any
) -> None:
    with server.client(other_workspace.full_key) as other:
        theirs = contact_of(other, email="theirs@example.com")
    assert theirs is not None
    assert contact_of(api, contactId=str(theirs)) is None
    mine = contact_of(api, contactId=str(theirs), email="theirs@example.com")
    assert mine is not None and mine != theirs


def test_the_same_email_in_two_workspaces_is_two_contacts(
    api: httpx.Client, server: Any, other_workspace: Any
) -> None:
    mine = contact_of(api, email="both@example.com")
    with server.client(other_workspace.full_key) as other:
        theirs = contact_of(other, email="both@example.com")
    assert None not in (mine, theirs)
    assert mine != theirs


@pytest.mark.parametrize("value", ["-4", "abc", "12abc", "1.5", "00"])
def test_a_contact_id_that_is_not_a_positive_integer_is_400(api: httpx.Client, value: str) -> None:
    response = send(api, "k", contactId=value)
    assert response.status_code == 400
    assert "contactId" in response.text
    assert api.get("/api/v1/events").json() == []


@pytest.mark.parametrize("value", ["²", "99999999999999999999"])
def test_an_odd_contact_id_is_refused_or_ignored_never_a_server_error(
    api: httpx.Client, value: str
) -> None:
    response = send(api, "odd", contactId=value)
    assert response.status_code in (200, 400), response.text
    events = api.get("/api/v1/events").json()
    if response.status_code == 400:
        assert "contactId" in response.text
        assert events == []
    else:
        assert [(e["keyValue"], e["contactId"]) for e in events] == [("odd", None)]


def test_an_invalid_email_as_the_only_locator_and_no_key_is_400(api: httpx.Client) -> None:
    response = send(api, None, email="not-an-email")
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/plain")
    assert "not-an-email" in response.text
    assert "keyValue" in response.text
    assert api.get("/api/v1/events").json() == []


def test_an_invalid_email_with_a_key_is_stored_without_a_contact(
    api: httpx.Client, store: Store, workspace: Any
) -> None:
    assert contact_of(api, email="not-an-email") is None
    assert contact_of(api, phone="12") is None
    assert identifiers(store, workspace.id) == []
    # A valid locator next to the invalid one still finds the contact.
    good = contact_of(api, email="not-an-email", phone="+380501234567")
    assert good is not None
    assert identifiers(store, workspace.id) == [("phone", "+380501234567", good)]


@pytest.mark.parametrize("junk", ["null", "undefined", "", "  ", "None", "0"])
def test_placeholder_values_never_identify_anyone(
    api: httpx.Client, store: Store, workspace: Any, junk: str
) -> None:
    response = send(api, None, externalCustomerId=junk)
    assert response.status_code == 400
    real = contact_of(api, externalCustomerId=junk, email="real@example.com")
    assert real is not None
    assert contact_of(api, externalCustomerId=junk, email="other@example.com") != real
    assert [kind for kind, _, _ in identifiers(store, workspace.id)] == ["email", "email"]


def test_past_events_and_orders_share_contacts_with_live_events(
    api: httpx.Client, store: Store, workspace: Any
) -> None:
    live = contact_of(api, email="everywhere@example.com")
    past = {
        "events": [
            {
                "eventTypeKey": "visit",
                "keyValue": "past-1",
                "occurred": "2023-03-22",
                "params": [{"name": "email", "value": "EVERYWHERE@example.com"}],
            }
        ]
    }
    assert api.post("/api/v2/past_events", json=past).json()["successCount"] == 1
    order = {
        "externalOrderId": "ord-1",
        "totalCost": 10,
        "status": "INITIALIZED",
        "date": "2023-03-22T10:00",
        "currency": "EUR",
        "email": "everywhere@example.com",
    }
    assert api.post("/api/v1/orders", json={"orders": [order]}).json() == {"failedOrders": []}
    events = api.get("/api/v1/events").json()
    assert len(events) == 3
    assert {e["contactId"] for e in events} == {live}
    assert contacts(store, workspace.id) == [live]


def _race(server: Any, key: str, senders: list[dict[str, Any]], tag: str = "race") -> list[int]:
    """One thread per entry of ``senders`` (the params of its event, keyValue ``{tag}-{index}``),
    each with its own connection, all posting at the same moment; ``server`` is one live server or
    a list to spread them over in turn."""
    servers = server if isinstance(server, list) else [server]
    clients = [servers[i % len(servers)].client(key) for i in range(len(senders))]
    for client in clients:  # connected and authenticated before the start
        assert client.get("/health").status_code == 200
    barrier = threading.Barrier(len(senders))

    def one(index: int) -> int:
        barrier.wait(timeout=30)
        return send(clients[index], f"{tag}-{index}", **senders[index]).status_code

    try:
        with ThreadPoolExecutor(max_workers=len(senders)) as pool:
            return list(pool.map(one, range(len(senders))))
    finally:
        for client in clients:
            client.close()


def _single_owner(
    api: httpx.Client, store: Store, workspace_id: int, tag: str, locators: list[tuple[str, str]]
) -> int:
    """Every locator has one owner, the same for all; every event of ``tag`` is tied to it."""
    found = identifiers(store, workspace_id)
    owners = set()
    for kind, value in locators:
        rows = [contact for k, v, contact in found if (k, v) == (kind, value)]
        assert len(rows) == 1, (kind, value, found)
        owners.add(rows[0])
    assert len(owners) == 1, f"one person split over contacts {sorted(owners)}: {found}"
    owner = owners.pop()
    listed = api.get("/api/v1/events", params={"limit": 1000}).json()
    tied = {e["contactId"] for e in listed if e["keyValue"].startswith(f"{tag}-")}
    assert tied == {owner}
    return owner


def test_parallel_events_with_a_new_email_make_one_contact(
    api: httpx.Client, server: Any, store: Store, workspace: Any
) -> None:
    email = f"rush-{uuid.uuid4().hex[:8]}@example.com"
    statuses = _race(server, workspace.events_key, [{"email": email}] * 20)
    assert statuses == [200] * 20
    owner = _single_owner(api, store, workspace.id, "race", [("email", email)])
    assert len(api.get("/api/v1/events").json()) == 20
    assert contacts(store, workspace.id) == [owner]


def test_parallel_events_through_two_servers_make_one_contact(
    api: httpx.Client, server: Any, make_server: Any, store: Store, workspace: Any
) -> None:
    # Two servers on one database: two group committers whose transactions really race.
    servers = [server, make_server()]
    email = f"rush-{uuid.uuid4().hex[:8]}@example.com"
    params = {"email": email, "phone": "+380931234567"}
    assert _race(servers, workspace.events_key, [params] * 20) == [200] * 20
    owner = _single_owner(
        api, store, workspace.id, "race", [("email", email), ("phone", "+380931234567")]
    )
    assert contacts(store, workspace.id) == [owner]


def test_parallel_events_with_overlapping_locators_make_one_contact(
    api: httpx.Client, server: Any, make_server: Any, store: Store, workspace: Any
) -> None:
    # Half the senders know only the e-mail, half the CRM id and the e-mail. In any serial order
    # all of them land on one contact, so a race between two servers must not split the person.
    servers = [server, make_server()]
    for round_ in range(3):
        email = f"rush-{round_}-{uuid.uuid4().hex[:8]}@example.com"
        crm = f"crm-{round_}"
        senders = [{"email": email}, {"externalCustomerId": crm, "email": email}] * 10
        tag = f"round{round_}"
        assert _race(servers, workspace.events_key, senders, tag) == [200] * 20
        _single_owner(
            api, store, workspace.id, tag, [("email", email), ("externalCustomerId", crm)]
        )
