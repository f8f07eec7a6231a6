"""The event-type registry: structure, naming issues, rules per type (required params, JSON
Schema), the failed-event log, replay exactly once, hourly statistics."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from conftest import NO_TLS_HERE, LiveServer, Workspace
from footfall.cli import main as cli
from footfall.store import Store


def send(api: httpx.Client, type_key: str, version: int = 2, **params: Any) -> httpx.Response:
    body = {
        "eventTypeKey": type_key,
        "params": [{"name": name, "value": value} for name, value in params.items()],
    }
    return api.post(f"/api/v{version}/event", json=body)


def stored(store: Store, workspace_id: int, type_key: str) -> int:
    with store.read() as tx:
        row = tx.one(
            "SELECT count(*) FROM events WHERE workspace_id = ? AND event_type_key = ?",
            workspace_id,
            type_key,
        )
    return int(row[0])


def put_rules(api: httpx.Client, type_key: str, **settings: Any) -> dict[str, Any]:
    response = api.put(f"/api/v1/event-types/{type_key}", json=settings)
    assert response.status_code == 200, response.text
    view: dict[str, Any] = response.json()
    return view


def failures(api: httpx.Client, **params: Any) -> list[dict[str, Any]]:
    response = api.get("/api/v1/failed-events", params=params)
    assert response.status_code == 200, response.text
    rows: list[dict[str, Any]] = response.json()
    return rows


# -- the registry ----------------------------------------------------------------------------


def test_a_type_is_created_on_first_use_with_its_observed_structure(api: httpx.Client) -> None:
    assert (
        send(api, "ProductViewed", email="a@b.co", price=10.5, tags=["x"], extra=None).status_code
        == 200
    )
    assert (
        send(api, "ProductViewed", 1, email="a@b.co", price="cheap", info='{"a": 1}').status_code
        == 200
    )
    [summary] = api.get("/api/v1/event-types").json()
    assert summary["eventTypeKey"] == "ProductViewed" and summary["count"] == 2
    assert summary["validateParams"] is False and summary["namingIssues"] == []
    view = api.get("/api/v1/event-types/ProductViewed").json()
    types = {param["name"]: sorted(param["types"]) for param in view["params"]}
    assert types == {
        "email": ["string"],
        "extra": ["null"],
        "info": ["object"],  # v1 embedded JSON is parsed
        "price": ["number", "string"],
        "tags": ["array"],
    }
    assert all(param["firstSeen"] and param["lastSeen"] for param in view["params"])
    assert view["settings"] == {"validateParams": False, "params": [], "jsonSchema": None}


def test_an_unknown_type_is_404_and_a_key_of_another_workspace_sees_nothing(
    api: httpx.Client, server: LiveServer, other_workspace: Workspace
) -> None:
    assert send(api, "CartUpdated", email="a@b.co").status_code == 200
    assert api.get("/api/v1/event-types/NoSuchType").status_code == 404
    with server.client(other_workspace.full_key) as other:
        assert other.get("/api/v1/event-types").json() == []
        assert other.get("/api/v1/event-types/CartUpdated").status_code == 404
        assert other.get("/api/v1/failed-events").json() == []


def test_the_registry_reports_naming_issues_without_refusing(api: httpx.Client) -> None:
    for type_key in ("visit", "page_viewed", "ProductViewed", "couponApplied"):
        assert (
            send(api, type_key, email="a@b.co", Image_URL="x", EmailAddress="e@b.co").status_code
            == 200
        )
    issues = {t["eventTypeKey"]: t["namingIssues"] for t in api.get("/api/v1/event-types").json()}
    assert issues["ProductViewed"] == [] and issues["couponApplied"] == []
    assert "ObjectAction" in issues["visit"][0]
    assert "PascalCase or camelCase" in issues["page_viewed"][0]
    view = api.get("/api/v1/event-types/ProductViewed").json()
    assert view["namingIssues"] == ["param 'Image_URL' is not lowerCamel, e.g. imageUrl"]


def test_scopes_and_credentials(server: LiveServer, workspace: Workspace) -> None:
    with server.client(workspace.events_key) as events_only:
        assert events_only.get("/api/v1/event-types").status_code == 403
        assert events_only.put("/api/v1/event-types/A", json={}).status_code == 403
        assert events_only.get("/api/v1/failed-events").status_code == 403
        replay = events_only.post("/api/v1/failed-events/replay", json={"eventTypeKey": "A"})
        assert replay.status_code == 403
    assert httpx.get(f"{server.url}/api/v1/failed-events", verify=NO_TLS_HERE).status_code == 401


# -- rules per type --------------------------------------------------------------------------


def test_custom_types_are_not_validated_by_default(api: httpx.Client) -> None:
    assert send(api, "OrderShipped", email="a@b.co").status_code == 200


def test_required_params_give_the_esputnik_400(
    api: httpx.Client, store: Store, workspace: Workspace
) -> None:
    rules = [{"name": "productId", "required": True}, {"name": "note", "required": False}]
    view = put_rules(api, "WishlistAdded", validateParams=True, params=rules)
    assert view["settings"]["params"] == rules and view["validateParams"] is True
    refused = send(api, "WishlistAdded", email="a@b.co", note="x")
    assert refused.status_code == 400
    assert refused.text == (
        'The event should have the following params: [{"name":"productId","required":true}]'
    )
    assert send(api, "WishlistAdded", email="a@b.co", productId="p-1").status_code == 200
    assert stored(store, workspace.id, "WishlistAdded") == 1
    # Switched off again, the same event passes.
    put_rules(api, "WishlistAdded", validateParams=False, params=rules)
    assert send(api, "WishlistAdded", email="a@b.co").status_code == 200


def test_a_json_schema_checks_types_and_formats(api: httpx.Client) -> None:
    schema = {
        "type": "object",
        "required": ["price"],
        "properties": {
            "price": {"type": "number", "minimum": 0},
            "contactEmail": {"type": "string", "format": "email"},
            "when": {"type": "string", "format": "date-time"},
            "items": {"type": "array", "items": {"type": "object", "required": ["sku"]}},
        },
    }
    view = put_rules(api, "CheckoutStarted", jsonSchema=schema)
    assert view["hasJsonSchema"] is True
    ok = send(
        api,
        "CheckoutStarted",
        email="a@b.co",
        price=12.5,
        contactEmail="x@y.co",
        when="2024-05-01T10:00:00Z",
        items=[{"sku": "s1"}],
    )
    assert ok.status_code == 200, ok.text
    cases: list[tuple[dict[str, Any], str | None, str]] = [
        ({"price": "12"}, "price", "is not of type 'number'"),
        ({"price": -1}, "price", "minimum"),
        ({"price": 1, "when": "yesterday"}, "when", "date-time"),
        ({"price": 1, "items": [{"name": "no sku"}]}, "items.0", "'sku' is a required property"),
        ({}, None, "'price' is a required property"),
    ]
    for params, field, message in cases:
        response = send(api, "CheckoutStarted", email="a@b.co", **params)
        assert response.status_code == 400, params
        assert message in response.text, response.text
        if field is not None:
            assert f"at {field}:" in response.text


def test_an_invalid_json_schema_is_refused_and_changes_nothing(api: httpx.Client) -> None:
    put_rules(api, "SearchDone", jsonSchema={"type": "object"})
    response = api.put("/api/v1/event-types/SearchDone", json={"jsonSchema": {"type": 12}})
    assert response.status_code == 400 and "not a valid JSON Schema" in response.text
    bad = api.put("/api/v1/event-types/SearchDone", json={"params": [{"name": ""}]})
    assert bad.status_code == 400
    assert api.put("/api/v1/event-types/SearchDone", content=b"{").status_code == 400
    view = api.get("/api/v1/event-types/SearchDone").json()
    assert view["settings"]["jsonSchema"] == {"type": "object"}


def test_standard_types_keep_their_built_in_rules(api: httpx.Client) -> None:
    put_rules(
        api, "pageViewed", validateParams=True, params=[{"name": "section", "required": True}]
    )
    page = {"location": "https://shop.example/"}
    without_page = send(api, "pageViewed", email="a@b.co", section="s")
    assert without_page.status_code == 400 and "'page'" in without_page.text
    assert send(api, "pageViewed", email="a@b.co", page=page).status_code == 400  # no section
    assert send(api, "pageViewed", email="a@b.co", page=page, section="s").status_code == 200


def test_rules_apply_to_past_events_item_by_item(api: httpx.Client) -> None:
    put_rules(api, "Visited", validateParams=True, params=[{"name": "page"}])
    body = {
        "events": [
            {
                "eventTypeKey": "Visited",
                "keyValue": "k1",
                "occurred": "2024-01-01T10:00",
                "params": [],
            },
            {
                "eventTypeKey": "Visited",
                "keyValue": "k2",
                "occurred": "2024-01-01T10:00",
                "params": [{"name": "page", "value": "/"}],
            },
        ]
    }
    reply = api.post("/api/v2/past_events", json=body).json()
    assert [r["status"] for r in reply["results"]] == ["INVALID_EVENT", "ACCEPTED"]
    assert "following params" in reply["results"][0]["error"]
    [failed] = failures(api, eventTypeKey="Visited")
    assert failed["route"] == "v2/past_events" and failed["reason"] == "params"
    assert json.loads(failed["raw"])["keyValue"] == "k1"


# -- the failed-event log --------------------------------------------------------------------


def test_every_refused_event_is_logged_with_reason_field_and_raw_body(
    server: LiveServer, api: httpx.Client, store: Store, workspace: Workspace
) -> None:
    put_rules(api, "Rated", validateParams=True, params=[{"name": "stars"}])
    assert send(api, "Rated", email="a@b.co").status_code == 400
    assert send(api, "Rated", stars=5).status_code == 400  # no keyValue, no locator
    assert api.post("/api/v2/event", content=b'{"eventTypeKey": "Rated", "par').status_code == 400
    assert send(api, "Bad<Name", email="a@b.co").status_code == 400
    big = json.dumps(
        {
            "eventTypeKey": "Rated",
            "keyValue": "x" * 100,
            "params": [{"name": "p", "value": "v" * 30_000}],
        }
    )
    assert api.post("/api/v2/event", content=big.encode()).status_code == 413
    # Not logged: no workspace was identified.
    assert (
        httpx.post(
            f"{server.url}/api/v2/event", json={"eventTypeKey": "Rated"}, verify=NO_TLS_HERE
        ).status_code
        == 401
    )

    rows = failures(api)
    by_reason = {row["reason"]: row for row in rows}
    assert sorted(by_reason) == [
        "invalid",
        "malformed_json",
        "missing_locator",
        "params",
        "too_large",
    ]
    assert by_reason["params"]["field"] == "stars"
    assert by_reason["params"]["eventTypeKey"] == "Rated"
    assert json.loads(by_reason["params"]["raw"])["params"][0]["value"] == "a@b.co"
    assert by_reason["missing_locator"]["field"] == "keyValue"
    assert by_reason["malformed_json"]["eventTypeKey"] is None
    assert by_reason["malformed_json"]["raw"] == '{"eventTypeKey": "Rated", "par'
    assert by_reason["too_large"]["rawBytes"] == len(big)
    assert all(row["route"] == "v2/event" and row["replayed"] is None for row in rows)
    # Filters and pages.
    assert [r["reason"] for r in failures(api, reason="params")] == ["params"]
    assert len(failures(api, eventTypeKey="Rated")) == 2  # the oversized body was never read
    assert by_reason["too_large"]["rawTruncated"] is True
    first = api.get("/api/v1/failed-events", params={"limit": 2})
    assert len(first.json()) == 2
    rest = failures(api, before=first.headers["X-Next-Before"])
    assert [r["id"] for r in first.json() + rest] == [r["id"] for r in rows]
    assert failures(api, replayed="true") == []
    assert api.get("/api/v1/failed-events", params={"replayed": "maybe"}).status_code == 400


def test_raw_bodies_are_kept_up_to_the_configured_size(
    make_server: Any, workspace: Workspace
) -> None:
    live = make_server(failed_event_max_bytes=40)
    body = json.dumps({"eventTypeKey": "Long", "params": [{"name": "note", "value": "n" * 200}]})
    with live.client(workspace.full_key) as api:
        assert api.post("/api/v2/event", content=body.encode()).status_code == 400  # no locator
        [row] = failures(api)
    assert row["raw"] == body[:40]
    assert row["rawTruncated"] is True and row["rawBytes"] == len(body)


def test_old_failures_are_pruned_at_start(
    make_server: Any, store: Store, workspace: Workspace
) -> None:
    with store.db.write() as tx:
        for received in (1_000_000, 2**52):
            tx.execute(
                "INSERT INTO failed_events (workspace_id, event_type_key, route, reason, error, "
                "raw, raw_bytes, received_us, attempts) VALUES (?, 'Old', 'v2/event', 'invalid', "
                "'e', '{}', 2, ?, 0)",
                workspace.id,
                received,
            )
        # Pruning runs once per deployment and period (footfall.background): the shared test
        # server did it already; start this deployment's period afresh.
        tx.execute("DELETE FROM leases WHERE name = 'job:prune-failed-events'")
    live = make_server(failed_events_retention_days=30)
    deadline = time.monotonic() + 10
    with live.client(workspace.full_key) as api:
        while len(rows := failures(api, eventTypeKey="Old")) > 1 and time.monotonic() < deadline:
            time.sleep(0.05)  # the first run starts with the server, in the background
    assert [row["received"] for row in rows] != [] and len(rows) == 1  # the 1970 one is gone


# -- replay ----------------------------------------------------------------------------------


def _refuse_then_fix(api: httpx.Client, type_key: str, count: int) -> None:
    put_rules(api, type_key, validateParams=True, params=[{"name": "sku"}])
    for index in range(count):
        assert send(api, type_key, email=f"u{index}@b.co").status_code == 400
    assert len(failures(api, eventTypeKey=type_key)) == count
    put_rules(api, type_key, validateParams=False)


def test_replay_after_fixing_the_rules_stores_each_event_exactly_once(
    api: httpx.Client, store: Store, workspace: Workspace
) -> None:
    _refuse_then_fix(api, "Reviewed", 3)
    reply = api.post("/api/v1/failed-events/replay", json={"eventTypeKey": "Reviewed"}).json()
    assert reply["replayed"] == 3 and reply["failed"] == 0
    assert stored(store, workspace.id, "Reviewed") == 3
    again = api.post("/api/v1/failed-events/replay", json={"eventTypeKey": "Reviewed"}).json()
    assert again == {"replayed": 0, "failed": 0, "more": False, "results": []}
    assert stored(store, workspace.id, "Reviewed") == 3
    rows = failures(api, eventTypeKey="Reviewed")
    assert all(row["replayed"] is not None and row["attempts"] == 1 for row in rows)
    # A replayed event happened when it was first sent.
    events = api.get("/api/v1/events", params={"eventTypeKey": "Reviewed"}).json()
    assert sorted(e["occurred"] for e in events) == sorted(row["received"] for row in rows)
    assert all(e["received"] > e["occurred"] for e in events)


def test_concurrent_replays_store_each_event_once(
    server: LiveServer, api: httpx.Client, store: Store, workspace: Workspace
) -> None:
    _refuse_then_fix(api, "Replayed", 30)

    def replay(_: int) -> int:
        with server.client(workspace.full_key) as client:
            response = client.post(
                "/api/v1/failed-events/replay", json={"eventTypeKey": "Replayed"}
            )
            assert response.status_code == 200, response.text
            return int(response.json()["replayed"])

    with ThreadPoolExecutor(max_workers=6) as pool:
        counts = list(pool.map(replay, range(6)))
    assert sum(counts) == 30
    assert stored(store, workspace.id, "Replayed") == 30


def test_events_still_refused_stay_in_the_log_with_their_new_error(
    api: httpx.Client, store: Store, workspace: Workspace
) -> None:
    put_rules(api, "Scored", validateParams=True, params=[{"name": "a"}])
    assert send(api, "Scored", email="x@b.co").status_code == 400
    assert send(api, "Scored", email="y@b.co", a=1).status_code == 200
    put_rules(api, "Scored", validateParams=True, params=[{"name": "b"}])
    reply = api.post("/api/v1/failed-events/replay", json={"eventTypeKey": "Scored"}).json()
    assert reply["replayed"] == 0 and reply["failed"] == 1
    assert '"b"' in reply["results"][0]["error"]
    [row] = failures(api, eventTypeKey="Scored")
    assert row["attempts"] == 1 and row["replayed"] is None and '"b"' in row["error"]


def test_replay_can_pick_ids_or_a_start_time(
    api: httpx.Client, store: Store, workspace: Workspace
) -> None:
    _refuse_then_fix(api, "Picked", 3)
    rows = failures(api, eventTypeKey="Picked")
    chosen = rows[-1]["id"]
    reply = api.post(
        "/api/v1/failed-events/replay", json={"eventTypeKey": "Picked", "ids": [chosen]}
    ).json()
    assert [r["id"] for r in reply["results"]] == [chosen]
    later = api.post(
        "/api/v1/failed-events/replay", json={"eventTypeKey": "Picked", "since": "2999-01-01"}
    ).json()
    assert later["replayed"] == 0
    assert stored(store, workspace.id, "Picked") == 1
    bad = api.post("/api/v1/failed-events/replay", json={"since": "x"})
    assert bad.status_code == 400


def test_a_truncated_body_cannot_be_replayed(make_server: Any, workspace: Workspace) -> None:
    live = make_server(failed_event_max_bytes=30)
    with live.client(workspace.full_key) as api:
        put_rules(api, "Cut", validateParams=True, params=[{"name": "x"}])
        assert send(api, "Cut", email="a@b.co").status_code == 400
        put_rules(api, "Cut", validateParams=False)
        reply = api.post("/api/v1/failed-events/replay", json={"eventTypeKey": "Cut"}).json()
    assert reply["failed"] == 1 and "cannot be replayed" in reply["results"][0]["error"]


def test_the_command_line_replays_failed_events(
    api: httpx.Client, server: LiveServer, store: Store, workspace: Workspace
) -> None:
    _refuse_then_fix(api, "Imported", 2)
    env = {"FOOTFALL_DATABASE_URL": server.settings.resolved_database_url}
    runner = CliRunner()
    args = ["events", "replay-failed", "--type", "Imported", "--workspace", workspace.name]
    result = runner.invoke(cli, [*args, "--json"], env=env)
    assert result.exit_code == 0, result.output
    assert json.loads(result.output.splitlines()[-1])["replayed"] == 2  # after the database line
    again = runner.invoke(cli, args, env=env)
    assert again.exit_code == 0 and "replayed 0 of 0" in again.output
    assert stored(store, workspace.id, "Imported") == 2
    unknown = runner.invoke(cli, [*args[:4], "--workspace", "nope"], env=env)
    assert unknown.exit_code != 0 and "no workspace" in unknown.output


# -- statistics ------------------------------------------------------------------------------


def test_hourly_statistics_count_accepted_and_rejected_by_reason(api: httpx.Client) -> None:
    put_rules(api, "Counted", validateParams=True, params=[{"name": "n"}])
    for _ in range(3):
        assert send(api, "Counted", email="a@b.co", n=1).status_code == 200
    for _ in range(2):
        assert send(api, "Counted", email="a@b.co").status_code == 400
    assert send(api, "Counted", n=1).status_code == 400  # no locator
    [hour] = api.get("/api/v1/event-types/Counted/stats").json()
    assert hour["accepted"] == 3
    assert hour["rejected"] == {"params": 2, "missing_locator": 1}
    assert hour["hour"].endswith(":00:00.000Z")
    assert api.get("/api/v1/event-types/Counted/stats", params={"to": "2001-01-01"}).json() == []
    bad = api.get(
        "/api/v1/event-types/Counted/stats", params={"from": "2030-01-01", "to": "2020-01-01"}
    )
    assert bad.status_code == 400


def test_failures_mentioning_a_contact_are_erased_with_it(
    api: httpx.Client, store: Store, workspace: Workspace
) -> None:
    created = api.post(
        "/api/v1/contact", json={"channels": [{"type": "email", "value": "gone@b.co"}]}
    ).json()["id"]
    put_rules(api, "Erased", validateParams=True, params=[{"name": "x"}])
    assert send(api, "Erased", email="gone@b.co").status_code == 400
    assert send(api, "Erased", email="kept@b.co").status_code == 400
    export = api.get(f"/api/v1/contact/{created}/export").json()
    assert len(export["records"]["failed_events"]) == 1
    assert api.delete(f"/api/v1/contact/{created}", params={"erase": "true"}).status_code == 200
    raws = [row["raw"] for row in failures(api, eventTypeKey="Erased")]
    assert len(raws) == 1 and "kept@b.co" in raws[0]


@pytest.mark.parametrize(
    "path", ["/api/v1/event-types/Bad<Key", "/api/v1/event-types/" + "A" * 101]
)
def test_an_invalid_type_key_in_the_path_is_400(api: httpx.Client, path: str) -> None:
    assert api.get(path).status_code == 400
    assert api.put(path, json={}).status_code == 400


# -- hostile input found in review -------------------------------------------------------------


def test_a_nul_in_a_type_key_is_refused_and_logged_without_a_500(api: httpx.Client) -> None:
    body = {"eventTypeKey": "A\u0000", "keyValue": "k"}
    assert api.post("/api/v2/event", json=body).status_code == 400
    past = {
        "events": [
            {"eventTypeKey": "A\u0000", "keyValue": "k", "occurred": "2024-01-01"},
            {"eventTypeKey": "Fine", "keyValue": "k", "occurred": "2024-01-01"},
        ]
    }
    reply = api.post("/api/v2/past_events", json=past)
    assert reply.status_code == 200, reply.text
    assert [r["status"] for r in reply.json()["results"]] == ["INVALID_EVENT", "ACCEPTED"]
    logged = failures(api, reason="invalid")
    assert len(logged) == 2 and all(row["eventTypeKey"] is None for row in logged)
    assert api.get("/api/v1/failed-events", params={"eventTypeKey": "A\u0000"}).status_code == 400
    assert api.get("/api/v1/failed-events", params={"reason": "x\u0000"}).status_code == 400


def test_a_lone_surrogate_in_a_schema_error_is_a_400(api: httpx.Client) -> None:
    schema = {"properties": {"p": {"additionalProperties": {"type": "string"}}}}
    put_rules(api, "Odd", jsonSchema=schema)
    response = send(api, "Odd", 1, email="a@b.co", p='{"\\ud800": 1}')
    assert response.status_code == 400, response.text
    [row] = failures(api, eventTypeKey="Odd")
    assert row["reason"] == "schema"


def test_a_schema_that_cannot_be_applied_refuses_events_instead_of_failing(
    api: httpx.Client,
) -> None:
    refused = api.put("/api/v1/event-types/Reffed", json={"jsonSchema": {"$ref": "#/nope"}})
    assert refused.status_code == 400 and "cannot be applied" in refused.text
    remote = {"properties": {"p": {"$ref": "https://example.invalid/s.json"}}}
    put_rules(api, "Reffed", jsonSchema=remote)
    assert send(api, "Reffed", email="a@b.co").status_code == 200  # p absent: not followed
    response = send(api, "Reffed", email="a@b.co", p=1)
    assert response.status_code == 400 and "could not be applied" in response.text
    assert [row["reason"] for row in failures(api, eventTypeKey="Reffed")] == ["schema"]


def test_replay_keeps_the_past_events_age_limit(make_server: Any, workspace: Workspace) -> None:
    live = make_server(past_events_max_age_days=30)
    with live.client(workspace.full_key) as api:
        old = {"events": [{"eventTypeKey": "Aged", "keyValue": "k", "occurred": "2001-01-01"}]}
        reply = api.post("/api/v2/past_events", json=old).json()
        assert reply["results"][0]["status"] == "OCCURRED_TIME_TOO_DEPTH"
        again = api.post("/api/v1/failed-events/replay", json={"eventTypeKey": "Aged"}).json()
    assert again["replayed"] == 0 and again["failed"] == 1


def test_an_odd_failed_event_does_not_block_the_replay_of_others(
    api: httpx.Client, store: Store, workspace: Workspace
) -> None:
    _refuse_then_fix(api, "Mixed", 2)
    with store.db.write() as tx:
        tx.execute(
            "INSERT INTO failed_events (workspace_id, event_type_key, route, reason, error, raw, "
            "raw_bytes, received_us, attempts) VALUES (?, 'Mixed', 'v2/past_events', 'invalid', "
            "'e', ?, 27, 1, 0)",
            workspace.id,
            '{"eventTypeKey":"Mixed"},{}',
        )
    reply = api.post("/api/v1/failed-events/replay", json={"eventTypeKey": "Mixed"}).json()
    assert reply["replayed"] == 2 and reply["failed"] == 1
    assert stored(store, workspace.id, "Mixed") == 2


@pytest.mark.parametrize(
    "body",
    [
        {"eventTypeKey": "T", "ids": list(range(1, 1002))},
        {"eventTypeKey": "T", "ids": [2**63]},
        {"eventTypeKey": "T", "ids": [0]},
        {"eventTypeKey": "T\u0000"},
        {"ids": [1]},
    ],
)
def test_replay_requests_are_bounded(api: httpx.Client, body: dict[str, Any]) -> None:
    assert api.post("/api/v1/failed-events/replay", json=body).status_code == 400


def test_rules_set_before_the_first_event_show_no_first_seen(api: httpx.Client) -> None:
    view = put_rules(api, "NotYet", validateParams=True, params=[{"name": "a"}])
    assert view["count"] == 0 and view["firstSeen"] is None and view["lastSeen"] is None


def test_a_backtracking_pattern_refuses_its_own_event_and_delays_no_one(
    server: LiveServer, workspace: Workspace, other_workspace: Workspace
) -> None:
    """``^(a+)+$`` backtracks exponentially on Python's re (minutes at 60 characters); on RE2
    the event of the workspace that set it is refused at once, and other workspaces go on."""
    with server.client(workspace.full_key) as b, server.client(other_workspace.full_key) as a:
        schema = {
            "type": "object",
            "properties": {"name": {"type": "string", "pattern": "^(a+)+$"}},
            "patternProperties": {"^(x+)+$": {"type": "integer"}},
            "additionalProperties": {"type": ["string", "integer"]},
        }
        put_rules(b, "Boom", jsonSchema=schema)
        poison = send(b, "Boom", email="b@b.co", name="a" * 60 + "!")
        assert poison.status_code == 400, poison.text
        assert "does not match" in poison.text
        extra: dict[str, Any] = {"x" * 60 + "!": "ok"}
        names = send(b, "Boom", email="b@b.co", name="aaa", **extra)
        assert names.status_code == 200, names.text  # the name did not match: additional
        wrong: dict[str, Any] = {"x" * 60: "one"}
        typed = send(b, "Boom", email="b@b.co", name="aaa", **wrong)
        assert typed.status_code == 400 and "is not of type 'integer'" in typed.text
        assert send(b, "Boom", email="b@b.co", name="a" * 10_000).status_code == 200
        assert send(a, "Boom", email="a@a.co", name="a" * 60 + "!").status_code == 200
        logged = failures(b, eventTypeKey="Boom")
        assert len(logged) == 2


@pytest.mark.parametrize(
    "pattern",
    ["(?=a)b", "(a)\\1", "(?<!x)y", "(?:a{1000}){1000}"],
    ids=["ahead", "backref", "behind", "huge"],
)
def test_patterns_without_a_linear_time_guarantee_are_refused(
    api: httpx.Client, pattern: str
) -> None:
    put_rules(api, "Guarded", jsonSchema={"type": "object"})
    schemas: list[dict[str, Any]] = [
        {"properties": {"name": {"pattern": pattern}}},
        {"patternProperties": {pattern: {}}},
    ]
    for schema in schemas:
        response = api.put("/api/v1/event-types/Guarded", json={"jsonSchema": schema})
        assert response.status_code == 400, response.text
        assert "RE2" in response.text and "not supported" in response.text
    view = api.get("/api/v1/event-types/Guarded").json()
    assert view["settings"]["jsonSchema"] == {"type": "object"}
