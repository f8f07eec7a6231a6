"""Hostile or odd input gets a clear 4xx (or a per-item failure), never a 500, on both backends."""

from __future__ import annotations

import httpx

from conftest import LiveServer


def order(**changes: object) -> dict[str, object]:
    base: dict[str, object] = {
        "externalOrderId": "o-1",
        "totalCost": 10,
        "status": "DELIVERED",
        "date": "2024-01-01T00:00",
        "currency": "USD",
        "email": "buyer@example.com",
    }
    return base | changes


def test_past_event_before_1970_is_refused_and_the_history_still_reads(api: httpx.Client) -> None:
    events = [
        {"eventTypeKey": "old", "keyValue": "k", "occurred": "0001-01-01T00:00+01:00"},
        {"eventTypeKey": "old", "keyValue": "k", "occurred": "1969-12-31"},
        {"eventTypeKey": "old", "keyValue": "k", "occurred": "1970-01-02"},
    ]
    reply = api.post("/api/v2/past_events", json={"events": events}).json()
    statuses = [r["status"] for r in reply["results"]]
    assert statuses[0] in {"OCCURRED_TIME_TOO_DEPTH", "INCORRECT_OCCURRED_DATE_FORMAT"}
    assert statuses[1:] == ["OCCURRED_TIME_TOO_DEPTH", "ACCEPTED"]
    listed = api.get("/api/v1/events")
    assert listed.status_code == 200
    assert [e["occurred"] for e in listed.json()] == ["1970-01-02T00:00:00.000Z"]


def test_malformed_orders_fail_alone(api: httpx.Client) -> None:
    huge = int("1" + "0" * 400)
    orders = [
        order(externalOrderId="bad-status", status=["DELIVERED"]),
        order(externalOrderId="bad-cost", totalCost=huge),
        order(externalOrderId="bad-currency", currency="X" * 17),
        order(
            externalOrderId="good",
            currency="DOLLARSXX",
            date="2024-01-01T00:00:00." + "1" * 80 + "Z",
        ),
    ]
    response = api.post("/api/v1/orders", json={"orders": orders})
    assert response.status_code == 200
    failed = {f["order"]["externalOrderId"]: f["error"] for f in response.json()["failedOrders"]}
    assert set(failed) == {"bad-status", "bad-cost", "bad-currency"}
    assert "status" in failed["bad-status"]
    assert "totalCost" in failed["bad-cost"]
    assert "currency" in failed["bad-currency"]
    assert [e["keyValue"] for e in api.get("/api/v1/events").json()] == ["good"]


def test_an_order_with_an_out_of_range_number_fails_alone(api: httpx.Client) -> None:
    body = (
        b'{"orders":[{"externalOrderId":"inf","totalCost":1e999,"status":"DELIVERED",'
        b'"date":"2024-01-01T00:00","currency":"USD","email":"a@b.co"},'
        b'{"externalOrderId":"ok","totalCost":1,"status":"DELIVERED",'
        b'"date":"2024-01-01T00:00","currency":"USD","email":"a@b.co"}]}'
    )
    response = api.post("/api/v1/orders", content=body)
    assert response.status_code == 200
    (failure,) = response.json()["failedOrders"]
    assert "inf" in failure["order"]
    assert [e["keyValue"] for e in api.get("/api/v1/events").json()] == ["ok"]


def test_non_ascii_basic_credentials_are_401(server: LiveServer) -> None:
    for path, method in (("/api/v2/event", "POST"), ("/api/v1/events", "GET")):
        response = httpx.request(
            method,
            server.url + path,
            headers=[(b"Authorization", "Basic é".encode())],
            content=b"{}",
        )
        assert response.status_code == 401, path


def test_long_locators_are_stored_or_explained(api: httpx.Client) -> None:
    long_id = "x" * 900
    body = {"eventTypeKey": "a", "params": [{"name": "externalCustomerId", "value": long_id}]}
    assert api.post("/api/v2/event", json=body).status_code == 200
    too_long = {"eventTypeKey": "a", "params": [{"name": "pushToken", "value": "t" * 1001}]}
    response = api.post("/api/v2/event", json=too_long)
    assert response.status_code == 400
    assert "longer than 1000" in response.text


def test_far_future_to_bound_reads(api: httpx.Client) -> None:
    assert api.post("/api/v2/event", json={"eventTypeKey": "a", "keyValue": "k"}).status_code == 200
    response = api.get("/api/v1/events", params={"to": "9999-12-31"})
    assert response.status_code == 200
    assert len(response.json()) == 1
