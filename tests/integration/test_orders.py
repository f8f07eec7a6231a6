"""Orders API (POST /api/v1/orders): per-order failures, upsert by externalOrderId, order<STATUS> events."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from footfall.store import Store

REQUIRED = ["externalOrderId", "totalCost", "status", "date", "currency"]


def order(**fields: Any) -> dict[str, Any]:
    """A valid order with a fresh id; a field given as None is left out."""
    base: dict[str, Any] = {
        "externalOrderId": f"o-{uuid.uuid4().hex[:10]}",
        "externalCustomerId": "customer-1",
        "totalCost": 125.5,
        "status": "INITIALIZED",
        "date": "2022-05-14T10:11:10.7022176+03:00",
        "currency": "UAH",
        "email": "buyer@example.com",
        "items": [{"externalItemId": "sku-1", "quantity": 2, "cost": 62.75, "name": "Mug"}],
    }
    base.update(fields)
    return {name: value for name, value in base.items() if value is not None}


def post_orders(api: httpx.Client, orders: list[Any]) -> list[dict[str, Any]]:
    response = api.post("/api/v1/orders", json={"orders": orders})
    assert response.status_code == 200, response.text
    reply = response.json()
    assert set(reply) == {"failedOrders"}
    failed: list[dict[str, Any]] = reply["failedOrders"]
    return failed


def events(api: httpx.Client, **query: Any) -> list[dict[str, Any]]:
    response = api.get("/api/v1/events", params={"limit": 1000, **query})
    assert response.status_code == 200, response.text
    listed: list[dict[str, Any]] = response.json()
    return listed


def order_count(store: Store, workspace_id: int) -> int:
    with store.read() as tx:
        return int(tx.one("SELECT COUNT(*) FROM orders WHERE workspace_id = ?", workspace_id)[0])


def test_a_valid_order_is_stored_and_answered_with_no_failures(
    api: httpx.Client, store: Store, workspace: Any
) -> None:
    sent = order()
    assert post_orders(api, [sent]) == []

    saved = store.events.get_order(workspace.id, sent["externalOrderId"])
    assert saved is not None
    assert saved["status"] == "INITIALIZED"
    assert saved["totalCost"] == 125.5
    assert saved["currency"] == "UAH"
    assert saved["date"] == "2022-05-14T10:11:10.7022176+03:00"
    assert saved["contactId"] is not None
    assert saved["data"] == sent


@pytest.mark.parametrize("missing", REQUIRED)
@pytest.mark.parametrize("absent", ["left out", "null", "empty"])
def test_a_missing_required_field_fails_only_that_order(
    api: httpx.Client, store: Store, workspace: Any, missing: str, absent: str
) -> None:
    good_before, good_after = order(), order()
    bad = order()
    if absent == "left out":
        del bad[missing]
    else:
        bad[missing] = None if absent == "null" else ""

    failed = post_orders(api, [good_before, bad, good_after])

    assert len(failed) == 1
    assert failed[0]["order"] == bad
    assert missing in failed[0]["error"]
    assert store.events.get_order(workspace.id, good_before["externalOrderId"]) is not None
    assert store.events.get_order(workspace.id, good_after["externalOrderId"]) is not None
    assert order_count(store, workspace.id) == 2
    assert len(events(api)) == 2


@pytest.mark.parametrize(
    "locators",
    [
        {},
        {"externalCustomerId": "", "email": None, "phone": None},
        {"externalCustomerId": "null", "email": "undefined"},
        {"email": "not-an-email"},
        {"phone": "12"},
    ],
)
def test_an_order_without_a_usable_contact_locator_fails(
    api: httpx.Client, store: Store, workspace: Any, locators: dict[str, Any]
) -> None:
    bad = order(externalCustomerId=None, email=None)
    bad.update(locators)
    good = order()
    failed = post_orders(api, [bad, good])
    assert [f["order"] for f in failed] == [bad]
    error = failed[0]["error"]
    assert "externalCustomerId" in error and "email" in error and "phone" in error
    for value in ("not-an-email", "12"):
        if value in locators.values():
            assert value in error  # says which value was unusable
    assert order_count(store, workspace.id) == 1


@pytest.mark.parametrize("status", ["SHIPPED", "delivered", "", 3])
def test_an_unknown_status_fails_the_order(
    api: httpx.Client, store: Store, workspace: Any, status: Any
) -> None:
    bad = order(status=status)
    failed = post_orders(api, [bad])
    assert [f["order"] for f in failed] == [bad]
    assert "status" in failed[0]["error"]
    assert store.events.get_order(workspace.id, bad["externalOrderId"]) is None
    assert events(api) == []


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("totalCost", "a lot"),
        ("totalCost", True),
        ("date", "14.05.2022"),
        ("date", "2022-13-45"),
        ("currency", 980),
        ("externalOrderId", {"id": 1}),
        ("items", [{"quantity": 1}]),
        ("items", [{"externalItemId": "sku"}]),
        ("items", "sku-1"),
    ],
)
def test_a_wrong_field_fails_the_order_naming_the_field(
    api: httpx.Client, field: str, value: Any
) -> None:
    bad = order(**{field: value})
    failed = post_orders(api, [bad, order()])
    assert [f["order"] for f in failed] == [bad]
    assert field in failed[0]["error"]


def test_an_order_id_with_a_character_forbidden_in_event_keys_fails_naming_the_field(
    api: httpx.Client, store: Store, workspace: Any
) -> None:
    # The id becomes the keyValue of the order<STATUS> event, so eSputnik's forbidden characters
    # apply; the client sent no keyValue, so the error must speak of externalOrderId.
    bad = order(externalOrderId="2023/001")
    failed = post_orders(api, [bad])
    assert [f["order"] for f in failed] == [bad]
    assert "'/'" in failed[0]["error"]
    assert "externalOrderId" in failed[0]["error"]
    assert order_count(store, workspace.id) == 0


def test_status_enum_and_date_forms_that_are_accepted(
    api: httpx.Client, store: Store, workspace: Any
) -> None:
    statuses = ["INITIALIZED", "IN_PROGRESS", "DELIVERED", "CANCELLED", "ABANDONED_SHOPPING_CART"]
    sent = [order(status=s) for s in statuses]
    sent.append(order(date="2022-05-14"))
    sent.append(order(date="2022-05-14T10:11:10"))
    sent.append(order(externalOrderId=123456, totalCost=10))
    assert post_orders(api, sent) == []
    for one in sent:
        saved = store.events.get_order(workspace.id, str(one["externalOrderId"]))
        assert saved is not None
        assert saved["status"] == one["status"]
    types = {t["eventTypeKey"]: t["count"] for t in api.get("/api/v1/event-types").json()}
    assert types == {
        "orderINITIALIZED": 4,
        "orderIN_PROGRESS": 1,
        "orderDELIVERED": 1,
        "orderCANCELLED": 1,
        "orderABANDONED_SHOPPING_CART": 1,
    }
    assert [e["keyValue"] for e in events(api, keyValue="123456")] == ["123456"]


def test_1000_orders_are_accepted_in_one_request(
    api: httpx.Client, store: Store, workspace: Any
) -> None:
    sent = [
        order(externalOrderId=f"bulk-{i}", email=f"buyer{i % 50}@example.com") for i in range(1000)
    ]
    assert post_orders(api, sent) == []
    assert order_count(store, workspace.id) == 1000
    types = api.get("/api/v1/event-types").json()
    assert [(t["eventTypeKey"], t["count"]) for t in types] == [("orderINITIALIZED", 1000)]


def test_1001_orders_are_refused_as_a_whole(
    api: httpx.Client, store: Store, workspace: Any
) -> None:
    sent = [order(externalOrderId=f"bulk-{i}") for i in range(1001)]
    response = api.post("/api/v1/orders", json={"orders": sent})
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/plain")
    assert "1000" in response.text
    assert order_count(store, workspace.id) == 0
    assert events(api) == []


@pytest.mark.parametrize(
    "body", [b'{"orders": [', b"", b'{"orders": {}}', b'{"order": []}', b'[{"status": "X"}]']
)
def test_a_body_that_is_not_an_orders_batch_is_400(
    api: httpx.Client, store: Store, workspace: Any, body: bytes
) -> None:
    response = api.post(
        "/api/v1/orders", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.text
    assert order_count(store, workspace.id) == 0


def test_orders_need_a_full_scope_key(server: Any, workspace: Any, store: Store) -> None:
    with server.client(workspace.events_key) as client:
        response = client.post("/api/v1/orders", json={"orders": [order()]})
    assert response.status_code == 403
    assert order_count(store, workspace.id) == 0


def test_a_second_post_of_the_same_order_updates_it(
    api: httpx.Client, store: Store, workspace: Any
) -> None:
    first = order(status="INITIALIZED", totalCost=100)
    assert post_orders(api, [first]) == []
    created = store.events.get_order(workspace.id, first["externalOrderId"])
    assert created is not None

    second = dict(first, status="DELIVERED", totalCost=90.25, statusDescription="handed over")
    assert post_orders(api, [second]) == []

    updated = store.events.get_order(workspace.id, first["externalOrderId"])
    assert updated is not None
    assert updated["status"] == "DELIVERED"
    assert updated["totalCost"] == 90.25
    assert updated["data"]["statusDescription"] == "handed over"
    assert updated["contactId"] == created["contactId"]
    assert order_count(store, workspace.id) == 1

    emitted = events(api, keyValue=first["externalOrderId"])
    assert [e["eventTypeKey"] for e in emitted] == ["orderDELIVERED", "orderINITIALIZED"]


def test_the_same_order_twice_in_one_request_ends_with_the_last(
    api: httpx.Client, store: Store, workspace: Any
) -> None:
    first = order(status="INITIALIZED")
    last = dict(first, status="CANCELLED")
    assert post_orders(api, [first, last]) == []
    saved = store.events.get_order(workspace.id, first["externalOrderId"])
    assert saved is not None and saved["status"] == "CANCELLED"
    assert order_count(store, workspace.id) == 1
    assert sorted(e["eventTypeKey"] for e in events(api)) == ["orderCANCELLED", "orderINITIALIZED"]


def test_each_order_emits_an_event_keyed_by_its_id(api: httpx.Client) -> None:
    sent = order(status="DELIVERED")
    assert post_orders(api, [sent]) == []
    [emitted] = events(api)
    assert emitted["eventTypeKey"] == "orderDELIVERED"
    assert emitted["keyValue"] == sent["externalOrderId"]
    assert emitted["source"] == "order"
    params = {p["name"]: p["value"] for p in emitted["params"]}
    assert params["externalOrderId"] == sent["externalOrderId"]
    assert params["orderId"] == sent["externalOrderId"]
    assert params["email"] == sent["email"]
    assert params["totalCost"] == sent["totalCost"]
    assert params["items"] == sent["items"]


def test_the_order_event_occurred_at_the_orders_date(api: httpx.Client) -> None:
    """eSputnik's order<STATUS> event is the order happening: it is dated by the order's date."""
    offset = order(date="2022-05-14T10:11:10.7022176+03:00")
    day = order(date="2023-01-02")
    minute = order(date="2021-12-31T23:59")
    future = order(date="2999-01-01T00:00:00Z")  # not yet: when received
    ancient = order(date="1960-01-01")  # before any event: when received
    assert post_orders(api, [offset, day, minute, future, ancient]) == []
    emitted = {e["keyValue"]: e for e in events(api)}
    assert emitted[offset["externalOrderId"]]["occurred"] == "2022-05-14T07:11:10.702Z"
    assert emitted[day["externalOrderId"]]["occurred"] == "2023-01-02T00:00:00.000Z"
    assert emitted[minute["externalOrderId"]]["occurred"] == "2021-12-31T23:59:00.000Z"
    for late_or_early in (future, ancient):
        event = emitted[late_or_early["externalOrderId"]]
        assert event["occurred"] == event["received"]
    newest_first = [
        e["keyValue"] for e in events(api, **{"from": "2021-01-01", "to": "2022-12-31"})
    ]
    assert newest_first == [offset["externalOrderId"], minute["externalOrderId"]]


def test_the_order_event_belongs_to_the_contact_of_earlier_events(
    api: httpx.Client, store: Store, workspace: Any
) -> None:
    viewed = {
        "eventTypeKey": "pageViewed",
        "params": [
            {"name": "email", "value": "shopper@example.com"},
            {"name": "page", "value": '{"location": "https://shop.example.com"}'},
        ],
    }
    assert api.post("/api/v2/event", json=viewed).status_code == 200
    [page_event] = events(api, eventTypeKey="pageViewed")
    contact = page_event["contactId"]
    assert contact is not None

    by_email = order(externalCustomerId=None, email="Shopper@Example.com")
    assert post_orders(api, [by_email]) == []
    [emitted] = events(api, eventTypeKey="orderINITIALIZED")
    assert emitted["keyValue"] == by_email["externalOrderId"]
    assert emitted["contactId"] == contact
    saved = store.events.get_order(workspace.id, by_email["externalOrderId"])
    assert saved is not None and saved["contactId"] == contact


def test_an_order_by_external_customer_id_finds_that_contact(
    api: httpx.Client, store: Store, workspace: Any
) -> None:
    tagged = {
        "eventTypeKey": "login",
        "params": [
            {"name": "externalCustomerId", "value": "crm-42"},
            {"name": "email", "value": "crm42@example.com"},
        ],
    }
    assert api.post("/api/v2/event", json=tagged).status_code == 200
    [login] = events(api)

    delivered = order(externalCustomerId="crm-42", email=None, status="DELIVERED")
    by_phone_and_id = order(externalCustomerId="crm-42", email=None, phone="+380501234567")
    assert post_orders(api, [delivered, by_phone_and_id]) == []
    emitted = events(api, eventTypeKey="orderDELIVERED")
    assert [e["contactId"] for e in emitted] == [login["contactId"]]
    for sent in (delivered, by_phone_and_id):
        saved = store.events.get_order(workspace.id, sent["externalOrderId"])
        assert saved is not None and saved["contactId"] == login["contactId"]


def test_an_order_of_a_new_customer_creates_a_contact(api: httpx.Client) -> None:
    sent = order(externalCustomerId=None, email="first-time@example.com")
    assert post_orders(api, [sent]) == []
    [emitted] = events(api)
    assert emitted["contactId"] is not None
    later = {
        "eventTypeKey": "visit",
        "params": [{"name": "email", "value": "first-time@example.com"}],
    }
    assert api.post("/api/v2/event", json=later).status_code == 200
    [visit] = events(api, eventTypeKey="visit")
    assert visit["contactId"] == emitted["contactId"]


def test_orders_of_two_workspaces_do_not_touch(
    api: httpx.Client, server: Any, other_workspace: Any, store: Store, workspace: Any
) -> None:
    mine = order(externalOrderId="shared-id", status="INITIALIZED")
    theirs = order(externalOrderId="shared-id", status="DELIVERED")
    assert post_orders(api, [mine]) == []
    with server.client(other_workspace.full_key) as other:
        assert post_orders(other, [theirs]) == []
        assert [e["eventTypeKey"] for e in events(other)] == ["orderDELIVERED"]
    saved = store.events.get_order(workspace.id, "shared-id")
    assert saved is not None and saved["status"] == "INITIALIZED"
    their_order = store.events.get_order(other_workspace.id, "shared-id")
    assert their_order is not None and their_order["status"] == "DELIVERED"
    assert saved["contactId"] != their_order["contactId"]
    assert [e["eventTypeKey"] for e in events(api)] == ["orderINITIALIZED"]
