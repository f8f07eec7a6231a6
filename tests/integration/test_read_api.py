"""The read API: GET /api/v1/events (filters, order, limit, cursor pages) and GET /api/v1/event-types."""

from __future__ import annotations

import base64
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

BASE = datetime(2023, 3, 1, tzinfo=UTC)


def at(minutes: int) -> str:
    return (BASE + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M")


def iso(minutes: int) -> str:
    return (BASE + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:00.000Z")


def past(api: httpx.Client, *events: tuple[str, str, int, dict[str, Any]]) -> None:
    """Store (type, keyValue, minutes after BASE, params) as past events, all accepted."""
    body = {
        "events": [
            {
                "eventTypeKey": type_key,
                "keyValue": key,
                "occurred": at(minutes),
                "params": [{"name": n, "value": v} for n, v in params.items()],
            }
            for type_key, key, minutes, params in events
        ]
    }
    response = api.post("/api/v2/past_events", json=body)
    assert response.status_code == 200, response.text
    assert response.json()["errorCount"] == 0, response.json()


def get(api: httpx.Client, path: str = "/api/v1/events", **query: Any) -> httpx.Response:
    response = api.get(path, params=query)
    assert response.status_code == 200, response.text
    return response


def refused(api: httpx.Client, query: dict[str, Any]) -> httpx.Response:
    """GET /api/v1/events with a query the server should refuse.

    On a 5xx, wait a moment before the test goes on to fail: uvicorn logs the exception after the
    response is sent, and on CPython 3.11 formatting two tracebacks at once in different threads
    (ast.parse for the carets) can raise SystemError and abort the whole pytest session.
    """
    response = api.get("/api/v1/events", params=query)
    if response.status_code >= 500:
        time.sleep(0.5)
    return response


def listed(api: httpx.Client, **query: Any) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = get(api, **query).json()
    return events


def keys(api: httpx.Client, **query: Any) -> list[str]:
    return [e["keyValue"] for e in listed(api, **query)]


def walk(api: httpx.Client, **query: Any) -> list[list[dict[str, Any]]]:
    """Every page, following X-Next-Cursor until it is absent."""
    pages: list[list[dict[str, Any]]] = []
    cursor = None
    while True:
        params = dict(query, cursor=cursor) if cursor else query
        response = get(api, **params)
        pages.append(response.json())
        cursor = response.headers.get("x-next-cursor")
        if cursor is None:
            return pages
        assert len(pages) < 100, "the cursor does not advance"


def test_each_event_has_its_fields(api: httpx.Client) -> None:
    before = datetime.now(UTC) - timedelta(seconds=5)
    body = {
        "eventTypeKey": "visit",
        "keyValue": "k-1",
        "params": [
            {"name": "email", "value": "reader@example.com"},
            {"name": "n", "value": 3},
            {"name": "nested", "value": {"a": [1, 2]}},
        ],
    }
    assert api.post("/api/v2/event", json=body).status_code == 200
    [event] = listed(api)
    assert {"eventTypeKey", "keyValue", "contactId", "params", "occurred"} <= set(event)
    assert event["eventTypeKey"] == "visit"
    assert event["keyValue"] == "k-1"
    assert isinstance(event["contactId"], int)
    assert event["params"] == body["params"]
    occurred = datetime.fromisoformat(event["occurred"].replace("Z", "+00:00"))
    assert before <= occurred <= datetime.now(UTC) + timedelta(seconds=5)
    assert event["occurred"].endswith("Z")


def test_events_are_listed_newest_first_by_occurred_time(api: httpx.Client) -> None:
    past(
        api,
        ("visit", "middle", 60, {}),
        ("visit", "oldest", 0, {}),
        ("visit", "newest", 120, {}),
    )
    live = {"eventTypeKey": "visit", "keyValue": "now"}
    assert api.post("/api/v2/event", json=live).status_code == 200
    # "now" was received last and "newest" second, but order follows the occurred time.
    past(api, ("visit", "second", 30, {}))
    assert keys(api) == ["now", "newest", "middle", "second", "oldest"]
    occurred = [e["occurred"] for e in listed(api)]
    assert occurred == sorted(occurred, reverse=True)


@pytest.fixture
def history(api: httpx.Client) -> dict[str, int]:
    """Six events of two types, two keys and two contacts; returns the contact ids by email."""
    past(
        api,
        ("visit", "a", 0, {"email": "ann@example.com"}),
        ("visit", "b", 10, {"email": "bob@example.com"}),
        ("purchase", "a", 20, {"email": "ann@example.com"}),
        ("visit", "a", 30, {"email": "ann@example.com"}),
        ("purchase", "b", 40, {"email": "bob@example.com"}),
        ("visit", "b", 1440, {"email": "bob@example.com"}),
    )
    contacts: dict[str, int] = {}
    for event in listed(api):
        email = next(p["value"] for p in event["params"] if p["name"] == "email")
        contacts.setdefault(email, event["contactId"])
    assert len(set(contacts.values())) == 2
    return contacts


def test_filter_by_event_type(api: httpx.Client, history: dict[str, int]) -> None:
    events = listed(api, eventTypeKey="purchase")
    assert [(e["keyValue"], e["occurred"]) for e in events] == [("b", iso(40)), ("a", iso(20))]
    assert listed(api, eventTypeKey="nothing") == []


def test_filter_by_key_value(api: httpx.Client, history: dict[str, int]) -> None:
    assert [e["occurred"] for e in listed(api, keyValue="a")] == [iso(30), iso(20), iso(0)]
    assert listed(api, keyValue="A") == []


def test_filter_by_contact(api: httpx.Client, history: dict[str, int]) -> None:
    ann = listed(api, contactId=history["ann@example.com"])
    assert [e["keyValue"] for e in ann] == ["a", "a", "a"]
    assert {e["contactId"] for e in ann} == {history["ann@example.com"]}
    assert listed(api, contactId=max(history.values()) + 1000) == []


def test_filter_by_time_range_bounds_are_inclusive(
    api: httpx.Client, history: dict[str, int]
) -> None:
    assert [e["occurred"] for e in listed(api, **{"from": at(10), "to": at(30)})] == [
        iso(30),
        iso(20),
        iso(10),
    ]
    assert [e["occurred"] for e in listed(api, **{"from": "2023-03-02"})] == [iso(1440)]
    assert len(listed(api, to="2023-03-01T23:59")) == 5
    assert len(listed(api, **{"from": "2023-03-01", "to": "2023-03-02T00:00Z"})) == 6
    assert listed(api, **{"from": "2023-03-03"}) == []
    assert [e["occurred"] for e in listed(api, **{"from": "2023-03-01T00:40+00:00"})] == [
        iso(1440),
        iso(40),
    ]


def test_filters_combine(api: httpx.Client, history: dict[str, int]) -> None:
    events = listed(
        api, eventTypeKey="visit", keyValue="b", contactId=history["bob@example.com"], to=at(60)
    )
    assert [e["occurred"] for e in events] == [iso(10)]


def test_the_default_limit_is_100(api: httpx.Client) -> None:
    past(api, *[("visit", f"k{i}", i, {}) for i in range(105)])
    response = get(api)
    assert len(response.json()) == 100
    assert "x-next-cursor" in response.headers
    assert len(listed(api, limit=1000)) == 105
    assert len(listed(api, limit=1)) == 1


@pytest.mark.parametrize(
    "limit", ["1001", "0", "abc", "-1", "1.5", "10abc", " 5", "99999999999999999999"]
)
def test_a_bad_limit_is_400(api: httpx.Client, limit: str) -> None:
    response = refused(api, {"limit": limit})
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/plain")
    assert "limit" in response.text


@pytest.mark.parametrize("name", ["limit", "contactId"])
def test_a_unicode_digit_in_an_integer_parameter_is_400(api: httpx.Client, name: str) -> None:
    # "²".isdigit() is True but int("²") raises: the check must not let it through to a 500.
    response = refused(api, {name: "²"})
    assert response.status_code == 400, response.text
    assert name in response.text


@pytest.mark.parametrize(
    "query",
    [
        {"from": "yesterday"},
        {"to": "22/03/2023"},
        {"from": "2023-02-30"},
        {"contactId": "abc"},
        {"contactId": "-3"},
    ],
)
def test_bad_filters_are_400(api: httpx.Client, query: dict[str, str]) -> None:
    response = refused(api, query)
    assert response.status_code == 400
    assert next(iter(query)) in response.text


def test_pages_cover_everything_once_in_order(api: httpx.Client) -> None:
    # Pairs of events share an occurred time, so the cursor must break ties by id.
    past(api, *[("visit", f"k{i:02d}", i // 2, {}) for i in range(25)])
    everything = listed(api, limit=1000)
    assert len(everything) == 25

    pages = walk(api, limit=10)
    assert [len(page) for page in pages] == [10, 10, 5]
    walked = [e["id"] for page in pages for e in page]
    assert walked == [e["id"] for e in everything]
    assert len(set(walked)) == 25


def test_pages_that_end_exactly_at_the_limit_have_no_empty_last_page(api: httpx.Client) -> None:
    past(api, *[("visit", f"k{i}", 5, {}) for i in range(20)])  # all at the same moment
    pages = walk(api, limit=10)
    assert [len(page) for page in pages] == [10, 10]
    assert len({e["id"] for page in pages for e in page}) == 20
    assert "x-next-cursor" not in get(api, limit=20).headers


def test_pages_keep_their_filters(api: httpx.Client) -> None:
    past(
        api,
        *[("visit", f"v{i}", i, {}) for i in range(12)],
        *[("other", f"o{i}", i, {}) for i in range(12)],
    )
    pages = walk(api, limit=5, eventTypeKey="visit", to=at(10))
    assert [len(page) for page in pages] == [5, 5, 1]
    assert [e["keyValue"] for page in pages for e in page] == [f"v{i}" for i in range(10, -1, -1)]


def test_events_added_while_paging_do_not_shift_later_pages(api: httpx.Client) -> None:
    past(api, *[("visit", f"k{i}", i, {}) for i in range(6)])
    first = get(api, limit=3)
    cursor = first.headers["x-next-cursor"]
    past(api, ("visit", "newer", 100, {}))
    second = get(api, limit=3, cursor=cursor)
    assert [e["keyValue"] for e in first.json()] == ["k5", "k4", "k3"]
    assert [e["keyValue"] for e in second.json()] == ["k2", "k1", "k0"]
    assert "x-next-cursor" not in second.headers


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage",
        "!!!!",
        "%%%",
        base64.urlsafe_b64encode(b"no colon").decode(),
        base64.urlsafe_b64encode(b"1:2:3").decode(),
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
    ],
)
def test_a_garbage_cursor_is_400(api: httpx.Client, cursor: str) -> None:
    response = refused(api, {"cursor": cursor})
    assert response.status_code == 400
    assert "cursor" in response.text


def test_a_forged_cursor_with_huge_numbers_is_not_a_server_error(api: httpx.Client) -> None:
    # Well-formed but out of any column's range: refusing it (400) or finding nothing are both fine.
    past(api, ("visit", "a", 0, {}))
    cursor = base64.urlsafe_b64encode(b"1:99999999999999999999999").decode()
    response = refused(api, {"cursor": cursor})
    assert response.status_code in (200, 400), response.text
    if response.status_code == 200:
        assert response.json() == []
    else:
        assert "cursor" in response.text


def test_a_huge_contact_id_filter_is_not_a_server_error(api: httpx.Client) -> None:
    response = refused(api, {"contactId": "99999999999999999999"})
    assert response.status_code in (200, 400), response.text
    if response.status_code == 200:
        assert response.json() == []


def test_event_types_count_exactly(api: httpx.Client) -> None:
    started = datetime.now(UTC) - timedelta(seconds=5)
    for _ in range(3):
        assert (
            api.post("/api/v2/event", json={"eventTypeKey": "visit", "keyValue": "k"}).status_code
            == 200
        )
    past(api, *[("purchase", f"p{i}", i, {}) for i in range(7)], ("visit", "old", 0, {}))
    bad = {"eventTypeKey": "pageViewed", "keyValue": "k"}  # refused: no page param
    assert api.post("/api/v2/event", json=bad).status_code == 400

    types = get(api, "/api/v1/event-types").json()
    assert [(t["eventTypeKey"], t["count"]) for t in types] == [("purchase", 7), ("visit", 4)]
    for entry in types:
        last_seen = datetime.fromisoformat(entry["lastSeen"].replace("Z", "+00:00"))
        assert started <= last_seen <= datetime.now(UTC) + timedelta(seconds=5)
        assert entry["firstSeen"] <= entry["lastSeen"]


def test_event_types_last_seen_moves_forward(api: httpx.Client) -> None:
    assert (
        api.post("/api/v2/event", json={"eventTypeKey": "visit", "keyValue": "k"}).status_code
        == 200
    )
    [first] = get(api, "/api/v1/event-types").json()
    assert (
        api.post("/api/v2/event", json={"eventTypeKey": "visit", "keyValue": "k"}).status_code
        == 200
    )
    [second] = get(api, "/api/v1/event-types").json()
    assert second["count"] == first["count"] + 1 == 2
    assert second["lastSeen"] >= first["lastSeen"]
    assert second["firstSeen"] == first["firstSeen"]


def test_event_types_of_an_empty_workspace(api: httpx.Client) -> None:
    assert get(api, "/api/v1/event-types").json() == []
    assert listed(api) == []


@pytest.mark.parametrize("path", ["/api/v1/events", "/api/v1/event-types"])
def test_routes_answer_with_a_trailing_slash_too(api: httpx.Client, path: str) -> None:
    past(api, ("visit", "a", 0, {}), ("visit", "b", 1, {}))
    assert get(api, path + "/").json() == get(api, path).json()
    assert len(get(api, path + "/").json()) >= 1


def test_a_trailing_slash_keeps_filters_and_pages(api: httpx.Client) -> None:
    past(api, *[("visit", f"k{i}", i, {}) for i in range(3)], ("other", "x", 9, {}))
    first = get(api, "/api/v1/events/", limit=2, eventTypeKey="visit")
    assert [e["keyValue"] for e in first.json()] == ["k2", "k1"]
    rest = get(
        api, "/api/v1/events/", limit=2, eventTypeKey="visit", cursor=first.headers["x-next-cursor"]
    )
    assert [e["keyValue"] for e in rest.json()] == ["k0"]


def test_reads_see_only_their_own_workspace(
    api: httpx.Client, server: Any, other_workspace: Any
) -> None:
    past(api, ("visit", "mine", 0, {"email": "same@example.com"}))
    with server.client(other_workspace.full_key) as other:
        body = {
            "eventTypeKey": "theirs",
            "params": [{"name": "email", "value": "same@example.com"}],
        }
        assert other.post("/api/v2/event", json=body).status_code == 200
        [their_event] = other.get("/api/v1/events").json()
        assert [t["eventTypeKey"] for t in other.get("/api/v1/event-types").json()] == ["theirs"]
    assert keys(api) == ["mine"]
    assert [t["eventTypeKey"] for t in get(api, "/api/v1/event-types").json()] == ["visit"]
    assert listed(api, contactId=their_event["contactId"]) == []


@pytest.mark.parametrize("path", ["/api/v1/events", "/api/v1/event-types"])
def test_reads_need_a_full_scope_key(server: Any, workspace: Any, path: str) -> None:
    with server.client(workspace.events_key) as client:
        assert client.get(path).status_code == 403
    with server.client() as anonymous:
        assert anonymous.get(path).status_code == 401
