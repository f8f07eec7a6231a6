"""The registry stays bounded: new types and parameter names per workspace and day are capped
(refused events logged, existing ones never refused, the cap shared by every process), the listing
pages by key, and one type is read by its key however many types the workspace has."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from conftest import LiveServer, Workspace
from footfall.clock import now_us
from footfall.store import Store
from footfall.store.cursor import Cursor
from footfall.store.registry import TypeStore

KV = {"keyValue": "someone@example.com"}


def send(api: httpx.Client, type_key: str, *names: str) -> httpx.Response:
    params = [{"name": name, "value": "v"} for name in names]
    return api.post("/api/v2/event", json={"eventTypeKey": type_key, **KV, "params": params})


def past(type_key: str, *names: str) -> dict[str, Any]:
    params = [{"name": name, "value": "v"} for name in names]
    return {"eventTypeKey": type_key, **KV, "occurred": "2024-01-01T10:00", "params": params}


def registry(store: Store, workspace_id: int) -> tuple[list[str], int]:
    """The workspace's type keys and how many (type, name) pairs it has."""
    with store.read() as tx:
        keys = [
            r[0] for r in tx.all("SELECT key FROM event_types WHERE workspace_id = ?", workspace_id)
        ]
        names = tx.one(
            "SELECT count(DISTINCT key || '/' || name) FROM event_type_params "
            "WHERE workspace_id = ?",
            workspace_id,
        )
    return sorted(keys), int(names[0])


def failures(api: httpx.Client, reason: str) -> list[dict[str, Any]]:
    response = api.get("/api/v1/failed-events", params={"reason": reason})
    assert response.status_code == 200, response.text
    rows: list[dict[str, Any]] = response.json()
    return rows


@pytest.fixture
def capped(make_server: Any, workspace: Workspace) -> Iterator[httpx.Client]:
    """A server allowing 2 new types and 3 new parameter names a day per workspace."""
    live = make_server(max_new_event_types_per_day=2, max_new_param_names_per_day=3)
    with live.client(workspace.full_key) as api:
        yield api


# -- the growth cap ----------------------------------------------------------------------------


def test_new_types_over_the_cap_are_refused_and_logged_existing_ones_never(
    capped: httpx.Client, store: Store, workspace: Workspace
) -> None:
    assert send(capped, "Alpha").status_code == 200
    assert send(capped, "Beta").status_code == 200
    refused = send(capped, "Gamma")
    assert refused.status_code == 400
    assert "too many new event types" in refused.text and "limit 2 a day" in refused.text
    assert "FOOTFALL_MAX_NEW_EVENT_TYPES_PER_DAY" in refused.text
    assert send(capped, "Alpha").status_code == 200  # an existing type: always accepted
    assert send(capped, "Beta").status_code == 200
    [row] = failures(capped, "too_many_types")
    assert row["eventTypeKey"] == "Gamma" and row["route"] == "v2/event"
    assert row["field"] == "eventTypeKey" and json.loads(row["raw"])["eventTypeKey"] == "Gamma"
    assert registry(store, workspace.id) == (["Alpha", "Beta"], 0)
    with store.read() as tx:  # refused: counted without a statistics row of its own
        hourly = tx.all(
            "SELECT key, outcome FROM event_type_hourly WHERE workspace_id = ? AND outcome = ?",
            workspace.id,
            "too_many_types",
        )
    assert [tuple(row) for row in hourly] == [("", "too_many_types")]


def test_new_param_names_over_the_cap_are_refused_and_logged(
    capped: httpx.Client, store: Store, workspace: Workspace
) -> None:
    assert send(capped, "Viewed", "a", "b").status_code == 200
    refused = send(capped, "Viewed", "a", "c", "d")  # two more would make four
    assert refused.status_code == 400 and "too many new parameter names" in refused.text
    assert send(capped, "Viewed", "a", "b", "c").status_code == 200  # the third fits
    assert send(capped, "Viewed", "b", "a").status_code == 200  # known names: always accepted
    assert send(capped, "Other", "a").status_code == 400  # a name is new to each type
    assert send(capped, "Other").status_code == 200
    [other, row] = failures(capped, "too_many_params")  # newest first
    assert row["eventTypeKey"] == "Viewed" and row["field"] == "c"
    assert other["eventTypeKey"] == "Other"
    assert registry(store, workspace.id) == (["Other", "Viewed"], 3)


def test_past_events_are_capped_one_by_one_and_each_refusal_logged(
    capped: httpx.Client, store: Store, workspace: Workspace
) -> None:
    body = {
        "events": [
            past("Alpha", "x"),
            past("Beta"),
            past("Gamma"),  # a third new type
            past("Alpha", "x", "y", "z", "w"),  # names two to four
            past("Alpha", "x", "y"),
            past("Beta", "x"),  # a name is new to each type: the third
            past("Beta", "y"),  # the fourth
        ]
    }
    reply = capped.post("/api/v2/past_events", json=body).json()
    statuses = [r["status"] for r in reply["results"]]
    assert statuses == [
        "ACCEPTED",
        "ACCEPTED",
        "INVALID_EVENT",
        "INVALID_EVENT",
        "ACCEPTED",
        "ACCEPTED",
        "INVALID_EVENT",
    ]
    assert "too many new event types" in reply["results"][2]["error"]
    assert "too many new parameter names" in reply["results"][3]["error"]
    assert reply["successCount"] == 4 and reply["errorCount"] == 3
    [gamma] = failures(capped, "too_many_types")
    assert gamma["route"] == "v2/past_events"
    assert json.loads(gamma["raw"])["eventTypeKey"] == "Gamma"
    beta, alpha = failures(capped, "too_many_params")  # newest first
    assert [p["name"] for p in json.loads(alpha["raw"])["params"]] == ["x", "y", "z", "w"]
    assert beta["eventTypeKey"] == "Beta" and beta["field"] == "y"
    assert registry(store, workspace.id) == (["Alpha", "Beta"], 3)
    again = capped.post("/api/v2/past_events", json={"events": [past("Gamma")]}).json()
    assert again["results"][0]["status"] == "INVALID_EVENT"  # still today


def test_the_cap_holds_across_processes_sharing_the_database(
    make_server: Any, store: Store, workspace: Workspace
) -> None:
    """Each server has its own caches, as separate processes do; the count is in the database."""
    servers: list[LiveServer] = [make_server(max_new_event_types_per_day=5) for _ in range(3)]
    clients = [live.client(workspace.full_key) for live in servers]
    try:
        with ThreadPoolExecutor(12) as pool:
            codes = list(
                pool.map(lambda n: send(clients[n % 3], f"Type{n}").status_code, range(30))
            )
    finally:
        for client in clients:
            client.close()
    assert sorted(codes) == [200] * 5 + [400] * 25
    keys, _ = registry(store, workspace.id)
    assert len(keys) == 5


def test_the_caps_are_counted_per_workspace(
    make_server: Any, workspace: Workspace, other_workspace: Workspace
) -> None:
    live = make_server(max_new_event_types_per_day=1)
    with live.client(workspace.full_key) as first, live.client(other_workspace.full_key) as other:
        assert send(first, "Alpha").status_code == 200
        assert send(first, "Beta").status_code == 400
        assert send(other, "Beta").status_code == 200


def test_events_of_known_types_and_names_cost_no_registry_query(
    make_server: Any, workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    looked_up: list[int] = []
    real = TypeStore.existing

    def counted(self: TypeStore, *args: Any) -> Any:
        looked_up.append(1)
        return real(self, *args)

    monkeypatch.setattr(TypeStore, "existing", counted)
    live = make_server()
    with live.client(workspace.full_key) as api:
        for _ in range(5):
            assert send(api, "Viewed", "a", "b").status_code == 200
        assert len(looked_up) == 1  # the first event only
        assert send(api, "Viewed", "b").status_code == 200  # a new combination of known names
        assert send(api, "Viewed", "b", "a").status_code == 200
    assert len(looked_up) == 1
    with make_server().client(workspace.full_key) as api:  # another process learns it once
        assert send(api, "Viewed", "a", "b").status_code == 200
        assert send(api, "Viewed", "a", "b").status_code == 200
    assert len(looked_up) == 2


# -- reads that do not grow with the registry -------------------------------------------------


def add_types(store: Store, workspace_id: int, keys: list[str]) -> None:
    """Types as many events would leave them: each with a count and two parameters."""
    now = now_us()

    def work(tx: Cursor) -> None:
        tx.executemany(
            "INSERT INTO event_types (workspace_id, key, first_seen_us) VALUES (?, ?, ?)",
            [(workspace_id, key, now) for key in keys],
        )
        tx.executemany(
            "INSERT INTO event_type_counts (workspace_id, key, shard, event_count, last_seen_us) "
            "VALUES (?, ?, 0, 3, ?)",
            [(workspace_id, key, now) for key in keys],
        )
        tx.executemany(
            "INSERT INTO event_type_params (workspace_id, key, name, json_type, first_seen_us, "
            "last_seen_us) VALUES (?, ?, ?, 'string', ?, ?)",
            [(workspace_id, key, name, now, now) for key in keys for name in ("a", "b")],
        )

    store.transact(work)


def test_the_listing_pages_by_key_and_walks_every_type_once(
    api: httpx.Client, store: Store, workspace: Workspace
) -> None:
    keys = [f"Type{n:04d}Seen" for n in range(250)] + ["Ünïcode", "émoji😀"]
    add_types(store, workspace.id, keys)
    first = api.get("/api/v1/event-types")
    assert first.status_code == 200 and len(first.json()) == 100  # the default page
    walked: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        params = {"limit": "60"} | ({"cursor": cursor} if cursor else {})
        response = api.get("/api/v1/event-types", params=params)
        assert response.status_code == 200, response.text
        walked += [t["eventTypeKey"] for t in response.json()]
        pages += 1
        cursor = response.headers.get("X-Next-Cursor")
        if cursor is None:
            break
    assert sorted(walked) == sorted(keys) and len(walked) == len(set(walked))
    assert pages == 5  # 252 types, 60 a page: the last page has 12 and no next cursor
    assert all(t["count"] == 3 for t in first.json())


@pytest.mark.parametrize(
    "params",
    [
        {"limit": "0"},
        {"limit": "1001"},
        {"limit": "x"},
        {"cursor": "not base64!"},
        {"cursor": base64.urlsafe_b64encode(b"\xff\xfe").decode()},
        {"cursor": "A" * 2000},
    ],
)
def test_bad_pages_are_400(api: httpx.Client, params: dict[str, str]) -> None:
    response = api.get("/api/v1/event-types", params=params)
    assert response.status_code == 400, response.text


@pytest.fixture
def rows_read(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many rows each statement of the store scoped to one workspace returned (in any
    thread of this process: the shared server's own periodic reads across workspaces, such as
    the type-rules cache's refresh, are not the request's and are left out)."""
    counts: list[int] = []
    real_all, real_one = Cursor.all, Cursor.one

    def scoped(sql: str) -> bool:
        return "workspace_id = ?" in sql

    def counted_all(self: Cursor, sql: str, *params: Any) -> list[Any]:
        rows = real_all(self, sql, *params)
        if scoped(sql):
            counts.append(len(rows))
        return rows

    def counted_one(self: Cursor, sql: str, *params: Any) -> Any:
        row = real_one(self, sql, *params)
        if scoped(sql):
            counts.append(0 if row is None else 1)
        return row

    monkeypatch.setattr(Cursor, "all", counted_all)
    monkeypatch.setattr(Cursor, "one", counted_one)
    return counts


def test_one_type_is_read_by_key_whatever_the_number_of_types(
    api: httpx.Client, store: Store, workspace: Workspace, rows_read: list[int]
) -> None:
    add_types(store, workspace.id, [f"Type{n:05d}Seen" for n in range(3000)])
    rows_read.clear()
    view = api.get("/api/v1/event-types/Type01234Seen")
    assert view.status_code == 200, view.text
    assert view.json()["count"] == 3 and [p["name"] for p in view.json()["params"]] == ["a", "b"]
    put = api.put("/api/v1/event-types/Type02345Seen", json={"validateParams": True})
    assert put.status_code == 200 and put.json()["settings"]["validateParams"] is True
    assert put.json()["count"] == 3
    assert api.get("/api/v1/event-types/NoSuchType").status_code == 404
    assert rows_read and max(rows_read) <= 2  # never the workspace's 3,000 types
