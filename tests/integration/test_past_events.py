"""Past events (POST /api/v{1,2}/past_events): per-event statuses in request order, what is stored."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from conftest import Workspace
from footfall.store import Store

PATHS = ["/api/v2/past_events", "/api/v1/past_events"]


def event(
    type_key: str = "visit",
    key: str | None = "k-1",
    occurred: str | None = "2023-03-22T14:30",
    **params: str,
) -> dict[str, Any]:
    body: dict[str, Any] = {"eventTypeKey": type_key}
    if key is not None:
        body["keyValue"] = key
    if occurred is not None:
        body["occurred"] = occurred
    body["params"] = [{"name": name, "value": value} for name, value in params.items()]
    return body


def post(client: httpx.Client, events: list[Any], path: str = PATHS[0]) -> dict[str, Any]:
    response = client.post(path, json={"events": events})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    reply: dict[str, Any] = response.json()
    return reply


def statuses(reply: dict[str, Any]) -> list[str]:
    return [result["status"] for result in reply["results"]]


def stored(client: httpx.Client, **query: Any) -> list[dict[str, Any]]:
    response = client.get("/api/v1/events", params={"limit": 1000, **query})
    assert response.status_code == 200, response.text
    events: list[dict[str, Any]] = response.json()
    return events


def minute(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M")


@pytest.mark.parametrize("path", PATHS)
def test_each_event_gets_its_status_in_request_order(api: httpx.Client, path: str) -> None:
    future = minute(datetime.now(UTC) + timedelta(days=2))
    events = [
        event(key="date-only", occurred="2023-03-22"),
        event(key="no-date", occurred=None),
        event(key="blank-date", occurred="  "),
        event(key="slashes", occurred="22/03/2023"),
        event(key="no-such-day", occurred="2023-02-30"),
        event(key="future", occurred=future),
        event("productViewed", key="no-product"),
        event(key="date-time", occurred="2023-03-22T14:30"),
    ]
    reply = post(api, events, path)

    assert statuses(reply) == [
        "ACCEPTED",
        "OCCURRED_DATE_IS_REQUIRED",
        "OCCURRED_DATE_IS_REQUIRED",
        "INCORRECT_OCCURRED_DATE_FORMAT",
        "INCORRECT_OCCURRED_DATE_FORMAT",
        "OCCURRED_TIME_IN_FUTURE",
        "INVALID_EVENT",
        "ACCEPTED",
    ]
    assert reply["successCount"] == 2
    assert reply["errorCount"] == 6
    invalid = reply["results"][6]
    assert "product" in invalid["error"] and "productViewed" in invalid["error"]
    # Only INVALID_EVENT carries an explanation; the eSputnik statuses stand alone.
    assert all(set(r) == {"status"} for i, r in enumerate(reply["results"]) if i != 6)

    listed = stored(api)
    assert [(e["keyValue"], e["occurred"], e["source"]) for e in listed] == [
        ("date-time", "2023-03-22T14:30:00.000Z", "past"),
        ("date-only", "2023-03-22T00:00:00.000Z", "past"),
    ]


def test_accepted_events_keep_their_params_and_type(api: httpx.Client) -> None:
    body = event(
        "pageViewed",
        key="reader@example.com",
        occurred="2023-01-05T08:15",
        email="reader@example.com",
        page='{"location": "https://example.com/a"}',
    )
    reply = post(api, [body])
    assert reply == {"results": [{"status": "ACCEPTED"}], "successCount": 1, "errorCount": 0}

    [stored_event] = stored(api)
    assert stored_event["eventTypeKey"] == "pageViewed"
    assert stored_event["keyValue"] == "reader@example.com"
    assert stored_event["occurred"] == "2023-01-05T08:15:00.000Z"
    assert stored_event["received"] > "2023-01-06"  # received now, not at the occurred time
    assert stored_event["contactId"] is not None
    page = next(p for p in stored_event["params"] if p["name"] == "page")
    assert page["value"] == {"location": "https://example.com/a"}

    types = api.get("/api/v1/event-types").json()
    assert [(t["eventTypeKey"], t["count"]) for t in types] == [("pageViewed", 1)]


@pytest.mark.parametrize(
    ("occurred", "expected"),
    [
        ("2023-03-22", "2023-03-22T00:00:00.000Z"),
        ("2023-03-22T14:30", "2023-03-22T14:30:00.000Z"),
        ("2023-03-22T14:30:15", "2023-03-22T14:30:15.000Z"),
        ("2023-03-22T14:30+02:00", "2023-03-22T12:30:00.000Z"),
        ("2023-03-22T14:30Z", "2023-03-22T14:30:00.000Z"),
    ],
)
def test_occurred_forms_are_read_as_utc(api: httpx.Client, occurred: str, expected: str) -> None:
    assert statuses(post(api, [event(occurred=occurred)])) == ["ACCEPTED"]
    assert [e["occurred"] for e in stored(api)] == [expected]


def test_no_depth_limit_by_default(api: httpx.Client) -> None:
    reply = post(api, [event(occurred="2001-01-01")])
    assert statuses(reply) == ["ACCEPTED"]


def test_too_old_only_when_a_maximum_age_is_set(make_server: Any, workspace: Any) -> None:
    now = datetime.now(UTC)
    live = make_server(past_events_max_age_days=30)
    with live.client(workspace.events_key) as client:
        reply = post(
            client,
            [
                event(key="old", occurred=(now - timedelta(days=40)).strftime("%Y-%m-%d")),
                event(key="recent", occurred=minute(now - timedelta(days=10))),
                event(key="ancient", occurred="2001-01-01"),
                event(key="future", occurred=minute(now + timedelta(days=1))),
            ],
        )
    assert statuses(reply) == [
        "OCCURRED_TIME_TOO_DEPTH",
        "ACCEPTED",
        "OCCURRED_TIME_TOO_DEPTH",
        "OCCURRED_TIME_IN_FUTURE",
    ]
    assert (reply["successCount"], reply["errorCount"]) == (1, 3)
    with live.client(workspace.full_key) as client:
        assert [e["keyValue"] for e in stored(client)] == ["recent"]


def test_rule_violations_and_missing_key_are_invalid_event(api: httpx.Client) -> None:
    reply = post(
        api,
        [
            42,
            {"keyValue": "no-type", "occurred": "2023-03-22"},
            event("bad,type"),
            event(key=None),
            event("pageViewed", page='{"nowhere": 1}'),
            event(key="ok"),
        ],
    )
    assert statuses(reply) == ["INVALID_EVENT"] * 5 + ["ACCEPTED"]
    errors = [r.get("error", "") for r in reply["results"]]
    assert all(errors[:5]), errors
    assert "eventTypeKey" in errors[1]
    assert "eventTypeKey" in errors[2]
    assert "keyValue" in errors[3]
    assert "page.location" in errors[4]
    assert [e["keyValue"] for e in stored(api)] == ["ok"]


def test_v1_values_must_be_strings_while_v2_takes_json(api: httpx.Client) -> None:
    body = event("cartUpdated", key="cart")
    body["params"] = [
        {"name": "recycleStateId", "value": "r1"},
        {"name": "products", "value": [{"productId": "p1", "quantity": 1, "price": 9.5}]},
    ]
    v1 = post(api, [body], "/api/v1/past_events")
    assert statuses(v1) == ["INVALID_EVENT"]
    assert "products" in v1["results"][0]["error"]

    v2 = post(api, [body], "/api/v2/past_events")
    assert statuses(v2) == ["ACCEPTED"]

    body["params"][1]["value"] = json.dumps(body["params"][1]["value"])  # escaped JSON, as v1 wants
    assert statuses(post(api, [body], "/api/v1/past_events")) == ["ACCEPTED"]
    assert len(stored(api)) == 2


def test_past_events_reach_the_same_contact_as_live_events(api: httpx.Client) -> None:
    live = {
        "eventTypeKey": "visit",
        "keyValue": "live",
        "params": [{"name": "email", "value": "history@example.com"}],
    }
    assert api.post("/api/v2/event", json=live).status_code == 200
    [live_event] = stored(api)
    reply = post(api, [event(key="past", email="HISTORY@example.com")])
    assert statuses(reply) == ["ACCEPTED"]
    [past_event] = stored(api, keyValue="past")
    assert past_event["contactId"] == live_event["contactId"] is not None


def test_an_empty_batch_is_answered(api: httpx.Client) -> None:
    assert post(api, []) == {"results": [], "successCount": 0, "errorCount": 0}


def test_500_events_in_one_request_are_all_accepted(api: httpx.Client) -> None:
    events = [
        event(key=f"bulk-{i}", occurred=f"2023-03-22T{i // 60 % 24:02d}:{i % 60:02d}")
        for i in range(500)
    ]
    reply = post(api, events)
    assert reply["successCount"] == 500
    assert reply["errorCount"] == 0
    assert statuses(reply) == ["ACCEPTED"] * 500

    listed = stored(api)
    assert len(listed) == 500
    assert {e["keyValue"] for e in listed} == {f"bulk-{i}" for i in range(500)}
    types = api.get("/api/v1/event-types").json()
    assert [(t["eventTypeKey"], t["count"]) for t in types] == [("visit", 500)]


def test_501_events_are_refused_as_a_whole(api: httpx.Client) -> None:
    events = [event(key=f"bulk-{i}") for i in range(501)]
    response = api.post("/api/v2/past_events", json={"events": events})
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/plain")
    assert "500" in response.text
    assert stored(api) == []


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize(
    "body",
    [
        b'{"events": [',
        b"not json at all",
        b"",
        b'{"events": {"eventTypeKey": "visit"}}',
        b'{"evts": []}',
        b"[]",
    ],
)
def test_a_body_that_is_not_an_events_batch_is_400(
    api: httpx.Client, path: str, body: bytes
) -> None:
    response = api.post(path, content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text
    assert stored(api) == []


def test_past_events_are_stored_in_their_own_workspace_only(
    api: httpx.Client, server: Any, other_workspace: Any
) -> None:
    assert statuses(post(api, [event(key="mine")])) == ["ACCEPTED"]
    with server.client(other_workspace.full_key) as other:
        assert stored(other) == []
        assert other.get("/api/v1/event-types").json() == []


def test_a_request_with_many_new_names_is_stored_in_several_commits(
    make_server: Any,
    store: Store,
    workspace: Workspace,
    other_workspace: Workspace,
) -> None:
    """500 events with 30 new parameter names each: 15,000 registry rows, more than one
    commit may hold (5,000 names); every event is accepted and stored, in several commits."""
    server = make_server(max_new_param_names_per_day=20_000)  # the default cap is 10,000
    with server.client(workspace.full_key) as api:
        events = [
            event(key=f"bulk-{n}", **{f"attr_{n}_{m}": "v" for m in range(30)}) for n in range(500)
        ]

        def live_events() -> list[int]:
            with server.client(other_workspace.events_key) as other:
                body = {"eventTypeKey": "live", "keyValue": "l"}
                return [other.post("/api/v2/event", json=body).status_code for _ in range(20)]

        registry = server.app.services.metrics.registry
        commits_before = registry.get_sample_value("footfall_commit_batches_total")
        reply = post(api, events)
        commits = registry.get_sample_value("footfall_commit_batches_total") - commits_before
        assert statuses(reply) == ["ACCEPTED"] * 500
        with ThreadPoolExecutor(max_workers=1) as pool:  # again, with another workspace beside it
            beside = pool.submit(live_events)
            again = post(api, [{**e, "keyValue": "again"} for e in events])
            assert beside.result() == [200] * 20
        assert statuses(again) == ["ACCEPTED"] * 500
        with store.read() as tx:
            count = tx.one("SELECT count(*) FROM events WHERE workspace_id = ?", workspace.id)[0]
            names = tx.one(
                "SELECT count(*) FROM event_type_params WHERE workspace_id = ? AND key = 'visit'",
                workspace.id,
            )[0]
    assert count == 1000
    assert commits >= 3
    assert names == 15_000


def test_a_past_event_larger_than_a_live_body_is_refused_and_logged(api: httpx.Client) -> None:
    big = event(key="big", note="x" * 25_000)
    reply = post(api, [event(key="small"), big])
    assert statuses(reply) == ["ACCEPTED", "INVALID_EVENT"]
    assert "at most 20480 per event" in reply["results"][1]["error"]
    logged = api.get("/api/v1/failed-events", params={"reason": "too_large"}).json()
    assert [f["keyValue"] for f in logged] == ["big"]
