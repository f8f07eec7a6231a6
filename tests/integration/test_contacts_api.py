"""The contacts API over HTTP: upsert, update, read, search, bulk, delete and erase, timeline,
export, validation, authentication and workspace isolation."""

from __future__ import annotations

import re
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from conftest import LiveServer, Workspace
from footfall.store import Store
from footfall.store.sql import loads

ANN = {
    "externalCustomerId": "crm-ann",
    "firstName": " Ann ",
    "lastName": "Lee",
    "channels": [
        {"type": "email", "value": " Ann.Lee@Example.COM "},
        {"type": "sms", "value": "+380 (50) 123-45-67"},
    ],
    "address": {"region": "Kyiv", "town": "Kyiv", "address": "Khreshchatyk 1", "postcode": "01001"},
    "fields": [{"id": 7, "value": "gold"}, {"id": "pets", "value": 2}],
    "languageCode": "uk-UA",
    "timeZone": "Europe/Kyiv",
}


def email(value: str) -> dict[str, str]:
    return {"type": "email", "value": value}


def sms(value: str) -> dict[str, str]:
    return {"type": "sms", "value": value}


def checked(response: httpx.Response) -> httpx.Response:
    """On a 5xx wait a moment before failing: uvicorn logs the traceback after answering, and two
    tracebacks formatted at once can abort the pytest session on CPython 3.11 (see test_read_api)."""
    if response.status_code >= 500:
        time.sleep(0.5)
    return response


def create(api: httpx.Client, **document: Any) -> int:
    response = checked(api.post("/api/v1/contact", json=document))
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"id"}, body
    assert isinstance(body["id"], int)
    return int(body["id"])


def fetch(api: httpx.Client, contact: int) -> dict[str, Any]:
    response = checked(api.get(f"/api/v1/contact/{contact}"))
    assert response.status_code == 200, response.text
    document: dict[str, Any] = response.json()
    return document


def channels(document: dict[str, Any]) -> list[tuple[str, str]]:
    return sorted((c["type"], c["value"]) for c in document["channels"])


def fields(document: dict[str, Any]) -> list[tuple[int | str, Any]]:
    return sorted(((f["id"], f["value"]) for f in document["fields"]), key=lambda f: str(f[0]))


def search(api: httpx.Client, **query: Any) -> tuple[list[int], int]:
    """The ids GET /contacts lists, and its TotalCount header."""
    response = checked(api.get("/api/v1/contacts", params=query))
    assert response.status_code == 200, response.text
    return [c["id"] for c in response.json()], int(response.headers["totalcount"])


def bulk(api: httpx.Client, contacts: list[Any], **options: Any) -> list[dict[str, Any]]:
    response = checked(api.post("/api/v1/contacts", json={"contacts": contacts, **options}))
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"asyncSessionId", "failedContacts"}
    assert isinstance(body["asyncSessionId"], str) and body["asyncSessionId"]
    failed: list[dict[str, Any]] = body["failedContacts"]
    return failed


def state(store: Store, workspace_id: int) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Every contact row and identifier of the workspace: to check that nothing changed."""
    with store.read() as tx:
        contacts = tx.all(
            "SELECT id, external_customer_id, first_name, last_name, fields, address, "
            "language_code, time_zone, deleted_us, merged_into, updated_us FROM contacts "
            "WHERE workspace_id = ? ORDER BY id",
            workspace_id,
        )
        identifiers = tx.all(
            "SELECT kind, value, contact_id, channel FROM contact_identifiers "
            "WHERE workspace_id = ? ORDER BY kind, value",
            workspace_id,
        )
    return [tuple(r) for r in contacts], [tuple(r) for r in identifiers]


def identifiers_of(store: Store, contact: int) -> list[tuple[str, str]]:
    with store.read() as tx:
        rows = tx.all(
            "SELECT kind, value FROM contact_identifiers WHERE contact_id = ? ORDER BY kind, value",
            contact,
        )
    return [(kind, value) for kind, value in rows]


def contact_ids(store: Store, workspace_id: int) -> list[int]:
    with store.read() as tx:
        rows = tx.all("SELECT id FROM contacts WHERE workspace_id = ? ORDER BY id", workspace_id)
    return [int(r[0]) for r in rows]


def send_event(api: httpx.Client, address: str, key: str | None = None) -> None:
    body: dict[str, Any] = {
        "eventTypeKey": "visit",
        "params": [{"name": "email", "value": address}],
    }
    if key is not None:
        body["keyValue"] = key
    response = checked(api.post("/api/v2/event", json=body))
    assert response.status_code == 200, response.text


# -- create and read -------------------------------------------------------------------------


def test_create_then_get_returns_the_normalised_document(
    api: httpx.Client, store: Store, workspace: Workspace
) -> None:
    contact = create(api, **ANN)
    document = fetch(api, contact)
    assert document["id"] == contact
    assert document["externalCustomerId"] == "crm-ann"
    assert document["firstName"] == "Ann"
    assert document["lastName"] == "Lee"
    assert channels(document) == [("email", "ann.lee@example.com"), ("sms", "+380501234567")]
    assert all(set(c) == {"type", "value"} for c in document["channels"])
    assert document["address"] == ANN["address"]
    assert fields(document) == [(7, "gold"), ("pets", 2)]
    assert all(set(f) == {"id", "value"} for f in document["fields"])
    assert document["languageCode"] == "uk-UA"
    assert document["timeZone"] == "Europe/Kyiv"
    assert identifiers_of(store, contact) == [
        ("email", "ann.lee@example.com"),
        ("externalCustomerId", "crm-ann"),
        ("phone", "+380501234567"),
    ]
    assert contact_ids(store, workspace.id) == [contact]


def test_post_with_the_same_external_id_updates_that_contact(
    api: httpx.Client, store: Store, workspace: Workspace
) -> None:
    contact = create(api, externalCustomerId="crm-1", firstName="Ann")
    assert create(api, externalCustomerId="crm-1", firstName="Anna", lastName="Lee") == contact
    document = fetch(api, contact)
    assert (document["firstName"], document["lastName"]) == ("Anna", "Lee")
    assert contact_ids(store, workspace.id) == [contact]


def test_post_with_only_a_known_email_updates_its_owner(
    api: httpx.Client, store: Store, workspace: Workspace
) -> None:
    contact = create(api, externalCustomerId="crm-2", channels=[email("bo@example.com")])
    assert create(api, channels=[email("BO@Example.com")], firstName="Bo") == contact
    document = fetch(api, contact)
    assert document["firstName"] == "Bo"
    assert document["externalCustomerId"] == "crm-2"
    assert channels(document) == [("email", "bo@example.com")]
    assert contact_ids(store, workspace.id) == [contact]


def test_a_new_email_makes_a_new_contact(api: httpx.Client) -> None:
    first = create(api, channels=[email("one@example.com")])
    second = create(api, channels=[email("two@example.com")])
    third = create(api, channels=[sms("+380501112233")])
    assert len({first, second, third}) == 3


@pytest.mark.parametrize(
    "document",
    [
        {"firstName": "Nobody"},
        {"channels": []},
        {"externalCustomerId": None, "channels": None, "firstName": "x"},
        {},
    ],
)
def test_a_contact_needs_an_external_id_or_a_channel(
    api: httpx.Client, store: Store, workspace: Workspace, document: dict[str, Any]
) -> None:
    response = checked(api.post("/api/v1/contact", json=document))
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/plain")
    assert "externalCustomerId" in response.text
    assert "channel" in response.text
    assert contact_ids(store, workspace.id) == []
    assert search(api) == ([], 0)


def test_left_out_fields_are_kept_and_null_clears_them(api: httpx.Client) -> None:
    contact = create(api, **ANN)
    assert create(api, externalCustomerId="crm-ann", firstName=None, timeZone=None) == contact
    document = fetch(api, contact)
    assert document["firstName"] is None
    assert document["timeZone"] is None
    assert document["lastName"] == "Lee"
    assert document["languageCode"] == "uk-UA"
    assert document["address"] == ANN["address"]
    assert fields(document) == [(7, "gold"), ("pets", 2)]
    assert channels(document) == [("email", "ann.lee@example.com"), ("sms", "+380501234567")]

    assert create(api, externalCustomerId="crm-ann", address=None, fields=None) == contact
    document = fetch(api, contact)
    assert document["address"] is None
    assert document["fields"] == []
    assert document["lastName"] == "Lee"


def test_a_custom_field_sent_again_replaces_only_that_field(api: httpx.Client) -> None:
    contact = create(api, **ANN)
    assert create(api, externalCustomerId="crm-ann", fields=[{"id": "7", "value": "silver"}]) == (
        contact
    )
    assert fields(fetch(api, contact)) == [(7, "silver"), ("pets", 2)]


def test_channels_are_replaced_per_type(
    api: httpx.Client, store: Store, workspace: Workspace
) -> None:
    contact = create(
        api,
        externalCustomerId="crm-3",
        channels=[email("old@example.com"), sms("+380501234567")],
    )
    assert create(api, externalCustomerId="crm-3", channels=[sms("+380671112233")]) == contact
    assert channels(fetch(api, contact)) == [
        ("email", "old@example.com"),
        ("sms", "+380671112233"),
    ]
    assert create(api, externalCustomerId="crm-3", channels=[email("new@example.com")]) == contact
    assert channels(fetch(api, contact)) == [
        ("email", "new@example.com"),
        ("sms", "+380671112233"),
    ]
    assert identifiers_of(store, contact) == [
        ("email", "new@example.com"),
        ("externalCustomerId", "crm-3"),
        ("phone", "+380671112233"),
    ]
    # The dropped address and phone no longer lead to this contact.
    other = create(api, channels=[email("old@example.com"), sms("+380501234567")])
    assert other != contact
    assert contact_ids(store, workspace.id) == [contact, other]


def test_null_channels_clear_every_channel(api: httpx.Client, store: Store) -> None:
    contact = create(api, **ANN)
    assert create(api, externalCustomerId="crm-ann", channels=None) == contact
    assert fetch(api, contact)["channels"] == []
    assert identifiers_of(store, contact) == [("externalCustomerId", "crm-ann")]


def test_a_webpush_channel_leaves_mobilepush_tokens_alone(api: httpx.Client) -> None:
    contact = create(
        api,
        externalCustomerId="crm-push",
        channels=[{"type": "mobilepush", "value": "mp-1"}, {"type": "webpush", "value": "wp-1"}],
    )
    assert channels(fetch(api, contact)) == [("mobilepush", "mp-1"), ("webpush", "wp-1")]
    assert (
        create(api, externalCustomerId="crm-push", channels=[{"type": "webpush", "value": "wp-2"}])
        == contact
    )
    assert channels(fetch(api, contact)) == [("mobilepush", "mp-1"), ("webpush", "wp-2")]


def test_an_empty_external_id_is_refused_and_keeps_the_stored_one(
    api: httpx.Client, store: Store, workspace: Workspace
) -> None:
    contact = create(api, externalCustomerId="crm-4", channels=[email("four@example.com")])
    before = state(store, workspace.id)
    response = checked(
        api.post(
            "/api/v1/contact",
            json={"externalCustomerId": "", "channels": [email("four@example.com")]},
        )
    )
    assert fetch(api, contact)["externalCustomerId"] == "crm-4"
    assert response.status_code == 400
    assert "externalCustomerId" in response.text
    assert state(store, workspace.id) == before


def test_post_restores_a_soft_deleted_contact(
    api: httpx.Client, store: Store, workspace: Workspace
) -> None:
    contact = create(api, **ANN)
    assert api.delete(f"/api/v1/contact/{contact}").status_code == 200
    assert api.get(f"/api/v1/contact/{contact}").status_code == 404
    assert search(api) == ([], 0)
    assert create(api, externalCustomerId="crm-ann", firstName="Back") == contact
    document = fetch(api, contact)
    assert document["firstName"] == "Back"
    assert document["lastName"] == "Lee"
    assert search(api) == ([contact], 1)
    with store.read() as tx:
        [(deleted,)] = tx.all("SELECT deleted_us FROM contacts WHERE id = ?", contact)
    assert deleted is None
    assert contact_ids(store, workspace.id) == [contact]


# -- PUT ---------------------------------------------------------------------------------------


def test_put_updates_the_contact(api: httpx.Client, store: Store) -> None:
    contact = create(api, **ANN)
    response = checked(
        api.put(
            f"/api/v1/contact/{contact}",
            json={"firstName": "Hanna", "channels": [sms("+380671112233")], "timeZone": "UTC"},
        )
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text == f"Contact with id='{contact}' has been updated"
    document = fetch(api, contact)
    assert document["firstName"] == "Hanna"
    assert document["lastName"] == "Lee"
    assert document["timeZone"] == "UTC"
    assert channels(document) == [("email", "ann.lee@example.com"), ("sms", "+380671112233")]


def test_put_may_change_the_external_id(api: httpx.Client, store: Store) -> None:
    contact = create(api, externalCustomerId="crm-old", channels=[email("x@example.com")])
    response = checked(
        api.put(f"/api/v1/contact/{contact}", json={"externalCustomerId": "crm-new"})
    )
    assert response.status_code == 200, response.text
    assert fetch(api, contact)["externalCustomerId"] == "crm-new"
    assert search(api, externalCustomerId="crm-old") == ([], 0)
    assert search(api, externalCustomerId="crm-new") == ([contact], 1)
    assert identifiers_of(store, contact) == [
        ("email", "x@example.com"),
        ("externalCustomerId", "crm-new"),
    ]


def test_put_of_an_unknown_or_deleted_contact_is_404(
    api: httpx.Client, store: Store, workspace: Workspace
) -> None:
    response = checked(api.put("/api/v1/contact/987654321", json={"externalCustomerId": "crm-x"}))
    assert response.status_code == 404
    assert contact_ids(store, workspace.id) == []
    contact = create(api, externalCustomerId="crm-5")
    assert api.delete(f"/api/v1/contact/{contact}").status_code == 200
    before = state(store, workspace.id)
    response = checked(api.put(f"/api/v1/contact/{contact}", json={"firstName": "Ghost"}))
    assert response.status_code == 404
    assert state(store, workspace.id) == before


@pytest.mark.parametrize(
    "change",
    [
        {"externalCustomerId": "crm-b"},
        {"channels": [email("B@example.com")]},
        {"channels": [sms("380931234567")]},
        {"firstName": "Changed", "channels": [email("a@example.com"), email("b@example.com")]},
    ],
)
def test_put_with_another_contacts_identifier_is_409_and_changes_nothing(
    api: httpx.Client, store: Store, workspace: Workspace, change: dict[str, Any]
) -> None:
    mine = create(api, externalCustomerId="crm-a", firstName="A", channels=[email("a@example.com")])
    theirs = create(
        api,
        externalCustomerId="crm-b",
        channels=[email("b@example.com"), sms("+380931234567")],
    )
    before = state(store, workspace.id)
    response = checked(api.put(f"/api/v1/contact/{mine}", json=change))
    assert response.status_code == 409, response.text
    assert str(theirs) in response.text
    assert state(store, workspace.id) == before
    assert fetch(api, mine)["firstName"] == "A"


# -- the document wrapped as eSputnik's clients send it ----------------------------------------


def wrapped(document: dict[str, Any]) -> dict[str, Any]:
    """The body a published eSputnik client (the busfor gem) sends to POST and PUT."""
    return {"contact": document, "groups": None, "formType": None}


def test_put_of_a_wrapped_document_updates_the_contact(api: httpx.Client) -> None:
    contact = create(api, **ANN)
    change = {
        "firstName": "Hanna",
        "channels": [sms("+380671112233")],
        "fields": [{"id": 123, "value": "new"}],
    }
    response = checked(api.put(f"/api/v1/contact/{contact}", json=wrapped(change)))
    assert response.status_code == 200, response.text
    assert response.text == f"Contact with id='{contact}' has been updated"
    document = fetch(api, contact)
    assert document["firstName"] == "Hanna"
    assert document["lastName"] == "Lee"
    assert channels(document) == [("email", "ann.lee@example.com"), ("sms", "+380671112233")]
    assert fields(document) == [(123, "new"), (7, "gold"), ("pets", 2)]


def test_post_of_a_wrapped_document_creates_then_updates_the_contact(
    api: httpx.Client, store: Store, workspace: Workspace
) -> None:
    first = {"externalCustomerId": "crm-w", "firstName": "Ann", "channels": [email("W@x.org")]}
    contact = create(api, **wrapped(first))
    assert create(api, **wrapped({"externalCustomerId": "crm-w", "lastName": "Lee"})) == contact
    document = fetch(api, contact)
    assert (document["firstName"], document["lastName"]) == ("Ann", "Lee")
    assert channels(document) == [("email", "w@x.org")]
    assert contact_ids(store, workspace.id) == [contact]


NOTHING_UNDERSTOOD = [
    pytest.param({}, id="empty"),
    pytest.param({"groups": None, "formType": None}, id="envelope-only"),
    pytest.param(wrapped({}), id="empty-contact"),
    pytest.param({"first_name": "Hanna", "email": "h@example.com"}, id="unknown-names"),
    pytest.param(wrapped({"FirstName": "Hanna"}), id="unknown-names-wrapped"),
    pytest.param({"id": 5}, id="only-an-id"),
]


@pytest.mark.parametrize("body", NOTHING_UNDERSTOOD)
def test_a_body_naming_no_contact_field_is_400_and_changes_nothing(
    api: httpx.Client, store: Store, workspace: Workspace, body: dict[str, Any]
) -> None:
    contact = create(api, **ANN)
    before = state(store, workspace.id)
    for response in (
        api.put(f"/api/v1/contact/{contact}", json=body),
        api.post("/api/v1/contact", json=body),
    ):
        assert checked(response).status_code == 400, response.text
        assert "no contact field" in response.text
        assert "externalCustomerId, firstName, lastName, channels" in response.text
        assert '{"contact": {...}}' in response.text
    assert state(store, workspace.id) == before


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({**wrapped({"firstName": "Hanna"}), "lastName": "Lee"}, "either bare or wrapped"),
        (wrapped({"channels": [email("nope")]}), "contact.channels[0].value"),
        (wrapped({"timeZone": "Mars/Olympus"}), "contact.timeZone"),
        ({"contact": None}, "contact"),
    ],
)
def test_a_bad_wrapped_document_is_400_naming_the_field_and_changes_nothing(
    api: httpx.Client, store: Store, workspace: Workspace, body: dict[str, Any], expected: str
) -> None:
    contact = create(api, **ANN)
    before = state(store, workspace.id)
    for response in (
        api.put(f"/api/v1/contact/{contact}", json=body),
        api.post("/api/v1/contact", json=body),
    ):
        assert checked(response).status_code == 400, response.text
        assert expected in response.text
    assert state(store, workspace.id) == before


# -- what reads answer ---------------------------------------------------------------------------


def test_custom_field_ids_come_back_as_the_numbers_they_were_sent_as(
    api: httpx.Client, store: Store, workspace: Workspace
) -> None:
    """Ids are stored as text (JSON object keys), as they always were: an id that reads as an
    integer is answered as that number on every read, so rows stored earlier read the same."""
    sent: list[dict[str, Any]] = [
        {"id": 123, "value": "x"},
        {"id": "pets", "value": 2},
        {"id": "007", "value": "bond"},
        {"id": 9_007_199_254_740_993, "value": "big"},
    ]
    contact = create(api, externalCustomerId="crm-fields", fields=sent)
    with store.read() as tx:
        stored = tx.one("SELECT fields FROM contacts WHERE id = ?", contact)[0]
    assert set(loads(stored)) == {"123", "pets", "007", "9007199254740993"}
    expected = sorted(((f["id"], f["value"]) for f in sent), key=lambda f: str(f[0]))
    assert fields(fetch(api, contact)) == expected
    [found] = checked(
        api.get("/api/v1/contacts", params={"externalCustomerId": "crm-fields"})
    ).json()
    assert fields(found) == expected
    exported = checked(api.get(f"/api/v1/contact/{contact}/export")).json()
    assert fields(exported["contact"]) == expected


ISO_UTC = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")


def instant(text: str) -> datetime:
    assert ISO_UTC.fullmatch(text), text
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_contact_times_are_iso_8601_in_utc_like_event_times(
    api: httpx.Client, store: Store, workspace: Workspace
) -> None:
    contact = create(api, **ANN)
    time.sleep(0.01)
    assert (
        checked(api.put(f"/api/v1/contact/{contact}", json={"lastName": "Li"})).status_code == 200
    )
    send_event(api, "ann.lee@example.com")
    [event] = checked(api.get(f"/api/v1/contact/{contact}/events")).json()
    instant(event["occurred"])
    with store.read() as tx:
        created_us, updated_us = tx.one(
            "SELECT created_us, updated_us FROM contacts WHERE id = ?", contact
        )
    document = fetch(api, contact)
    [found] = checked(api.get("/api/v1/contacts", params={"externalCustomerId": "crm-ann"})).json()
    exported = checked(api.get(f"/api/v1/contact/{contact}/export")).json()["contact"]
    for read in (document, found, exported):
        for name, us in (("createdAt", created_us), ("updatedAt", updated_us)):
            moment = instant(read[name])
            assert abs(moment.timestamp() * 1_000_000 - us) < 1000, (name, read[name], us)
        assert instant(read["createdAt"]) < instant(read["updatedAt"])
    assert datetime.now(UTC) - instant(document["createdAt"]) < timedelta(minutes=1)


# -- GET by id ---------------------------------------------------------------------------------


def test_get_of_an_unknown_contact_is_404(api: httpx.Client) -> None:
    response = checked(api.get("/api/v1/contact/987654321"))
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/plain")


@pytest.mark.parametrize("bad", ["abc", "0", "-1", "1.5", "1e3", "99999999999999999999", "²"])
@pytest.mark.parametrize(
    ("method", "suffix"),
    [("GET", ""), ("PUT", ""), ("DELETE", ""), ("GET", "/events"), ("GET", "/export")],
)
def test_a_contact_id_that_is_not_a_positive_integer_is_400(
    api: httpx.Client, store: Store, workspace: Workspace, bad: str, method: str, suffix: str
) -> None:
    contact = create(api, externalCustomerId="crm-6")
    before = state(store, workspace.id)
    body = {"firstName": "x"} if method == "PUT" else None
    response = checked(api.request(method, f"/api/v1/contact/{bad}{suffix}", json=body))
    assert response.status_code == 400, response.text
    assert "contact id" in response.text
    assert state(store, workspace.id) == before
    assert fetch(api, contact)["externalCustomerId"] == "crm-6"


# -- search ------------------------------------------------------------------------------------


@pytest.fixture
def people(api: httpx.Client) -> dict[str, int]:
    return {
        "ann": create(
            api,
            externalCustomerId="c1",
            firstName="Ann",
            lastName="Lee",
            channels=[email("ann@example.com"), sms("+380501234567")],
        ),
        "bob": create(
            api,
            externalCustomerId="c2",
            firstName="Bob",
            lastName="LEE",
            channels=[email("bob@example.com")],
        ),
        "ann2": create(
            api,
            externalCustomerId="c3",
            firstName="ann",
            lastName="Smith",
            channels=[email("as@example.com")],
        ),
    }


def test_search_filters(api: httpx.Client, people: dict[str, int]) -> None:
    ann, bob, ann2 = people["ann"], people["bob"], people["ann2"]
    assert search(api) == ([ann, bob, ann2], 3)
    assert search(api, externalCustomerId="c2") == ([bob], 1)
    assert search(api, email="ANN@Example.COM") == ([ann], 1)
    assert search(api, email=" ann@example.com ") == ([ann], 1)
    assert search(api, sms="380501234567") == ([ann], 1)
    assert search(api, sms="+380 50 123 45 67") == ([ann], 1)
    assert search(api, firstname="ANN") == ([ann, ann2], 2)
    assert search(api, lastname="lee") == ([ann, bob], 2)
    assert search(api, firstname="ann", lastname="lee") == ([ann], 1)
    assert search(api, firstname="ann", email="bob@example.com") == ([], 0)
    assert search(api, email="nobody@example.com") == ([], 0)
    assert search(api, externalCustomerId="C2") == ([], 0)


def test_search_returns_documents(api: httpx.Client, people: dict[str, int]) -> None:
    response = checked(api.get("/api/v1/contacts", params={"externalCustomerId": "c1"}))
    [found] = response.json()
    assert found == fetch(api, people["ann"])


@pytest.mark.parametrize("name", ["Олена", "Émile"])
def test_search_by_a_non_ascii_name(
    api: httpx.Client, backend: str, request: pytest.FixtureRequest, name: str
) -> None:
    contact = create(api, externalCustomerId="crm-u", firstName=name, lastName=name)
    assert search(api, firstname=name) == ([contact], 1)
    assert search(api, firstname=name.lower()) == ([contact], 1)
    assert search(api, lastname=name.upper()) == ([contact], 1)


def test_search_pages_by_startindex_and_maxrows(api: httpx.Client) -> None:
    ids = [create(api, externalCustomerId=f"p{i}") for i in range(7)]
    assert search(api, maxrows=3) == (ids[:3], 7)
    assert search(api, startindex=1, maxrows=3) == (ids[:3], 7)
    assert search(api, startindex=4, maxrows=3) == (ids[3:6], 7)
    assert search(api, startindex=7, maxrows=3) == (ids[6:], 7)
    assert search(api, startindex=8, maxrows=3) == ([], 7)
    assert search(api, startindex=2, maxrows=500) == (ids[1:], 7)
    walked: list[int] = []
    for start in range(1, 8, 2):
        page, total = search(api, startindex=start, maxrows=2)
        assert total == 7
        walked += page
    assert walked == ids


@pytest.mark.parametrize(
    ("query", "name"),
    [
        ({"maxrows": "501"}, "maxrows"),
        ({"maxrows": "0"}, "maxrows"),
        ({"maxrows": "-1"}, "maxrows"),
        ({"maxrows": "ten"}, "maxrows"),
        ({"startindex": "0"}, "startindex"),
        ({"startindex": "-1"}, "startindex"),
        ({"startindex": "1.5"}, "startindex"),
        ({"startindex": "99999999999999999999"}, "startindex"),
        ({"email": "not-an-email"}, "email"),
        ({"sms": "12"}, "sms"),
    ],
)
def test_a_bad_search_query_is_400(api: httpx.Client, query: dict[str, str], name: str) -> None:
    create(api, externalCustomerId="crm-7", channels=[email("seven@example.com")])
    response = checked(api.get("/api/v1/contacts", params=query))
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("text/plain")
    assert name in response.text


def test_deleted_contacts_are_not_listed(api: httpx.Client) -> None:
    kept = create(api, externalCustomerId="keep", channels=[email("keep@example.com")])
    gone = create(api, externalCustomerId="gone", channels=[email("gone@example.com")])
    assert api.delete(f"/api/v1/contact/{gone}").status_code == 200
    assert search(api) == ([kept], 1)
    assert search(api, email="gone@example.com") == ([], 0)
    assert search(api, externalCustomerId="gone") == ([], 0)


# -- bulk --------------------------------------------------------------------------------------


def test_bulk_stores_the_valid_contacts_and_reports_the_others(
    api: httpx.Client, store: Store, workspace: Workspace
) -> None:
    response = checked(
        api.post(
            "/api/v1/contacts",
            json={
                "contacts": [
                    {"externalCustomerId": "b0", "channels": [email("B0@example.com")]},
                    {"externalCustomerId": "b1", "channels": [email("not-an-email")]},
                    {"externalCustomerId": "b2", "firstName": "Two"},
                    {"firstName": "no identifier"},
                    {"externalCustomerId": "b4", "timeZone": "Mars/Olympus"},
                    "not an object",
                ]
            },
        )
    )
    assert response.status_code == 200, response.text
    body = response.json()
    uuid.UUID(body["asyncSessionId"])
    failed = body["failedContacts"]
    assert [f["index"] for f in failed] == [1, 3, 4, 5]
    assert all(isinstance(f["errors"], str) and f["errors"] for f in failed)
    assert "contacts[1].channels[0].value" in failed[0]["errors"]
    assert "externalCustomerId" in failed[1]["errors"]
    assert "contacts[4].timeZone" in failed[2]["errors"]
    stored, total = search(api)
    assert total == 2
    assert [fetch(api, c)["externalCustomerId"] for c in stored] == ["b0", "b2"]
    assert channels(fetch(api, stored[0])) == [("email", "b0@example.com")]
    assert fetch(api, stored[1])["firstName"] == "Two"
    assert contact_ids(store, workspace.id) == stored


def test_bulk_items_naming_one_person_make_one_contact(api: httpx.Client) -> None:
    assert (
        bulk(
            api,
            [
                {"externalCustomerId": "same", "firstName": "First"},
                {"externalCustomerId": "same", "lastName": "Last"},
            ],
        )
        == []
    )
    [contact], _ = search(api)
    document = fetch(api, contact)
    assert (document["firstName"], document["lastName"]) == ("First", "Last")


def test_more_than_3000_contacts_is_400_and_stores_nothing(
    api: httpx.Client, store: Store, workspace: Workspace
) -> None:
    contacts = [{"externalCustomerId": f"x{i}"} for i in range(3001)]
    response = checked(api.post("/api/v1/contacts", json={"contacts": contacts}))
    assert response.status_code == 400
    assert "3000" in response.text
    assert contact_ids(store, workspace.id) == []


@pytest.mark.parametrize(
    "body",
    [
        {"contacts": [{"externalCustomerId": "d1"}], "dedupeOn": "phone"},
        {"contacts": [{"externalCustomerId": "d1"}], "dedupeOn": "EMAIL"},
        {"contacts": [{"externalCustomerId": "d1"}], "restoreDeleted": "yes"},
        {"contacts": {"externalCustomerId": "d1"}},
        {"items": [{"externalCustomerId": "d1"}]},
    ],
)
def test_a_bad_bulk_body_is_400_and_stores_nothing(
    api: httpx.Client, store: Store, workspace: Workspace, body: dict[str, Any]
) -> None:
    response = checked(api.post("/api/v1/contacts", json=body))
    assert response.status_code == 400, response.text
    assert contact_ids(store, workspace.id) == []


def test_an_unknown_dedupe_on_names_the_options(api: httpx.Client) -> None:
    response = checked(api.post("/api/v1/contacts", json={"contacts": [], "dedupeOn": "phone"}))
    assert response.status_code == 400
    assert "dedupeOn" in response.text
    assert "email_or_sms" in response.text


def test_malformed_bulk_json_is_400(api: httpx.Client, store: Store, workspace: Workspace) -> None:
    response = checked(
        api.post(
            "/api/v1/contacts",
            content=b'{"contacts": [{"externalCustomerId": "m1"},',
            headers={"content-type": "application/json"},
        )
    )
    assert response.status_code == 400
    assert "JSON" in response.text
    assert contact_ids(store, workspace.id) == []


def test_dedupe_on_email_updates_the_owner_of_the_email(
    api: httpx.Client, store: Store, workspace: Workspace
) -> None:
    owner = create(api, externalCustomerId="crm-e", channels=[email("owner@example.com")])
    failed = bulk(
        api,
        [
            {"channels": [email("OWNER@example.com")], "firstName": "Updated"},
            {"channels": [email("fresh@example.com")], "firstName": "Fresh"},
            {"externalCustomerId": "crm-no-email"},
        ],
        dedupeOn="email",
    )
    assert [f["index"] for f in failed] == [2]
    assert "dedupeOn" in failed[0]["errors"]
    assert fetch(api, owner)["firstName"] == "Updated"
    assert fetch(api, owner)["externalCustomerId"] == "crm-e"
    fresh = search(api, email="fresh@example.com")[0]
    assert len(fresh) == 1 and fresh[0] != owner
    assert contact_ids(store, workspace.id) == [owner, fresh[0]]


@pytest.mark.parametrize(
    ("dedupe", "item"),
    [
        ("sms", {"channels": [sms("380501234567")]}),
        ("email_or_sms", {"channels": [sms("+380501234567")]}),
        ("email_or_sms", {"channels": [email("Dee@example.com")]}),
        ("externalCustomerId", {"externalCustomerId": "crm-d"}),
    ],
)
def test_other_dedupe_rules_find_the_owner(
    api: httpx.Client, store: Store, workspace: Workspace, dedupe: str, item: dict[str, Any]
) -> None:
    owner = create(
        api,
        externalCustomerId="crm-d",
        channels=[email("dee@example.com"), sms("+380501234567")],
    )
    assert bulk(api, [{**item, "lastName": "Deduped"}], dedupeOn=dedupe) == []
    assert fetch(api, owner)["lastName"] == "Deduped"
    assert contact_ids(store, workspace.id) == [owner]


def test_dedupe_on_id_updates_by_id_and_reports_unknown_ids(
    api: httpx.Client, store: Store, workspace: Workspace
) -> None:
    contact = create(api, externalCustomerId="crm-i")
    failed = bulk(
        api,
        [
            {"id": contact, "firstName": "ById"},
            {"id": 987654321, "firstName": "Nobody"},
            {"firstName": "No id"},
        ],
        dedupeOn="id",
    )
    assert [f["index"] for f in failed] == [1, 2]
    assert "987654321" in failed[0]["errors"]
    assert fetch(api, contact)["firstName"] == "ById"
    assert contact_ids(store, workspace.id) == [contact]


def test_bulk_restores_a_deleted_contact_only_when_asked(
    api: httpx.Client, store: Store, workspace: Workspace
) -> None:
    contact = create(api, externalCustomerId="crm-r", firstName="Before")
    assert api.delete(f"/api/v1/contact/{contact}").status_code == 200
    before = state(store, workspace.id)
    failed = bulk(api, [{"externalCustomerId": "crm-r", "firstName": "After"}])
    assert [f["index"] for f in failed] == [0]
    assert "restoreDeleted" in failed[0]["errors"]
    assert state(store, workspace.id) == before
    assert api.get(f"/api/v1/contact/{contact}").status_code == 404

    failed = bulk(api, [{"externalCustomerId": "crm-r", "firstName": "After"}], restoreDeleted=True)
    assert failed == []
    assert fetch(api, contact)["firstName"] == "After"
    assert contact_ids(store, workspace.id) == [contact]


# -- delete and erase --------------------------------------------------------------------------


def test_delete_marks_the_contact_deleted_and_keeps_its_rows(
    api: httpx.Client, store: Store, workspace: Workspace
) -> None:
    contact = create(api, **ANN)
    identifiers = identifiers_of(store, contact)
    response = checked(api.delete(f"/api/v1/contact/{contact}"))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text == f"Contact with id='{contact}' has been deleted"
    assert api.get(f"/api/v1/contact/{contact}").status_code == 404
    assert api.get(f"/api/v1/contact/{contact}/events").status_code == 404
    assert api.put(f"/api/v1/contact/{contact}", json={"firstName": "x"}).status_code == 404
    with store.read() as tx:
        [(deleted, first_name)] = tx.all(
            "SELECT deleted_us, first_name FROM contacts WHERE id = ?", contact
        )
    assert deleted is not None
    assert first_name == "Ann"
    assert identifiers_of(store, contact) == identifiers
    assert contact_ids(store, workspace.id) == [contact]
    # Deleting again is harmless.
    assert api.delete(f"/api/v1/contact/{contact}").status_code == 200


def test_delete_of_an_unknown_contact_is_404(api: httpx.Client) -> None:
    assert checked(api.delete("/api/v1/contact/987654321")).status_code == 404
    response = checked(api.delete("/api/v1/contact", params={"externalCustomerId": "nobody"}))
    assert response.status_code == 404


def test_erase_by_external_id_removes_the_contact(
    api: httpx.Client, store: Store, workspace: Workspace
) -> None:
    kept = create(api, externalCustomerId="crm-keep", channels=[email("keep@example.com")])
    contact = create(api, **ANN)
    send_event(api, "ann.lee@example.com", key="erase-me")
    response = checked(
        api.delete("/api/v1/contact", params={"externalCustomerId": "crm-ann", "erase": "true"})
    )
    assert response.status_code == 200, response.text
    assert response.text == f"Contact with id='{contact}' has been deleted"
    with store.read() as tx:
        assert tx.all("SELECT id FROM contacts WHERE id = ?", contact) == []
        assert tx.all("SELECT kind FROM contact_identifiers WHERE contact_id = ?", contact) == []
        assert tx.all("SELECT id FROM events WHERE contact_id = ?", contact) == []
    assert api.get(f"/api/v1/contact/{contact}").status_code == 404
    assert contact_ids(store, workspace.id) == [kept]
    assert fetch(api, kept)["externalCustomerId"] == "crm-keep"
    again = api.delete("/api/v1/contact", params={"externalCustomerId": "crm-ann", "erase": "true"})
    assert again.status_code == 404


def test_erase_by_id_removes_the_contact(
    api: httpx.Client, store: Store, workspace: Workspace
) -> None:
    contact = create(api, externalCustomerId="crm-8", channels=[email("eight@example.com")])
    response = checked(api.delete(f"/api/v1/contact/{contact}", params={"erase": "TRUE"}))
    assert response.status_code == 200
    assert contact_ids(store, workspace.id) == []
    assert identifiers_of(store, contact) == []


def test_delete_by_external_id_without_erase_is_a_soft_delete(
    api: httpx.Client, store: Store, workspace: Workspace
) -> None:
    contact = create(api, externalCustomerId="crm-9")
    response = checked(api.delete("/api/v1/contact", params={"externalCustomerId": "crm-9"}))
    assert response.status_code == 200
    assert response.text == f"Contact with id='{contact}' has been deleted"
    assert api.get(f"/api/v1/contact/{contact}").status_code == 404
    assert contact_ids(store, workspace.id) == [contact]


@pytest.mark.parametrize("by_id", [True, False])
def test_a_bad_erase_value_is_400_and_changes_nothing(
    api: httpx.Client, store: Store, workspace: Workspace, by_id: bool
) -> None:
    contact = create(api, externalCustomerId="crm-10")
    before = state(store, workspace.id)
    if by_id:
        response = api.delete(f"/api/v1/contact/{contact}", params={"erase": "maybe"})
    else:
        response = api.delete(
            "/api/v1/contact", params={"externalCustomerId": "crm-10", "erase": "maybe"}
        )
    assert checked(response).status_code == 400
    assert "erase" in response.text
    assert state(store, workspace.id) == before
    assert fetch(api, contact)["id"] == contact


def test_delete_by_external_id_needs_one(api: httpx.Client) -> None:
    for params in ({}, {"externalCustomerId": "  "}):
        response = checked(api.delete("/api/v1/contact", params=params))
        assert response.status_code == 400
        assert "externalCustomerId" in response.text


# -- validation --------------------------------------------------------------------------------

THREE_SMS = [sms("+380501234561"), sms("+380501234562"), sms("+380501234563")]
INVALID = [
    pytest.param({"channels": [email("not-an-email")]}, "channels[0].value", id="email"),
    pytest.param({"channels": [sms("+38")]}, "channels[0].value", id="phone"),
    pytest.param({"channels": [{"type": "fax", "value": "1"}]}, "channels[0].type", id="type"),
    pytest.param(
        {"channels": THREE_SMS},
        "channels[2].type",
        id="three-sms",
    ),
    pytest.param({"timeZone": "Mars/Olympus"}, "timeZone", id="time-zone"),
    pytest.param({"languageCode": "english!"}, "languageCode", id="language"),
    pytest.param({"firstName": "x" * 301}, "firstName", id="first-name"),
    pytest.param({"lastName": "x" * 301}, "lastName", id="last-name"),
    pytest.param({"address": {"town": "x" * 301}}, "address.town", id="address"),
    pytest.param({"fields": [{"id": "", "value": 1}]}, "fields[0].id", id="field-id"),
]
WRONG_TYPE = pytest.param(
    {"externalCustomerId": ["crm-list"], "channels": [email("list@example.com")]},
    "externalCustomerId",
    id="external-id-list",
)


@pytest.mark.parametrize(("change", "field"), [*INVALID, WRONG_TYPE])
def test_an_invalid_contact_is_400_naming_the_field(
    api: httpx.Client, store: Store, workspace: Workspace, change: dict[str, Any], field: str
) -> None:
    response = checked(api.post("/api/v1/contact", json={"externalCustomerId": "crm-v", **change}))
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("text/plain")
    assert field in response.text
    assert contact_ids(store, workspace.id) == []


@pytest.mark.parametrize(("change", "field"), [*INVALID, WRONG_TYPE])
def test_an_invalid_update_is_400_and_changes_nothing(
    api: httpx.Client, store: Store, workspace: Workspace, change: dict[str, Any], field: str
) -> None:
    contact = create(api, **ANN)
    before = state(store, workspace.id)
    response = checked(api.put(f"/api/v1/contact/{contact}", json=change))
    assert response.status_code == 400, response.text
    assert field in response.text
    # The same change through POST (naming the contact by its externalCustomerId) is refused too.
    again = checked(api.post("/api/v1/contact", json={"externalCustomerId": "crm-ann", **change}))
    assert again.status_code == 400, again.text
    assert state(store, workspace.id) == before


@pytest.mark.parametrize(
    ("change", "field"),
    [
        *INVALID,
        pytest.param(
            *WRONG_TYPE.values,
            id="external-id-list",
        ),
    ],
)
def test_an_invalid_bulk_item_names_its_field_with_its_index(
    api: httpx.Client, store: Store, workspace: Workspace, change: dict[str, Any], field: str
) -> None:
    failed = bulk(
        api,
        [
            {"externalCustomerId": "ok-0"},
            {"externalCustomerId": "bad-1", **change},
            {"externalCustomerId": "ok-2"},
        ],
    )
    assert [f["index"] for f in failed] == [1]
    assert f"contacts[1].{field}" in failed[0]["errors"]
    stored, total = search(api)
    assert total == 2
    assert [fetch(api, c)["externalCustomerId"] for c in stored] == ["ok-0", "ok-2"]
    assert search(api, externalCustomerId="bad-1") == ([], 0)
    assert len(contact_ids(store, workspace.id)) == 2


@pytest.mark.parametrize(
    "body", [b'{"externalCustomerId": ', b"", b"{'externalCustomerId': 'x'}", b"\xff\xfe"]
)
def test_malformed_json_is_400(
    api: httpx.Client, store: Store, workspace: Workspace, body: bytes
) -> None:
    contact = create(api, externalCustomerId="crm-j")
    before = state(store, workspace.id)
    headers = {"content-type": "application/json"}
    for response in (
        api.post("/api/v1/contact", content=body, headers=headers),
        api.put(f"/api/v1/contact/{contact}", content=body, headers=headers),
    ):
        assert checked(response).status_code == 400, response.text
        assert "JSON" in response.text
    assert state(store, workspace.id) == before


# -- authentication and isolation --------------------------------------------------------------

ROUTES = [
    ("POST", "/api/v1/contact", {"externalCustomerId": "crm-auth"}),
    ("DELETE", "/api/v1/contact?externalCustomerId=crm-auth", None),
    ("GET", "/api/v1/contact/{id}", None),
    ("PUT", "/api/v1/contact/{id}", {"firstName": "Intruder"}),
    ("DELETE", "/api/v1/contact/{id}", None),
    ("DELETE", "/api/v1/contact/{id}?erase=true", None),
    ("GET", "/api/v1/contact/{id}/events", None),
    ("GET", "/api/v1/contact/{id}/export", None),
    ("GET", "/api/v1/contacts", None),
    ("POST", "/api/v1/contacts", {"contacts": [{"externalCustomerId": "crm-auth"}]}),
]


@pytest.mark.parametrize(("method", "path", "body"), ROUTES)
def test_contacts_routes_need_a_full_scope_key(
    api: httpx.Client,
    server: LiveServer,
    store: Store,
    workspace: Workspace,
    method: str,
    path: str,
    body: Any,
) -> None:
    contact = create(api, externalCustomerId="crm-auth", firstName="Owner")
    before = state(store, workspace.id)
    url = path.format(id=contact)
    with server.client() as anonymous:
        response = checked(anonymous.request(method, url, json=body))
        assert response.status_code == 401
        assert "basic" in response.headers["www-authenticate"].lower()
    with server.client("not-a-key") as wrong:
        assert checked(wrong.request(method, url, json=body)).status_code == 401
    with server.client(workspace.events_key) as events_only:
        assert checked(events_only.request(method, url, json=body)).status_code == 403
    assert state(store, workspace.id) == before


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("GET", "", None),
        ("PUT", "", {"firstName": "Intruder"}),
        ("DELETE", "", None),
        ("DELETE", "?erase=true", None),
        ("GET", "/export", None),
        ("GET", "/events", None),
    ],
)
def test_another_workspace_cannot_reach_the_contact(
    api: httpx.Client,
    server: LiveServer,
    store: Store,
    workspace: Workspace,
    other_workspace: Workspace,
    method: str,
    suffix: str,
    body: Any,
) -> None:
    contact = create(api, externalCustomerId="crm-iso", channels=[email("iso@example.com")])
    send_event(api, "iso@example.com")
    before = state(store, workspace.id)
    with server.client(other_workspace.full_key) as other:
        response = checked(other.request(method, f"/api/v1/contact/{contact}{suffix}", json=body))
        assert response.status_code == 404, response.text
    assert state(store, workspace.id) == before
    assert fetch(api, contact)["externalCustomerId"] == "crm-iso"


def test_another_workspace_neither_finds_nor_touches_the_contact(
    api: httpx.Client,
    server: LiveServer,
    store: Store,
    workspace: Workspace,
    other_workspace: Workspace,
) -> None:
    contact = create(
        api, externalCustomerId="crm-iso", firstName="Mine", channels=[email("iso@example.com")]
    )
    before = state(store, workspace.id)
    with server.client(other_workspace.full_key) as other:
        assert search(other) == ([], 0)
        assert search(other, email="iso@example.com") == ([], 0)
        assert search(other, externalCustomerId="crm-iso") == ([], 0)
        assert search(other, firstname="Mine") == ([], 0)
        gone = other.delete("/api/v1/contact", params={"externalCustomerId": "crm-iso"})
        assert checked(gone).status_code == 404
        failed = bulk(other, [{"id": contact, "firstName": "Intruder"}], dedupeOn="id")
        assert [f["index"] for f in failed] == [0]
        # The same identifiers make a separate contact there.
        theirs = create(
            other,
            externalCustomerId="crm-iso",
            firstName="Theirs",
            channels=[email("iso@example.com")],
        )
        assert theirs != contact
        assert search(other) == ([theirs], 1)
    assert state(store, workspace.id) == before
    assert search(api) == ([contact], 1)
    assert fetch(api, contact)["firstName"] == "Mine"


# -- timeline and export -----------------------------------------------------------------------


def test_the_timeline_is_newest_first_and_pages_by_cursor(api: httpx.Client) -> None:
    contact = create(api, externalCustomerId="crm-t", channels=[email("tim@example.com")])
    other = create(api, channels=[email("someone@example.com")])
    past = {
        "events": [
            {
                "eventTypeKey": "visit",
                "keyValue": f"past-{day}",
                "occurred": f"2023-03-0{day}T10:00",
                "params": [{"name": "email", "value": "tim@example.com"}],
            }
            for day in (1, 3, 2)
        ]
    }
    assert checked(api.post("/api/v2/past_events", json=past)).json()["errorCount"] == 0
    for i in range(3):
        send_event(api, "TIM@example.com", key=f"live-{i}")
    send_event(api, "tim@example.com")  # no keyValue
    send_event(api, "someone@example.com", key="not-tim")

    response = checked(api.get(f"/api/v1/contact/{contact}/events", params={"limit": 1000}))
    assert response.status_code == 200, response.text
    assert "x-next-cursor" not in response.headers
    everything = response.json()
    assert len(everything) == 7
    assert {e["contactId"] for e in everything} == {contact}
    assert "not-tim" not in {e["keyValue"] for e in everything}
    assert [e["keyValue"] for e in everything[-3:]] == ["past-3", "past-2", "past-1"]
    assert {e["keyValue"] for e in everything[:4]} >= {"live-0", "live-1", "live-2"}
    order = [(e["occurred"], e["id"]) for e in everything]
    assert order == sorted(order, reverse=True)
    assert all(
        p == [{"name": "email", "value": p[0]["value"]}] for p in (e["params"] for e in everything)
    )

    pages: list[list[dict[str, Any]]] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        page = checked(api.get(f"/api/v1/contact/{contact}/events", params=params))
        assert page.status_code == 200, page.text
        pages.append(page.json())
        cursor = page.headers.get("x-next-cursor")
        if cursor is None:
            break
        assert len(pages) < 10, "the cursor does not advance"
    assert [len(p) for p in pages] == [3, 3, 1]
    assert [e["id"] for p in pages for e in p] == [e["id"] for e in everything]

    others = checked(api.get(f"/api/v1/contact/{other}/events")).json()
    assert [e["keyValue"] for e in others] == ["not-tim"]


@pytest.mark.parametrize("query", [{"limit": "0"}, {"limit": "1001"}, {"cursor": "garbage"}])
def test_a_bad_timeline_query_is_400(api: httpx.Client, query: dict[str, str]) -> None:
    contact = create(api, channels=[email("tl@example.com")])
    response = checked(api.get(f"/api/v1/contact/{contact}/events", params=query))
    assert response.status_code == 400
    assert next(iter(query)) in response.text


def test_the_timeline_of_an_unknown_contact_is_404(api: httpx.Client) -> None:
    assert checked(api.get("/api/v1/contact/987654321/events")).status_code == 404


def test_export_holds_the_document_and_every_record(api: httpx.Client) -> None:
    contact = create(api, **ANN)
    send_event(api, "ann.lee@example.com", key="exported")
    response = checked(api.get(f"/api/v1/contact/{contact}/export"))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert "attachment" in response.headers["content-disposition"]
    exported = response.json()
    assert set(exported) == {"contact", "records"}
    assert exported["contact"] == fetch(api, contact)
    records = exported["records"]
    assert [row["id"] for row in records["contacts"]] == [contact]
    assert records["contacts"][0]["first_name"] == "Ann"
    assert sorted((r["kind"], r["value"]) for r in records["contact_identifiers"]) == [
        ("email", "ann.lee@example.com"),
        ("externalCustomerId", "crm-ann"),
        ("phone", "+380501234567"),
    ]
    assert {r["contact_id"] for r in records["contact_identifiers"]} == {contact}
    [event] = records["events"]
    assert event["key_value"] == "exported"
    assert event["contact_id"] == contact
    assert event["params"] == [{"name": "email", "value": "ann.lee@example.com"}]


def test_export_of_an_unknown_contact_is_404(api: httpx.Client) -> None:
    assert checked(api.get("/api/v1/contact/987654321/export")).status_code == 404


def test_three_channels_of_one_type_are_refused_everywhere(
    api: httpx.Client, store: Store, workspace: Workspace
) -> None:
    contact = create(api, externalCustomerId="crm-3sms", channels=[sms("+380501234560")])
    before = state(store, workspace.id)
    for response in (
        api.post("/api/v1/contact", json={"externalCustomerId": "crm-new", "channels": THREE_SMS}),
        api.post("/api/v1/contact", json={"externalCustomerId": "crm-3sms", "channels": THREE_SMS}),
        api.put(f"/api/v1/contact/{contact}", json={"channels": THREE_SMS}),
    ):
        assert checked(response).status_code == 400, response.text
        assert "at most 2 sms channels" in response.text
    failed = bulk(api, [{"externalCustomerId": "crm-3sms", "channels": THREE_SMS}])
    assert [f["index"] for f in failed] == [0]
    assert "at most 2 sms channels" in failed[0]["errors"]
    assert state(store, workspace.id) == before
    assert channels(fetch(api, contact)) == [("sms", "+380501234560")]


def merges(store: Store, workspace_id: int) -> int:
    with store.read() as tx:
        [(count,)] = tx.all(
            "SELECT count(*) FROM contact_merges WHERE workspace_id = ?", workspace_id
        )
    return int(count)


def test_a_refused_contact_leaves_no_half_made_merge(
    api: httpx.Client, store: Store, workspace: Workspace
) -> None:
    # The document's e-mail and phone belong to two contacts that may merge (one has no
    # externalCustomerId), but the survivor's externalCustomerId is not the one given: the
    # contact is refused, and the merge made on the way there must be undone with it.
    by_email = create(api, channels=[email("half@example.com")])
    by_phone = create(api, externalCustomerId="crm-b", channels=[sms("+380931234567")])
    before = state(store, workspace.id)
    document = {
        "externalCustomerId": "crm-other",
        "firstName": "Refused",
        "channels": [email("half@example.com"), sms("+380931234567")],
    }
    response = checked(api.post("/api/v1/contact", json=document))
    assert response.status_code == 409, response.text
    assert state(store, workspace.id) == before
    assert merges(store, workspace.id) == 0

    ok = {"externalCustomerId": "crm-ok", "channels": [email("ok@example.com")]}
    failed = bulk(api, [ok, document], dedupeOn="email")
    assert [f["index"] for f in failed] == [1]
    assert "crm-b" in failed[0]["errors"]
    assert merges(store, workspace.id) == 0
    assert fetch(api, by_email)["id"] == by_email
    assert fetch(api, by_phone)["firstName"] is None
    assert search(api, externalCustomerId="crm-ok")[1] == 1
    assert len(contact_ids(store, workspace.id)) == 3
