"""A workspace's time zone and allowed hours, on SQLite and PostgreSQL: the API on the shared
servers (defaults, set, partial updates, clearing, refusals naming their field, scopes and
workspaces apart), the store's batched read, and the migration that adds them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from conftest import BACKENDS, LiveServer, Workspace, create_postgres_database
from footfall.config import Settings
from footfall.exceptions import UnknownWorkspace
from footfall.store import Store, open_store
from footfall.store.migrate import sqlalchemy_url, upgrade
from footfall.store.workspace_settings import DEFAULT_TIMING, WorkspaceTiming, read_timing
from footfall.web.workspace import MAX_SETTINGS_BYTES

SETTINGS = "/api/v1/workspace/settings"
DEFAULTS = {"timeZone": "UTC", "allowedHours": None}
DAYTIME = {"from": "09:00", "to": "21:00"}


def put(api: httpx.Client, body: Any) -> dict[str, Any]:
    answer = api.put(SETTINGS, json=body)
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


def test_a_new_workspace_has_the_defaults(api: httpx.Client) -> None:
    answer = api.get(SETTINGS)
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json"
    assert answer.json() == DEFAULTS


def test_set_both_then_read_them_back(api: httpx.Client) -> None:
    wanted = {"timeZone": "Europe/Kyiv", "allowedHours": DAYTIME}
    assert put(api, wanted) == wanted
    assert api.get(SETTINGS).json() == wanted
    assert api.get(SETTINGS + "/").json() == wanted  # the trailing-slash twin


def test_a_partial_update_keeps_what_it_does_not_name(api: httpx.Client) -> None:
    put(api, {"timeZone": "Europe/Kyiv", "allowedHours": DAYTIME})
    night = {"from": "22:00", "to": "06:00"}  # spans midnight
    assert put(api, {"timeZone": "America/New_York"}) == {
        "timeZone": "America/New_York",
        "allowedHours": DAYTIME,
    }
    assert put(api, {"allowedHours": night}) == {
        "timeZone": "America/New_York",
        "allowedHours": night,
    }
    assert put(api, {}) == {"timeZone": "America/New_York", "allowedHours": night}
    assert api.get(SETTINGS).json() == {"timeZone": "America/New_York", "allowedHours": night}


def test_null_clears_the_allowed_hours(api: httpx.Client) -> None:
    put(api, {"timeZone": "Asia/Kathmandu", "allowedHours": DAYTIME})
    cleared = {"timeZone": "Asia/Kathmandu", "allowedHours": None}
    assert put(api, {"allowedHours": None}) == cleared
    assert put(api, {"allowedHours": None}) == cleared  # again: still cleared
    assert put(api, {"timeZone": "UTC"}) == DEFAULTS
    assert api.get(SETTINGS).json() == DEFAULTS


REFUSALS = [
    ({"timeZone": ""}, "timeZone"),
    ({"timeZone": "local"}, "timeZone"),
    ({"timeZone": "localtime"}, "timeZone"),
    ({"timeZone": "/etc/localtime"}, "timeZone"),
    ({"timeZone": "../../../../etc/passwd"}, "timeZone"),
    ({"timeZone": "Europe"}, "timeZone"),
    ({"timeZone": "Europe/Atlantis"}, "timeZone"),
    ({"timeZone": "Europe/Kyiv\u0000"}, "timeZone"),
    ({"timeZone": "Z" * 65}, "timeZone"),
    ({"timeZone": "Europe/" + "x" * 10_000}, "timeZone"),
    ({"timeZone": 3}, "timeZone"),
    ({"timeZone": None}, "timeZone"),
    ({"allowedHours": {"from": "9:00", "to": "21:00"}}, "allowedHours.from"),
    ({"allowedHours": {"from": "09:00", "to": "24:00"}}, "allowedHours.to"),
    ({"allowedHours": {"from": "09:00", "to": "09:00"}}, "allowedHours"),
    ({"allowedHours": {"from": "09:00"}}, "allowedHours"),
    ({"allowedHours": {"from": 9, "to": "21:00"}}, "allowedHours.from"),
    ({"allowedHours": {"from": "09:00", "to": "21:00", "days": ["mon"]}}, "days"),
    ({"allowedHours": "09:00-21:00"}, "allowedHours"),
    ({"allowedHours": True}, "allowedHours"),
    ({"allowed_hours": None}, "allowed_hours"),
    ({"timezone": "UTC"}, "timezone"),
    # one bad field refuses the whole change: the good one is not applied either
    ({"timeZone": "Europe/Kyiv", "allowedHours": {"from": "x", "to": "21:00"}}, "allowedHours"),
    ({"timeZone": "Mars/Olympus", "allowedHours": DAYTIME}, "timeZone"),
]


@pytest.mark.parametrize(("body", "field"), REFUSALS)
def test_refusals_name_their_field_and_change_nothing(
    api: httpx.Client, body: Any, field: str
) -> None:
    before = put(api, {"timeZone": "Asia/Tokyo", "allowedHours": {"from": "08:00", "to": "20:00"}})
    answer = api.put(SETTINGS, json=body)
    assert answer.status_code == 400, answer.text
    assert answer.headers["content-type"].startswith("text/plain")
    assert field in answer.text
    assert len(answer.text) < 500
    assert api.get(SETTINGS).json() == before


@pytest.mark.parametrize("body", [b"", b"{", b"[]", b"null", b'"UTC"', b"\xff"])
def test_a_body_that_is_no_settings_object_is_refused(api: httpx.Client, body: bytes) -> None:
    answer = api.put(SETTINGS, content=body, headers={"content-type": "application/json"})
    assert answer.status_code == 400, answer.text
    assert api.get(SETTINGS).json() == DEFAULTS


def test_the_body_is_bounded(api: httpx.Client) -> None:
    padding = " " * MAX_SETTINGS_BYTES
    answer = api.put(SETTINGS, content=f'{{"timeZone": "UTC"{padding}}}'.encode())
    assert answer.status_code == 413
    assert api.get(SETTINGS).json() == DEFAULTS


def test_each_key_sees_and_changes_its_own_workspace_only(
    server: LiveServer, workspace: Workspace, other_workspace: Workspace
) -> None:
    with (
        server.client(workspace.full_key) as mine,
        server.client(other_workspace.full_key) as theirs,
    ):
        put(mine, {"timeZone": "Europe/Kyiv", "allowedHours": DAYTIME})
        assert theirs.get(SETTINGS).json() == DEFAULTS
        put(theirs, {"timeZone": "America/Sao_Paulo", "allowedHours": None})
        assert mine.get(SETTINGS).json() == {"timeZone": "Europe/Kyiv", "allowedHours": DAYTIME}
        assert theirs.get(SETTINGS).json() == {
            "timeZone": "America/Sao_Paulo",
            "allowedHours": None,
        }


def test_an_events_key_or_none_is_refused(server: LiveServer, workspace: Workspace) -> None:
    with server.client(workspace.events_key) as events, server.client() as anonymous:
        assert events.get(SETTINGS).status_code == 403
        assert events.put(SETTINGS, json={"timeZone": "Europe/Kyiv"}).status_code == 403
        assert anonymous.get(SETTINGS).status_code == 401
        assert anonymous.put(SETTINGS, json={"timeZone": "Europe/Kyiv"}).status_code == 401
    with server.client(workspace.full_key) as full:
        assert full.get(SETTINGS).json() == DEFAULTS


def test_other_methods_are_not_routes(api: httpx.Client) -> None:
    assert api.post(SETTINGS, json={}).status_code == 405
    assert api.delete(SETTINGS).status_code == 405


def test_the_openapi_document_describes_both(server: LiveServer) -> None:
    with server.client() as client:
        paths = client.get("/openapi.json").json()["paths"]
    assert set(paths[SETTINGS]) == {"get", "put"}
    assert 403 in {int(code) for code in paths[SETTINGS]["put"]["responses"]}


# -- the store ---------------------------------------------------------------------------------------


def test_read_timing_reads_many_workspaces_in_chunks(
    store: Store, workspace: Workspace, other_workspace: Workspace
) -> None:
    store.workspace_settings.update(
        workspace.id, time_zone="Europe/Kyiv", allowed=("09:00", "21:00")
    )
    store.workspace_settings.update(other_workspace.id, allowed=("22:00", "06:00"))
    missing = 2**62
    ids = [*range(missing - 1200, missing), workspace.id, other_workspace.id, workspace.id]
    with store.read() as tx:
        found = read_timing(tx, ids)
        assert read_timing(tx, []) == {}
    assert set(found) == set(ids)
    assert found[workspace.id] == WorkspaceTiming("Europe/Kyiv", ("09:00", "21:00"))
    assert found[other_workspace.id] == WorkspaceTiming("UTC", ("22:00", "06:00"))
    assert found[missing - 1] == DEFAULT_TIMING == WorkspaceTiming("UTC", None)


def test_the_store_updates_only_what_it_is_given(store: Store, workspace: Workspace) -> None:
    settings = store.workspace_settings
    assert settings.get(workspace.id) == DEFAULT_TIMING
    assert settings.update(workspace.id, time_zone="Asia/Tokyo") == WorkspaceTiming(
        "Asia/Tokyo", None
    )
    assert settings.update(workspace.id, allowed=("07:30", "19:45")) == WorkspaceTiming(
        "Asia/Tokyo", ("07:30", "19:45")
    )
    assert settings.update(workspace.id) == WorkspaceTiming("Asia/Tokyo", ("07:30", "19:45"))
    assert settings.update(workspace.id, allowed=None) == WorkspaceTiming("Asia/Tokyo", None)
    assert settings.get(workspace.id) == WorkspaceTiming("Asia/Tokyo", None)


def test_the_store_refuses_an_unknown_workspace(store: Store) -> None:
    with pytest.raises(UnknownWorkspace):
        store.workspace_settings.update(2**62, time_zone="UTC")
    with pytest.raises(UnknownWorkspace):
        store.workspace_settings.update(2**62)
    assert store.workspace_settings.get(2**62) == DEFAULT_TIMING


# -- the migration -----------------------------------------------------------------------------------


@pytest.fixture(params=BACKENDS)
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
        return
    url, drop = create_postgres_database()
    try:
        yield url
    finally:
        drop()


def _execute(url: str, sql: str) -> list[Any]:
    engine = sa.create_engine(sqlalchemy_url(url), poolclass=sa.NullPool)
    try:
        with engine.begin() as connection:
            result = connection.execute(sa.text(sql))
            return list(result.all()) if result.returns_rows else []
    finally:
        engine.dispose()


def test_upgrading_gives_existing_workspaces_the_defaults(fresh_url: str, tmp_path: Path) -> None:
    upgrade(fresh_url, "0010")
    _execute(fresh_url, "INSERT INTO workspaces (name, created_us) VALUES ('old', 1)")
    upgrade(fresh_url, "0011")
    assert _execute(
        fresh_url, "SELECT time_zone, allowed_from, allowed_to FROM workspaces WHERE name = 'old'"
    ) == [(None, None, None)]
    upgrade(fresh_url)
    store = open_store(Settings(data_dir=tmp_path, database_url=fresh_url))
    try:
        ws = store.access.workspace_id("old")
        assert ws is not None
        assert store.workspace_settings.get(ws) == DEFAULT_TIMING
        assert store.workspace_settings.update(ws, time_zone="Europe/Kyiv") == WorkspaceTiming(
            "Europe/Kyiv", None
        )
    finally:
        store.close()
