"""Merging contacts: when one event or call identifies two contacts, the audit trail, the refused
merge of two externalCustomerIds, concurrency, and anonymous visitors becoming known."""

from __future__ import annotations

import re
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from conftest import NO_TLS_HERE, LiveServer, Workspace
from footfall.store import Store


def send(client: httpx.Client, **params: Any) -> str:
    """Send one event under a fresh keyValue; returns the key."""
    key = f"k-{uuid.uuid4().hex[:12]}"
    body = {
        "eventTypeKey": "visit",
        "keyValue": key,
        "params": [{"name": name, "value": value} for name, value in params.items()],
    }
    response = client.post("/api/v2/event", json=body)
    assert response.status_code == 200, response.text
    return key


def contact_of(client: httpx.Client, **params: Any) -> int:
    key = send(client, **params)
    [event] = client.get("/api/v1/events", params={"keyValue": key}).json()
    contact: int = event["contactId"]
    return contact


def timeline(client: httpx.Client, contact: int) -> list[dict[str, Any]]:
    response = client.get(f"/api/v1/contact/{contact}/events", params={"limit": 1000})
    assert response.status_code == 200, response.text
    events: list[dict[str, Any]] = response.json()
    return events


def row(store: Store, sql: str, *args: Any) -> Any:
    with store.read() as tx:
        return tx.one(sql, *args)


def rows(store: Store, sql: str, *args: Any) -> list[Any]:
    with store.read() as tx:
        return tx.all(sql, *args)


def live_contacts(store: Store, workspace_id: int) -> list[int]:
    return [
        int(r[0])
        for r in rows(
            store,
            "SELECT id FROM contacts WHERE workspace_id = ? AND merged_into IS NULL ORDER BY id",
            workspace_id,
        )
    ]


def metric(server: LiveServer, name: str) -> float:
    text = httpx.get(f"{server.url}/metrics", verify=NO_TLS_HERE).text
    found = re.search(rf"^{name}_total (\S+)$", text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def test_an_event_naming_two_contacts_merges_them_and_keeps_both_histories(
    api: httpx.Client, store: Store, workspace: Workspace, server: LiveServer
) -> None:
    by_email = contact_of(api, email="ann@example.com")
    by_phone = contact_of(api, phone="+380501234567")
    assert by_email != by_phone
    before = metric(server, "footfall_identity_merges")
    linking = contact_of(api, email="ann@example.com", phone="+380501234567")
    assert linking == by_email  # both unnamed: the older contact survives
    assert metric(server, "footfall_identity_merges") == before + 1
    assert live_contacts(store, workspace.id) == [by_email]
    assert row(store, "SELECT merged_into FROM contacts WHERE id = ?", by_phone)[0] == by_email
    # Every event of both contacts is on the survivor's timeline, and the phone finds it now.
    assert len(timeline(api, by_email)) == 3
    assert {e["contactId"] for e in timeline(api, by_email)} == {by_email}
    assert contact_of(api, phone="380501234567") == by_email
    # The merged contact's id still answers, for the survivor.
    assert api.get(f"/api/v1/contact/{by_phone}").json()["id"] == by_email
    assert contact_of(api, contactId=by_phone) == by_email
    # The audit trail: who, when, why.
    [merge] = api.get("/api/v1/identity/merges").json()
    assert (merge["survivorId"], merge["mergedId"], merge["via"]) == (by_email, by_phone, "event")
    assert merge["keyId"] is not None and merge["createdAt"] > 0
    assert "phone" in merge["reason"] and "ann@example.com" not in merge["reason"]
    assert api.get("/api/v1/identity/merges", params={"contactId": by_phone}).json() == [merge]


def test_a_merge_is_made_once_however_often_it_is_asked_for(
    api: httpx.Client, store: Store, workspace: Workspace
) -> None:
    first = contact_of(api, email="bo@example.com")
    contact_of(api, phone="+380501112233")
    for _ in range(3):
        assert contact_of(api, phone="+380501112233", email="bo@example.com") == first
    assert len(api.get("/api/v1/identity/merges").json()) == 1
    assert live_contacts(store, workspace.id) == [first]


def test_the_contact_with_an_external_id_survives(api: httpx.Client, store: Store) -> None:
    anonymous_email = contact_of(api, email="cy@example.com")
    customer = contact_of(api, externalCustomerId="crm-5")
    assert contact_of(api, externalCustomerId="crm-5", email="cy@example.com") == customer
    [merge] = api.get("/api/v1/identity/merges").json()
    assert (merge["survivorId"], merge["mergedId"]) == (customer, anonymous_email)
    document = api.get(f"/api/v1/contact/{customer}").json()
    assert document["externalCustomerId"] == "crm-5"
    assert {"type": "email", "value": "cy@example.com"} in document["channels"]


def test_two_external_ids_are_never_merged_and_a_warning_is_recorded(
    api: httpx.Client, store: Store, workspace: Workspace, server: LiveServer
) -> None:
    first = contact_of(api, externalCustomerId="crm-1", email="dee@example.com")
    second = contact_of(api, externalCustomerId="crm-2")
    before = metric(server, "footfall_identity_warnings")
    # The externalCustomerId wins: the event is crm-2's, and dee@ stays with crm-1.
    assert contact_of(api, externalCustomerId="crm-2", email="dee@example.com") == second
    assert contact_of(api, externalCustomerId="crm-2", email="dee@example.com") == second
    assert metric(server, "footfall_identity_warnings") == before + 2
    assert live_contacts(store, workspace.id) == sorted([first, second])
    assert api.get("/api/v1/identity/merges").json() == []
    [warning] = api.get("/api/v1/identity/warnings").json()
    assert warning["kind"] == "conflicting-external-ids"
    assert {warning["contactId"], warning["otherContactId"]} == {first, second}
    assert warning["occurrences"] == 2 and warning["via"] == "event"
    assert contact_of(api, email="dee@example.com") == first
    owner = row(
        store,
        "SELECT contact_id FROM contact_identifiers WHERE workspace_id = ? AND value = ?",
        workspace.id,
        "dee@example.com",
    )
    assert owner[0] == first
    assert api.get("/api/v1/identity/warnings", params={"contactId": second}).json() == [warning]


def test_a_new_external_id_does_not_take_another_customers_email(
    api: httpx.Client, store: Store, workspace: Workspace
) -> None:
    first = contact_of(api, externalCustomerId="crm-1", email="eve@example.com")
    newcomer = contact_of(api, externalCustomerId="crm-9", email="eve@example.com")
    assert newcomer != first
    assert contact_of(api, externalCustomerId="crm-9") == newcomer
    assert contact_of(api, email="eve@example.com") == first
    assert len(api.get("/api/v1/identity/warnings").json()) == 1


def test_a_contact_id_with_another_customers_external_id_is_refused_too(
    api: httpx.Client, store: Store, workspace: Workspace
) -> None:
    first = contact_of(api, externalCustomerId="crm-1")
    second = contact_of(api, externalCustomerId="crm-2")
    assert contact_of(api, contactId=first, externalCustomerId="crm-2") == first
    assert live_contacts(store, workspace.id) == sorted([first, second])
    assert len(api.get("/api/v1/identity/warnings").json()) == 1


def test_merges_are_kept_one_hop_long(api: httpx.Client, store: Store) -> None:
    a = contact_of(api, email="a@example.com")
    b = contact_of(api, phone="+380501000001")
    c = contact_of(api, pushToken="token-c")
    assert contact_of(api, phone="+380501000001", pushToken="token-c") == b
    assert contact_of(api, email="a@example.com", phone="+380501000001") == a
    merged = rows(store, "SELECT id, merged_into FROM contacts WHERE id IN (?, ?)", b, c)
    assert sorted((int(i), int(m)) for i, m in merged) == [(b, a), (c, a)]
    assert len(timeline(api, a)) == 5
    assert len(api.get("/api/v1/identity/merges", params={"contactId": a}).json()) == 2


def test_a_contacts_api_call_naming_two_contacts_merges_them(
    api: httpx.Client, store: Store, workspace: Workspace
) -> None:
    by_email = contact_of(api, email="fay@example.com")
    by_phone = contact_of(api, phone="+380502223344")
    body = {
        "firstName": "Fay",
        "channels": [
            {"type": "email", "value": "fay@example.com"},
            {"type": "sms", "value": "+380502223344"},
        ],
    }
    response = api.post("/api/v1/contact", json=body)
    assert response.status_code == 200, response.text
    assert response.json() == {"id": by_email}
    assert live_contacts(store, workspace.id) == [by_email]
    [merge] = api.get("/api/v1/identity/merges").json()
    assert (merge["survivorId"], merge["mergedId"], merge["via"]) == (by_email, by_phone, "api")
    document = api.get(f"/api/v1/contact/{by_email}").json()
    assert document["firstName"] == "Fay"
    assert len(timeline(api, by_email)) == 2


def test_a_contacts_api_call_does_not_merge_two_customers(
    api: httpx.Client, store: Store, workspace: Workspace
) -> None:
    other = contact_of(api, externalCustomerId="crm-2", email="gil@example.com")
    body = {
        "externalCustomerId": "crm-1",
        "channels": [{"type": "email", "value": "gil@example.com"}],
    }
    response = api.post("/api/v1/contact", json=body)
    assert response.status_code == 200, response.text
    created = response.json()["id"]
    assert created != other
    assert "different externalCustomerId" in response.json()["warnings"][0]
    assert api.get(f"/api/v1/contact/{created}").json()["channels"] == []
    assert contact_of(api, email="gil@example.com") == other
    [warning] = api.get("/api/v1/identity/warnings").json()
    assert warning["via"] == "api"


def test_concurrent_requests_asking_for_one_merge_make_it_once(
    server: LiveServer, store: Store, workspace: Workspace
) -> None:
    with server.client(workspace.full_key) as api:
        first = contact_of(api, email="hal@example.com")
        second = contact_of(api, phone="+380503334455")

    def link(index: int) -> int:
        with server.client(workspace.full_key) as client:
            if index % 3 == 0:
                body = {
                    "channels": [
                        {"type": "sms", "value": "+380503334455"},
                        {"type": "email", "value": "hal@example.com"},
                    ]
                }
                response = client.post("/api/v1/contact", json=body)
                assert response.status_code == 200, response.text
                return int(response.json()["id"])
            if index % 2:
                return contact_of(client, phone="+380503334455", email="hal@example.com")
            return contact_of(client, email="hal@example.com", phone="+380503334455")

    with ThreadPoolExecutor(max_workers=12) as pool:
        results = list(pool.map(link, range(24)))
    assert set(results) == {first}
    assert live_contacts(store, workspace.id) == [first]
    merges = rows(
        store,
        "SELECT survivor_id, merged_id FROM contact_merges WHERE workspace_id = ?",
        workspace.id,
    )
    assert [(int(s), int(m)) for s, m in merges] == [(first, second)]
    with server.client(workspace.full_key) as api:
        events = timeline(api, first)
    assert len(events) == 2 + 16  # the two first events and every linking event
    stray = row(
        store,
        "SELECT count(*) FROM events WHERE workspace_id = ? AND contact_id NOT IN (?, ?)",
        workspace.id,
        first,
        second,
    )
    assert stray[0] == 0


def test_concurrent_merges_of_many_pairs_leave_one_contact(
    server: LiveServer, store: Store, workspace: Workspace
) -> None:
    """Ten contacts, each linked to the next by parallel events: one person in the end."""
    emails = [f"p{i}@example.com" for i in range(10)]
    with server.client(workspace.full_key) as api:
        for email in emails:
            contact_of(api, email=email)

    def link(index: int) -> None:
        with server.client(workspace.full_key) as client:
            send(client, email=emails[index % 10], EmailAddress=emails[(index + 1) % 10])
            send(
                client,
                email=emails[(index + 1) % 10],
                phone=f"+38050{index % 10:07d}",
            )

    # Two address params: the second email alias is not a locator, so link through phones too.
    with ThreadPoolExecutor(max_workers=10) as pool:
        list(pool.map(link, range(20)))

    def join(index: int) -> None:
        with server.client(workspace.full_key) as client:
            send(client, phone=f"+38050{index:07d}", email=emails[index])

    with ThreadPoolExecutor(max_workers=10) as pool:
        list(pool.map(join, range(10)))
    survivors = live_contacts(store, workspace.id)
    merged = rows(
        store,
        "SELECT count(*) FROM contacts WHERE workspace_id = ? AND merged_into IS NOT NULL "
        "AND merged_into NOT IN (SELECT id FROM contacts WHERE merged_into IS NULL)",
        workspace.id,
    )
    assert merged[0][0] == 0  # no chain points at a merged contact
    total = row(store, "SELECT count(*) FROM events WHERE workspace_id = ?", workspace.id)[0]
    with server.client(workspace.full_key) as api:
        on_timelines = sum(len(timeline(api, s)) for s in survivors)
    assert on_timelines == total


@pytest.mark.parametrize("name", ["webId", "anonymousId", "visitor_id", "DeviceId", "anonymous_id"])
def test_anonymous_events_belong_to_an_anonymous_contact(api: httpx.Client, name: str) -> None:
    contact = contact_of(api, **{name: "cookie-1"})
    assert contact_of(api, **{name: "cookie-1"}) == contact
    document = api.get(f"/api/v1/contact/{contact}").json()
    assert document["anonymous"] is True and document["channels"] == []
    assert api.get("/api/v1/contacts").json() == []  # visitors are not listed as contacts


def test_identifying_a_visitor_moves_the_anonymous_history_to_the_known_contact(
    api: httpx.Client, store: Store, workspace: Workspace
) -> None:
    known = contact_of(api, externalCustomerId="crm-1", email="ivy@example.com")
    visitor = contact_of(api, webId="cookie-7")
    contact_of(api, webId="cookie-7")
    assert visitor != known
    assert contact_of(api, webId="cookie-7", email="ivy@example.com") == known
    assert row(store, "SELECT merged_into FROM contacts WHERE id = ?", visitor)[0] == known
    assert len(timeline(api, known)) == 4
    # Later visits with that cookie alone are the known contact's.
    assert contact_of(api, webId="cookie-7") == known
    [merge] = api.get("/api/v1/identity/merges").json()
    assert (merge["survivorId"], merge["mergedId"]) == (known, visitor)


def test_a_visitor_with_a_new_email_becomes_that_known_contact(api: httpx.Client) -> None:
    visitor = contact_of(api, deviceId="device-1")
    assert contact_of(api, deviceId="device-1", email="jo@example.com") == visitor
    document = api.get(f"/api/v1/contact/{visitor}").json()
    assert document["anonymous"] is False
    assert document["channels"] == [{"type": "email", "value": "jo@example.com"}]
    assert [c["id"] for c in api.get("/api/v1/contacts").json()] == [visitor]


def test_a_shared_device_never_merges_two_known_contacts(
    api: httpx.Client, store: Store, workspace: Workspace
) -> None:
    first = contact_of(api, webId="family-pc", email="kim@example.com")
    second = contact_of(api, email="lee@example.com")
    assert contact_of(api, webId="family-pc", email="lee@example.com") == second
    assert live_contacts(store, workspace.id) == sorted([first, second])
    assert api.get("/api/v1/identity/merges").json() == []


@pytest.mark.parametrize("junk", ["undefined", "null", "0", " "])
def test_a_junk_visitor_id_identifies_nobody(api: httpx.Client, junk: str) -> None:
    body = {"eventTypeKey": "visit", "params": [{"name": "webId", "value": junk}]}
    response = api.post("/api/v2/event", json=body)
    assert response.status_code == 400
    assert "keyValue" in response.text


def test_concurrent_creations_of_one_contact_through_the_api_converge(
    server: LiveServer, store: Store, workspace: Workspace
) -> None:
    body = {
        "externalCustomerId": "crm-77",
        "firstName": "Max",
        "channels": [{"type": "email", "value": "max@example.com"}],
    }

    def create(_: int) -> int:
        with server.client(workspace.full_key) as client:
            response = client.post("/api/v1/contact", json=body)
            assert response.status_code == 200, response.text
            return int(response.json()["id"])

    with ThreadPoolExecutor(max_workers=12) as pool:
        ids = set(pool.map(create, range(24)))
    assert len(ids) == 1
    assert live_contacts(store, workspace.id) == sorted(ids)
