"""Authentication and key scopes: HTTP Basic with the API key as password (any username), bearer
tokens on the event routes only, and the 'events' scope. Every test runs on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from conftest import NO_TLS_HERE

EVENT_ROUTES = ["/api/v2/event", "/api/v1/event", "/api/v2/event/", "/api/v1/event/"]
PAST_ROUTES = ["/api/v2/past_events", "/api/v1/past_events"]
ORDER = {
    "externalOrderId": "order-1",
    "totalCost": 10.5,
    "status": "INITIALIZED",
    "date": "2024-05-01T10:00",
    "currency": "USD",
    "email": "buyer@example.com",
}


def basic(key: str, user: str = "") -> dict[str, str]:
    token = base64.b64encode(f"{user}:{key}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def event(type_key: str = "authProbe", key: str = "k") -> dict[str, Any]:
    return {"eventTypeKey": type_key, "keyValue": key, "params": []}


def stored(server: Any, workspace: Any, **filters: Any) -> list[dict[str, Any]]:
    """The workspace's events, read with its full key."""
    with server.client(workspace.full_key) as reader:
        response = reader.get("/api/v1/events", params=filters)
    assert response.status_code == 200, response.text
    events: list[dict[str, Any]] = response.json()
    return events


def token_for(server: Any, key: str) -> str:
    response = httpx.post(
        f"{server.url}/api/v1/auth/token", headers=basic(key), timeout=10, verify=NO_TLS_HERE
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    token = response.json()
    assert isinstance(token, str)
    assert token
    return token


@pytest.fixture
def anonymous(server: Any) -> Iterator[httpx.Client]:
    with server.client() as client:
        yield client


def assert_unauthorized(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"].lower().startswith("basic")
    assert response.text.strip()


# -- Basic -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("route", [*EVENT_ROUTES, *PAST_ROUTES, "/api/v1/orders"])
def test_no_credentials_is_401_with_www_authenticate(
    anonymous: httpx.Client, server: Any, workspace: Any, route: str
) -> None:
    assert_unauthorized(anonymous.post(route, json=event()))
    assert stored(server, workspace) == []


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/events"),
        ("GET", "/api/v1/event-types"),
        ("POST", "/api/v1/auth/token"),
    ],
)
def test_read_routes_need_credentials(anonymous: httpx.Client, method: str, path: str) -> None:
    assert_unauthorized(anonymous.request(method, path))


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param(basic("ff_not-a-real-key"), id="unknown key"),
        pytest.param({"Authorization": "Basic not-base64!!"}, id="not base64"),
        pytest.param(
            {"Authorization": "Basic " + base64.b64encode(b"no-colon").decode()}, id="no colon"
        ),
        pytest.param(basic(""), id="empty password"),
        pytest.param({"Authorization": "Digest abc"}, id="other scheme"),
        pytest.param({"Authorization": ""}, id="empty header"),
    ],
)
@pytest.mark.parametrize("route", ["/api/v2/event", "/api/v1/event"])
def test_wrong_credentials_are_401(
    anonymous: httpx.Client,
    server: Any,
    workspace: Any,
    headers: dict[str, str],
    route: str,
) -> None:
    assert_unauthorized(anonymous.post(route, json=event(), headers=headers))
    assert stored(server, workspace) == []


def test_wrong_key_is_401_on_read_routes(anonymous: httpx.Client) -> None:
    assert_unauthorized(anonymous.get("/api/v1/events", headers=basic("ff_wrong")))
    assert_unauthorized(anonymous.get("/api/v1/event-types", headers=basic("ff_wrong")))


def test_username_does_not_choose_the_workspace(
    anonymous: httpx.Client, server: Any, workspace: Any, other_workspace: Any
) -> None:
    # The username is ignored: the key alone says which workspace the event is for.
    headers = basic(workspace.events_key, other_workspace.name)
    response = anonymous.post("/api/v2/event", json=event("mine"), headers=headers)
    assert response.status_code == 200, response.text
    assert [e["eventTypeKey"] for e in stored(server, workspace)] == ["mine"]
    assert stored(server, other_workspace) == []


@pytest.mark.parametrize("user", ["", "user", "anything", "someone@example.com", "ключ"])
@pytest.mark.parametrize("route", ["/api/v2/event", "/api/v1/event"])
def test_basic_with_any_username_works(
    anonymous: httpx.Client, server: Any, workspace: Any, user: str, route: str
) -> None:
    headers = basic(workspace.full_key, user)
    response = anonymous.post(route, json=event(key=f"user-{user}"), headers=headers)
    assert response.status_code == 200, response.text
    assert response.content == b""
    assert [e["keyValue"] for e in stored(server, workspace)] == [f"user-{user}"]
    listed = anonymous.get("/api/v1/events", headers=headers)
    assert listed.status_code == 200
    assert len(listed.json()) == 1


def test_basic_scheme_name_is_case_insensitive(
    anonymous: httpx.Client, server: Any, workspace: Any
) -> None:
    token = basic(workspace.full_key, "u")["Authorization"].split(" ", 1)[1]
    response = anonymous.post(
        "/api/v2/event", json=event(), headers={"Authorization": f"basic {token}"}
    )
    assert response.status_code == 200, response.text
    assert len(stored(server, workspace)) == 1


# -- scopes ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("route", ["/api/v2/event", "/api/v1/event"])
def test_events_key_can_post_events(
    anonymous: httpx.Client, server: Any, workspace: Any, route: str
) -> None:
    body = {"eventTypeKey": "scoped", "params": [{"name": "email", "value": "s@example.com"}]}
    response = anonymous.post(route, json=body, headers=basic(workspace.events_key))
    assert response.status_code == 200, response.text
    [stored_event] = stored(server, workspace)
    assert stored_event["eventTypeKey"] == "scoped"
    assert stored_event["keyValue"] == "s@example.com"


def test_events_key_can_post_past_events(
    anonymous: httpx.Client, server: Any, workspace: Any
) -> None:
    body = {"events": [{**event("pastScoped"), "occurred": "2024-01-02T03:04"}]}
    response = anonymous.post("/api/v2/past_events", json=body, headers=basic(workspace.events_key))
    assert response.status_code == 200, response.text
    assert response.json()["successCount"] == 1
    assert [e["eventTypeKey"] for e in stored(server, workspace)] == ["pastScoped"]


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/api/v1/events"), ("GET", "/api/v1/event-types"), ("GET", "/api/v1/events/")],
)
def test_events_key_cannot_read(
    anonymous: httpx.Client, workspace: Any, method: str, path: str
) -> None:
    response = anonymous.request(method, path, headers=basic(workspace.events_key))
    assert response.status_code == 403, response.text
    assert "full" in response.text


def test_events_key_cannot_post_orders(
    anonymous: httpx.Client, server: Any, workspace: Any
) -> None:
    response = anonymous.post(
        "/api/v1/orders", json={"orders": [ORDER]}, headers=basic(workspace.events_key)
    )
    assert response.status_code == 403, response.text
    assert "full" in response.text
    assert stored(server, workspace) == []

    # The same request with the full key is accepted: the scope was the only problem.
    response = anonymous.post(
        "/api/v1/orders", json={"orders": [ORDER]}, headers=basic(workspace.full_key)
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"failedOrders": []}


# -- bearer tokens --------------------------------------------------------------------------------


@pytest.mark.parametrize("user", ["", "whoever"])
def test_token_is_issued_for_basic_credentials(server: Any, workspace: Any, user: str) -> None:
    headers = basic(workspace.full_key, user)
    response = httpx.post(
        f"{server.url}/api/v1/auth/token", headers=headers, timeout=10, verify=NO_TLS_HERE
    )
    assert response.status_code == 200, response.text
    token = response.json()
    assert isinstance(token, str)
    assert len(token) >= 32
    assert token not in (workspace.full_key, workspace.events_key)
    assert token_for(server, workspace.full_key) != token  # a new token each time


def test_token_route_accepts_a_trailing_slash(server: Any, workspace: Any) -> None:
    response = httpx.post(
        f"{server.url}/api/v1/auth/token/",
        headers=basic(workspace.events_key),
        timeout=10,
        verify=NO_TLS_HERE,
    )
    assert response.status_code == 200, response.text
    assert isinstance(response.json(), str)


@pytest.mark.parametrize("key", ["full_key", "events_key"])
@pytest.mark.parametrize("route", EVENT_ROUTES)
def test_bearer_token_works_on_event_routes(
    anonymous: httpx.Client, server: Any, workspace: Any, key: str, route: str
) -> None:
    token = token_for(server, getattr(workspace, key))
    key_value = f"token-{route.strip('/').replace('/', '-')}"
    response = anonymous.post(route, json=event("viaToken", key_value), headers=bearer(token))
    assert response.status_code == 200, response.text
    assert response.content == b""
    [stored_event] = stored(server, workspace)
    assert (stored_event["eventTypeKey"], stored_event["keyValue"]) == ("viaToken", key_value)


@pytest.mark.parametrize("route", PAST_ROUTES)
def test_bearer_token_works_on_past_events(
    anonymous: httpx.Client, server: Any, workspace: Any, route: str
) -> None:
    token = token_for(server, workspace.events_key)
    body = {"events": [{**event("pastViaToken"), "occurred": "2024-01-02T03:04"}]}
    response = anonymous.post(route, json=body, headers=bearer(token))
    assert response.status_code == 200, response.text
    assert response.json()["successCount"] == 1
    [stored_event] = stored(server, workspace)
    assert stored_event["eventTypeKey"] == "pastViaToken"
    assert stored_event["source"] == "past"


def test_token_writes_to_its_own_workspace(
    anonymous: httpx.Client, server: Any, workspace: Any, other_workspace: Any
) -> None:
    token = token_for(server, other_workspace.events_key)
    response = anonymous.post("/api/v2/event", json=event("forB"), headers=bearer(token))
    assert response.status_code == 200, response.text
    assert stored(server, workspace) == []
    assert [e["eventTypeKey"] for e in stored(server, other_workspace)] == ["forB"]


@pytest.mark.parametrize(
    "value", ["Bearer bogus-token", "Bearer", "Bearer ff_not-a-token", "Bearer a b"]
)
@pytest.mark.parametrize("route", ["/api/v2/event", "/api/v1/event", "/api/v2/past_events"])
def test_bogus_bearer_is_401(
    anonymous: httpx.Client, server: Any, workspace: Any, value: str, route: str
) -> None:
    body = {"events": [event()]} if "past" in route else event()
    assert_unauthorized(anonymous.post(route, json=body, headers={"Authorization": value}))
    assert stored(server, workspace) == []


def test_api_key_is_not_a_bearer_token(
    anonymous: httpx.Client, server: Any, workspace: Any
) -> None:
    response = anonymous.post("/api/v2/event", json=event(), headers=bearer(workspace.full_key))
    assert_unauthorized(response)
    assert stored(server, workspace) == []


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/events"),
        ("GET", "/api/v1/event-types"),
        ("POST", "/api/v1/orders"),
        ("POST", "/api/v1/auth/token"),
    ],
)
def test_bearer_is_refused_outside_event_routes(
    anonymous: httpx.Client, server: Any, workspace: Any, method: str, path: str
) -> None:
    token = token_for(server, workspace.full_key)
    body = {"orders": [ORDER]} if path == "/api/v1/orders" else None
    response = anonymous.request(method, path, json=body, headers=bearer(token))
    assert_unauthorized(response)
    assert stored(server, workspace) == []


def test_expired_token_is_401_even_if_used_just_before(make_server: Any, workspace: Any) -> None:
    live = make_server(token_ttl_seconds=1)
    unused = token_for(live, workspace.full_key)
    used = token_for(live, workspace.full_key)
    with live.client() as client:
        response = client.post("/api/v2/event", json=event("beforeExpiry"), headers=bearer(used))
        assert response.status_code == 200, response.text
        time.sleep(1.05)  # both tokens are now past their one-second lifetime
        for token in (unused, used):
            response = client.post(
                "/api/v2/event", json=event("afterExpiry"), headers=bearer(token)
            )
            assert_unauthorized(response)
    assert [e["eventTypeKey"] for e in stored(live, workspace)] == ["beforeExpiry"]
