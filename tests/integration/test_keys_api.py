"""Key management over HTTP (full-scope keys, their own workspace only): list, create, revoke,
rotate; a revocation is effective at once in the process that made it and within the key cache's
time in the others. Every test runs on SQLite and PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from conftest import NO_TLS_HERE, LiveServer, Workspace, basic

EVENT = {"eventTypeKey": "keyProbe", "keyValue": "k", "params": []}


def keys_of(client: httpx.Client) -> list[dict[str, Any]]:
    response = client.get("/api/v1/keys")
    assert response.status_code == 200, response.text
    listed: list[dict[str, Any]] = response.json()
    return listed


def key_id(client: httpx.Client, secret: str) -> int:
    """The id of the key whose secret this is, told apart by its listed prefix."""
    (found,) = [k["id"] for k in keys_of(client) if k["prefix"] == secret[:8]]
    return int(found)


def sends(live: LiveServer, headers: dict[str, str]) -> int:
    """The status of one event sent with these credentials."""
    response = httpx.post(
        f"{live.url}/api/v2/event", json=EVENT, headers=headers, timeout=10, verify=NO_TLS_HERE
    )
    return response.status_code


def token(live: LiveServer, secret: str) -> dict[str, str]:
    response = httpx.post(
        f"{live.url}/api/v1/auth/token", headers=basic(secret), timeout=10, verify=NO_TLS_HERE
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()}"}


def test_a_full_key_lists_its_workspace_keys_without_their_secrets(
    api: httpx.Client, workspace: Workspace, other_workspace: Workspace
) -> None:
    response = api.get("/api/v1/keys")
    assert response.status_code == 200
    listed = response.json()
    assert [(k["scope"], k["prefix"]) for k in listed] == [
        ("events", workspace.events_key[:8]),
        ("full", workspace.full_key[:8]),
    ]
    assert listed[0]["id"] > listed[1]["id"]  # newest first
    assert all(k["workspace"] == workspace.name and k["revoked"] is None for k in listed)
    assert listed[1]["lastUsed"] is not None  # this very request looked the full key up
    assert listed[0]["lastUsed"] is None
    for secret in (workspace.full_key, workspace.events_key, other_workspace.full_key):
        assert secret not in response.text
        assert secret[8:20] not in response.text


def test_listing_pages_by_id(api: httpx.Client) -> None:
    for _ in range(3):
        assert api.post("/api/v1/keys", json={"scope": "events"}).status_code == 201
    every = [k["id"] for k in keys_of(api)]
    seen: list[int] = []
    params: dict[str, Any] = {"limit": 2}
    while True:
        response = api.get("/api/v1/keys", params=params)
        assert response.status_code == 200
        seen += [k["id"] for k in response.json()]
        if "x-next-before" not in response.headers:
            break
        params["before"] = response.headers["x-next-before"]
    assert seen == every
    assert len(every) == 5
    for bad in ({"limit": 0}, {"limit": 1001}, {"before": "x"}):
        assert api.get("/api/v1/keys", params=bad).status_code == 400


def test_a_created_key_has_its_scope_and_is_shown_once(
    api: httpx.Client, server: LiveServer
) -> None:
    response = api.post("/api/v1/keys", json={"scope": "events"})
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["scope"] == "events"
    assert sends(server, basic(created["apiKey"])) == 200
    with server.client(created["apiKey"]) as limited:
        assert limited.get("/api/v1/keys").status_code == 403
    listed = keys_of(api)
    assert listed[0]["id"] == created["id"]
    assert created["apiKey"] not in str(listed)
    default = api.post("/api/v1/keys", json={}).json()
    assert default["scope"] == "events"
    refused: list[object] = [{"scope": "admin"}, {"scope": 1}, []]
    for bad in refused:
        response = api.post("/api/v1/keys", json=bad)
        assert response.status_code == 400, response.text
    assert api.post("/api/v1/keys", content=b"{").status_code == 400


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/keys"),
        ("POST", "/api/v1/keys"),
        ("DELETE", "/api/v1/keys/1"),
        ("POST", "/api/v1/keys/1/rotate"),
    ],
)
def test_events_keys_cannot_manage_keys(
    server: LiveServer, workspace: Workspace, method: str, path: str
) -> None:
    with server.client(workspace.events_key) as client:
        response = client.request(method, path, json={"scope": "full"})
    assert response.status_code == 403, response.text
    with server.client(workspace.full_key) as client:
        assert len(keys_of(client)) == 2


def test_another_workspaces_keys_are_not_found(
    api: httpx.Client, server: LiveServer, other_workspace: Workspace
) -> None:
    with server.client(other_workspace.full_key) as other:
        theirs = key_id(other, other_workspace.full_key)
    assert api.delete(f"/api/v1/keys/{theirs}").status_code == 404
    assert api.post(f"/api/v1/keys/{theirs}/rotate").status_code == 404
    assert api.delete("/api/v1/keys/9223372036854775807").status_code == 404
    for bad in ("0", "x", "99999999999999999999", "-1"):
        assert api.delete(f"/api/v1/keys/{bad}").status_code == 400
    assert sends(server, basic(other_workspace.full_key)) == 200
    with server.client(other_workspace.full_key) as other:
        assert all(k["revoked"] is None for k in keys_of(other))


def test_a_revocation_applies_at_once_in_its_process_to_the_key_and_its_tokens(
    make_server: Callable[..., LiveServer], workspace: Workspace
) -> None:
    live = make_server(key_cache_seconds=3600)
    by_token = token(live, workspace.events_key)
    assert sends(live, basic(workspace.events_key)) == 200  # both are cached now
    assert sends(live, by_token) == 200
    with live.client(workspace.full_key) as admin:
        events_id = key_id(admin, workspace.events_key)
        response = admin.delete(f"/api/v1/keys/{events_id}")
        assert response.status_code == 200, response.text
        revoked = response.json()
        assert (revoked["id"], revoked["scope"]) == (events_id, "events")
        assert revoked["revoked"] is not None
        assert sends(live, basic(workspace.events_key)) == 401
        assert sends(live, by_token) == 401
        again = admin.delete(f"/api/v1/keys/{events_id}/")
        assert again.status_code == 200
        assert again.json()["revoked"] == revoked["revoked"]  # revoking twice changes nothing
        assert admin.post(f"/api/v1/keys/{events_id}/rotate").status_code == 409


def test_a_key_may_revoke_itself(
    make_server: Callable[..., LiveServer], workspace: Workspace
) -> None:
    live = make_server(key_cache_seconds=3600)
    with live.client(workspace.full_key) as admin:
        own = key_id(admin, workspace.full_key)
        assert admin.delete(f"/api/v1/keys/{own}").status_code == 200
        assert admin.get("/api/v1/keys").status_code == 401
    assert sends(live, basic(workspace.events_key)) == 200  # the workspace's other keys work


def test_other_processes_refuse_a_revoked_key_within_the_cache_time(
    make_server: Callable[..., LiveServer], workspace: Workspace
) -> None:
    ttl = 1.5
    here, there = make_server(key_cache_seconds=ttl), make_server(key_cache_seconds=ttl)
    by_token = token(there, workspace.events_key)
    assert sends(there, basic(workspace.events_key)) == 200
    assert sends(there, by_token) == 200
    with here.client(workspace.full_key) as admin:
        revoked_at = time.monotonic()
        response = admin.delete(f"/api/v1/keys/{key_id(admin, workspace.events_key)}")
        assert response.status_code == 200
    assert sends(here, basic(workspace.events_key)) == 401
    if time.monotonic() - revoked_at < ttl / 2:
        assert sends(there, basic(workspace.events_key)) == 200  # its cached answer, for now
    time.sleep(max(0.0, revoked_at + ttl + 0.1 - time.monotonic()))
    assert sends(there, basic(workspace.events_key)) == 401
    assert sends(there, by_token) == 401


def test_rotation_replaces_a_key_with_one_of_the_same_scope(
    make_server: Callable[..., LiveServer], workspace: Workspace
) -> None:
    live = make_server(key_cache_seconds=3600)
    assert sends(live, basic(workspace.events_key)) == 200
    with live.client(workspace.full_key) as admin:
        old = key_id(admin, workspace.events_key)
        response = admin.post(f"/api/v1/keys/{old}/rotate")
        assert response.status_code == 200, response.text
        new = response.json()
        assert (new["scope"], new["workspace"]) == ("events", workspace.name)
        assert new["id"] != old
        assert sends(live, basic(workspace.events_key)) == 401
        assert sends(live, basic(new["apiKey"])) == 200
        assert admin.post(f"/api/v1/keys/{old}/rotate").status_code == 409
        listed = {k["id"]: k for k in keys_of(admin)}
        assert listed[old]["revoked"] is not None and listed[new["id"]]["revoked"] is None


def test_rotation_with_grace_keeps_the_old_key_working_until_then(
    make_server: Callable[..., LiveServer], workspace: Workspace
) -> None:
    live = make_server(key_cache_seconds=3600)
    with live.client(workspace.full_key) as admin:
        old = key_id(admin, workspace.full_key)
        for bad in ("-1", "604801", "x"):
            assert (
                admin.post(f"/api/v1/keys/{old}/rotate", params={"grace": bad}).status_code == 400
            )
        started = time.monotonic()
        response = admin.post(f"/api/v1/keys/{old}/rotate", params={"grace": "2"})
        assert response.status_code == 200, response.text
        new = response.json()
        assert new["scope"] == "full"
        by_token = token(live, workspace.full_key)  # tokens end with their key's grace period
        if time.monotonic() - started < 1.5:
            assert admin.get("/api/v1/keys").status_code == 200
            assert sends(live, by_token) == 200
        assert admin.post(f"/api/v1/keys/{old}/rotate").status_code == 409
    time.sleep(max(0.0, started + 2.1 - time.monotonic()))
    assert sends(live, basic(workspace.full_key)) == 401
    assert sends(live, by_token) == 401
    with live.client(new["apiKey"]) as admin:
        listed = {k["id"]: k for k in keys_of(admin)}
        assert listed[old]["revoked"] is not None
