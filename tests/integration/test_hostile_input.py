"""Hostile or odd input gets a clear 4xx (or a per-item failure), never a 500, on both backends."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest

from conftest import NO_TLS_HERE, LiveServer, Workspace
from footfall.ingest import service
from footfall.store import Store


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
            verify=NO_TLS_HERE,
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


# Nested past Python's recursion limit wherever it sits: msgspec stops there, and so does skipping
# an unknown field or a raw item.
DEEP = "[" * 1000 + "]" * 1000


def _deep_event() -> str:
    return f'{{"eventTypeKey":"deep","keyValue":"k","params":[{{"name":"p","value":{DEEP}}}]}}'


DEEP_BODIES = [
    ("POST", "/api/v2/event", _deep_event()),
    ("POST", "/api/v1/event", _deep_event()),
    ("POST", "/api/v2/past_events", f'{{"events":[{_deep_event()}]}}'),
    ("POST", "/api/v1/orders", f'{{"orders":[{{"externalOrderId":"o","items":{DEEP}}}]}}'),
    ("POST", "/api/v1/contact", f'{{"fields":[{{"id":"f","value":{DEEP}}}]}}'),
    ("PUT", "/api/v1/contact/1", f'{{"fields":[{{"id":"f","value":{DEEP}}}]}}'),
    ("POST", "/api/v1/contacts", f'{{"contacts":[{{"fields":[{{"id":"f","value":{DEEP}}}]}}]}}'),
    ("POST", "/api/v1/failed-events/replay", f'{{"eventTypeKey":"deep","extra":{DEEP}}}'),
    ("PUT", "/api/v1/event-types/deep", f'{{"jsonSchema":{{"items":{DEEP}}}}}'),
]
LOGGED = {"/api/v2/event": "v2/event", "/api/v1/event": "v1/event"}
LOGGED["/api/v2/past_events"] = "v2/past_events"
# The decoders say so themselves; the type settings' decoder is met by the app's RecursionError
# handler instead.
DECODER_SAYS = "malformed JSON in body: it is nested too deeply"
HANDLER_SAYS = {"/api/v1/event-types/deep": "the body is nested too deeply"}


def _local_port(response: httpx.Response) -> int:
    """The client's end of the connection that carried the response."""
    return int(response.extensions["network_stream"].get_extra_info("client_addr")[1])


@pytest.mark.parametrize(
    ("method", "path", "body"), DEEP_BODIES, ids=[p for _, p, _ in DEEP_BODIES]
)
def test_a_body_nested_1000_deep_is_400_on_a_connection_still_in_use(
    api: httpx.Client, method: str, path: str, body: str
) -> None:
    response = api.request(method, path, content=body.encode())
    assert response.status_code == 400, response.text
    assert response.text == HANDLER_SAYS.get(path, DECODER_SAYS)
    after = api.get("/api/v1/failed-events")
    assert after.status_code == 200
    assert _local_port(after) == _local_port(response)  # the server kept the connection open
    if path in LOGGED:
        (logged,) = after.json()
        assert (logged["route"], logged["reason"]) == (LOGGED[path], "malformed_json")
        assert logged["error"] == DECODER_SAYS
    else:
        assert after.json() == []
    assert api.get("/api/v1/events").json() == []
    assert api.get("/api/v1/contacts").json() == []


def test_recursion_past_the_decoders_is_still_a_logged_400(
    api: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The write routes skip Starlette, so they map a RecursionError as its handler does."""

    def too_deep(*args: object, **kwargs: object) -> None:
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(service, "parse_event", too_deep)
    response = api.post("/api/v2/event", json={"eventTypeKey": "deep", "keyValue": "k"})
    assert (response.status_code, response.text) == (400, "the body is nested too deeply")
    (logged,) = api.get("/api/v1/failed-events").json()
    assert (logged["route"], logged["reason"]) == ("v2/event", "malformed_json")


NUL_QUERIES = [
    ("/api/v1/events", "eventTypeKey"),
    ("/api/v1/events", "keyValue"),
    ("/api/v1/contacts", "externalCustomerId"),
    ("/api/v1/contacts", "firstname"),
    ("/api/v1/contacts", "lastname"),
    ("/api/v1/failed-events", "eventTypeKey"),
]


@pytest.mark.parametrize(("path", "name"), NUL_QUERIES, ids=[f"{p}?{n}" for p, n in NUL_QUERIES])
def test_a_nul_in_a_text_query_parameter_is_400(api: httpx.Client, path: str, name: str) -> None:
    response = api.get(f"{path}?{name}=a%00b")
    assert response.status_code == 400, response.text
    assert name in response.text


def test_a_lone_surrogate_cursor_is_400(api: httpx.Client) -> None:
    response = api.get("/api/v1/events?cursor=%ED%B2%80")
    assert response.status_code == 400, response.text
    assert "cursor" in response.text


def test_a_nul_in_a_contact_field_is_400_and_nothing_is_stored(api: httpx.Client) -> None:
    email = {"type": "email", "value": "nul@example.com"}
    for fields in (
        [{"id": "a\u0000b", "value": 1}],
        [{"id": "a", "value": "x\u0000"}],
        [{"id": "a", "value": {"deeper": ["ok", {"k\u0000": 1}]}}],
    ):
        response = api.post("/api/v1/contact", json={"channels": [email], "fields": fields})
        assert response.status_code == 400, response.text
        assert "NUL" in response.text
    assert api.get("/api/v1/contacts").json() == []
    created = api.post("/api/v1/contact", json={"channels": [email]})
    assert created.status_code == 200
    contact = created.json()["id"]
    refused = api.put(
        f"/api/v1/contact/{contact}", json={"fields": [{"id": "a", "value": "\u0000"}]}
    )
    assert refused.status_code == 400
    assert api.get(f"/api/v1/contact/{contact}").json()["fields"] == []


def test_a_nul_in_event_type_settings_is_400_and_nothing_is_stored(api: httpx.Client) -> None:
    for schema in (
        {"type": "object", "properties": {"a": {"description": "x\u0000"}}},
        {"type": "object", "properties": {"a\u0000": {"type": "string"}}},
    ):
        response = api.put("/api/v1/event-types/Nul", json={"jsonSchema": schema})
        assert response.status_code == 400, response.text
        assert "NUL" in response.text
    assert api.get("/api/v1/event-types/Nul").status_code == 404
    assert api.get("/api/v1/event-types").json() == []


TOO_LONG = "9" * 4400  # past the 4,300 digits Python's int() converts
INTEGERS = [
    ("/api/v1/events", "limit"),
    ("/api/v1/events", "contactId"),
    ("/api/v1/identity/merges", "contactId"),
    ("/api/v1/identity/merges", "before"),
    ("/api/v1/identity/merges", "limit"),
    ("/api/v1/identity/warnings", "before"),
    ("/api/v1/failed-events", "before"),
    ("/api/v1/failed-events", "limit"),
    ("/api/v1/contacts", "startindex"),
    ("/api/v1/contacts", "maxrows"),
]


@pytest.mark.parametrize(("path", "name"), INTEGERS, ids=[f"{p}?{n}" for p, n in INTEGERS])
@pytest.mark.parametrize("digits", [TOO_LONG, "1" + "0" * 19, "0" * 20 + "1"])
def test_an_integer_query_parameter_of_too_many_digits_is_400(
    api: httpx.Client, path: str, name: str, digits: str
) -> None:
    response = api.get(path, params={name: digits})
    assert response.status_code == 400, response.text
    assert response.text.startswith(f"{name} must be an integer from ")
    assert len(response.text) < 200


@pytest.mark.parametrize("digits", [TOO_LONG, str(2**63), "0"])
@pytest.mark.parametrize(
    ("method", "suffix"),
    [("GET", ""), ("PUT", ""), ("DELETE", ""), ("GET", "/events"), ("GET", "/export")],
)
def test_a_contact_id_of_too_many_digits_is_400(
    api: httpx.Client, method: str, suffix: str, digits: str
) -> None:
    response = api.request(method, f"/api/v1/contact/{digits}{suffix}", json={})
    assert response.status_code == 400, response.text
    assert response.text.startswith("the contact id in the path must be an integer from 1 ")


def _nested(levels: int) -> Any:
    value: Any = "leaf"
    for n in range(levels):
        value = [value] if n % 2 else {"k": value}
    return value


def test_params_nested_past_the_limit_are_refused_and_logged(api: httpx.Client) -> None:
    ok = {"eventTypeKey": "nest", "keyValue": "k", "params": [{"name": "p", "value": _nested(64)}]}
    assert api.post("/api/v2/event", json=ok).status_code == 200
    deep = {**ok, "params": [{"name": "p", "value": _nested(65)}]}
    refused = api.post("/api/v2/event", json=deep)
    assert refused.status_code == 400
    assert refused.text == "param 'p' nests objects and arrays more than 64 levels deep"
    embedded = {**ok, "params": [{"name": "q", "value": json.dumps(_nested(100))}]}
    assert api.post("/api/v1/event", json=embedded).status_code == 400  # JSON inside a string
    past = api.post("/api/v2/past_events", json={"events": [{**deep, "occurred": "2024-01-01"}]})
    assert past.json()["results"][0]["status"] == "INVALID_EVENT"
    logged = api.get("/api/v1/failed-events", params={"reason": "too_deep"}).json()
    assert sorted(f["route"] for f in logged) == ["v1/event", "v2/event", "v2/past_events"]
    assert len(api.get("/api/v1/events").json()) == 1


def test_orders_contacts_and_type_settings_refuse_deep_values(api: httpx.Client) -> None:
    deep_order = order(externalOrderId="deep", extra=_nested(65))
    reply = api.post("/api/v1/orders", json={"orders": [deep_order, order(extra=_nested(63))]})
    failed = reply.json()["failedOrders"]
    assert [f["order"]["externalOrderId"] for f in failed] == ["deep"]
    assert "more than 64 levels deep" in failed[0]["error"]
    contact = {"firstName": "Deep", "fields": [{"id": "f", "value": _nested(65)}]}
    refused = api.post("/api/v1/contact", json=contact)
    assert refused.status_code == 400 and "fields[0].value nests" in refused.text
    schema = {"jsonSchema": {"properties": {"p": _nested(70)}}}
    refused = api.put("/api/v1/event-types/nest", json=schema)
    assert refused.status_code == 400 and "more than 64 levels deep" in refused.text


def test_reads_survive_whatever_is_stored(
    api: httpx.Client, store: Store, workspace: Workspace
) -> None:
    """An event stored before the depth limit (or written by anything else) nested far past any
    reader's recursion: history pages, the contact's timeline and contactId queries still
    answer, with the params as stored."""
    contact = api.post("/api/v1/contact", json={"externalCustomerId": "deep-reader"}).json()["id"]
    deep = "[" * 3000 + '"leaf"' + "]" * 3000  # too deep for json.dumps to write
    params = f'[{{"name":"p","value":{deep}}}]'
    store.transact(
        lambda tx: tx.execute(
            "INSERT INTO events (workspace_id, event_type_key, key_value, contact_id, params, raw,"
            " source, occurred_us, received_us, txid) VALUES (?, 'old', 'k', ?, ?, '{}', 'live',"
            " 1, 1, 0)",
            workspace.id,
            contact,
            params,
        )
    )
    for path, query in [
        ("/api/v1/events", {}),
        ("/api/v1/events", {"contactId": contact}),
        (f"/api/v1/contact/{contact}/events", {}),
    ]:
        reply = api.get(path, params=query)
        assert reply.status_code == 200, (path, reply.text[:200])
        assert '"leaf"' in reply.text and reply.text.count("[") > 1500


def _query_parameters(api: httpx.Client) -> list[tuple[str, str, str]]:
    """(method, path, name) of every documented query parameter of every route."""
    found = []
    for path, item in api.get("/openapi.json").json()["paths"].items():
        concrete = re.sub(r"\{[^}]+\}", "1", path)
        for method, operation in item.items():
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "query":
                    found.append((method.upper(), concrete, parameter["name"]))
    return found


def test_a_nul_in_any_query_parameter_of_any_route_is_400(api: httpx.Client) -> None:
    """Whatever the parameter means (text, number, time, flag), a NUL never reaches the
    database: a 400 that names it (PostgreSQL cannot compare text holding a NUL)."""
    parameters = _query_parameters(api)
    assert len(parameters) >= 20, parameters
    answers = {}
    for method, path, name in parameters:
        for value in ("%00", "a%00b"):
            response = api.request(method, f"{path}?{name}={value}")
            answers[f"{method} {path}?{name}={value}"] = (response.status_code, response.text)
    wrong = {
        request: answer
        for request, answer in answers.items()
        if answer[0] != 400 or "NUL" not in answer[1]
    }
    assert wrong == {}
    assert api.get("/api/v1/event-types/a%00b").status_code == 400
    assert api.get("/health").status_code == 200


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_numbers_json_does_not_have_inside_a_string_holding_json_are_refused(
    api: httpx.Client, number: str
) -> None:
    """Stored as null prices before: now a logged 400, on live and past events alike."""
    cart = f'[{{"productId": "p1", "price": {number}, "quantity": 1}}]'
    body = {"eventTypeKey": "cartSeen", "params": [{"name": "products", "value": cart}]}
    response = api.post("/api/v1/event", json=body)
    assert response.status_code == 400, response.text
    assert "products" in response.text and "not" in response.text
    past = {"events": [{**body, "occurred": "2024-01-01"}]}
    result = api.post("/api/v2/past_events", json=past).json()
    assert result["results"][0]["status"] == "INVALID_EVENT", result
    logged = api.get("/api/v1/failed-events", params={"eventTypeKey": "cartSeen"}).json()
    assert len([f for f in logged if number in f["raw"]]) >= 2, logged
    assert api.get("/api/v1/events", params={"eventTypeKey": "cartSeen"}).json() == []
