"""The webhook API's edges on the shared servers: each invalid field refused naming it, scopes,
workspaces kept apart, the secret shown once and kept by PUT, basicAuth's password never shown.
Every test runs on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from conftest import LiveServer, Workspace
from receiver import Received, Receiver, verify

HOOKS = "/api/v1/webhooks"
# Nothing listens on the discard port of loopback: subscriptions made with verify=false only.
SILENT = "http://127.0.0.1:9/hook"
PASSWORD = "pa55-word-never-shown"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


def created(api: httpx.Client, document: dict[str, Any], check: bool = False) -> dict[str, Any]:
    answer = api.post(HOOKS, json=document, params={"verify": str(check).lower()})
    assert answer.status_code == 201, answer.text
    body: dict[str, Any] = answer.json()
    return body


def listed(api: httpx.Client) -> list[dict[str, Any]]:
    answer = api.get(HOOKS)
    assert answer.status_code == 200, answer.text
    body: list[dict[str, Any]] = answer.json()
    return body


INVALID: list[tuple[str, Any, str]] = [
    ("url missing", {}, "url"),
    ("url null", {"url": None}, "url"),
    ("url not a string", {"url": 8080}, "url"),
    ("url blank", {"url": "   "}, "url"),
    ("url ftp", {"url": "ftp://127.0.0.1/hook"}, "url"),
    ("url not absolute", {"url": "127.0.0.1/hook"}, "url"),
    ("url no host", {"url": "http:///hook"}, "url"),
    ("url userinfo", {"url": f"http://user:{PASSWORD}@127.0.0.1:9/hook"}, "url"),
    ("url too long", {"url": "http://127.0.0.1:9/" + "a" * 2100}, "url"),
    ("eventTypes a string", {"url": SILENT, "eventTypes": "ordered"}, "eventTypes"),
    ("eventTypes an object", {"url": SILENT, "eventTypes": {"a": 1}}, "eventTypes"),
    ("eventTypes numbers", {"url": SILENT, "eventTypes": [1, 2]}, "eventTypes"),
    ("eventTypes empty key", {"url": SILENT, "eventTypes": [""]}, "eventTypes"),
    (
        "eventTypes too many",
        {"url": SILENT, "eventTypes": [f"t{i}" for i in range(201)]},
        "eventTypes",
    ),
    ("eventTypes key too long", {"url": SILENT, "eventTypes": ["k" * 101]}, "eventTypes"),
    ("streams empty", {"url": SILENT, "streams": []}, "streams"),
    ("streams unknown", {"url": SILENT, "streams": ["events", "audit"]}, "streams"),
    ("streams a string", {"url": SILENT, "streams": "events"}, "streams"),
    ("batchSize 0", {"url": SILENT, "batchSize": 0}, "batchSize"),
    ("batchSize 1001", {"url": SILENT, "batchSize": 1001}, "batchSize"),
    ("batchSize negative", {"url": SILENT, "batchSize": -1}, "batchSize"),
    ("batchSize a string", {"url": SILENT, "batchSize": "10"}, "batchSize"),
    ("batchSize true", {"url": SILENT, "batchSize": True}, "batchSize"),
    ("batchSize a float", {"url": SILENT, "batchSize": 10.5}, "batchSize"),
    ("basicAuth a string", {"url": SILENT, "basicAuth": f"u:{PASSWORD}"}, "basicAuth"),
    ("basicAuth a list", {"url": SILENT, "basicAuth": ["u", PASSWORD]}, "basicAuth"),
    ("basicAuth no password", {"url": SILENT, "basicAuth": {"username": "u"}}, "basicAuth"),
    ("basicAuth no username", {"url": SILENT, "basicAuth": {"password": PASSWORD}}, "basicAuth"),
    (
        "basicAuth extra key",
        {"url": SILENT, "basicAuth": {"username": "u", "password": PASSWORD, "realm": "x"}},
        "basicAuth",
    ),
    (
        "basicAuth password not a string",
        {"url": SILENT, "basicAuth": {"username": "u", "password": 12345}},
        "basicAuth.password",
    ),
    (
        "basicAuth username with a colon",
        {"url": SILENT, "basicAuth": {"username": "a:b", "password": PASSWORD}},
        "basicAuth.username",
    ),
    (
        "basicAuth password too long",
        {"url": SILENT, "basicAuth": {"username": "u", "password": "p" * 201}},
        "basicAuth.password",
    ),
    (
        "basicAuth username with NUL",
        {"url": SILENT, "basicAuth": {"username": "u\u0000", "password": PASSWORD}},
        "basicAuth.username",
    ),
    (
        "basicAuth password with NUL",
        {"url": SILENT, "basicAuth": {"username": "u", "password": PASSWORD + "\u0000"}},
        "basicAuth.password",
    ),
    (
        "basicAuth password with a line break",
        {"url": SILENT, "basicAuth": {"username": "u", "password": PASSWORD + "\r\nX-A: b"}},
        "basicAuth.password",
    ),
    ("url with NUL", {"url": SILENT + "\u0000"}, "url"),
    ("unknown field", {"url": SILENT, "secret": "whsec_mine"}, "secret"),
    ("snake_case field", {"url": SILENT, "batch_size": 10}, "batch_size"),
    ("body a list", [{"url": SILENT}], "body"),
    ("body a string", "http://127.0.0.1:9/hook", "body"),
    ("body null", None, "body"),
]
MALFORMED: list[tuple[str, bytes]] = [
    ("truncated", b'{"url": "http://127.0.0.1:9/hook"'),
    ("empty", b""),
    ("not JSON", b"url=http://127.0.0.1:9/hook"),
    ("trailing comma", b'{"url": "http://127.0.0.1:9/hook",}'),
    ("invalid UTF-8", b'{"url": "http://127.0.0.1:9/\xff"}'),
]


def _refused(answer: httpx.Response, field: str) -> None:
    assert answer.status_code == 400, (answer.status_code, answer.text)
    assert field.lower() in answer.text.lower(), answer.text
    assert PASSWORD not in answer.text


@pytest.mark.parametrize(
    ("document", "field"), [(d, f) for _, d, f in INVALID], ids=[n for n, _, _ in INVALID]
)
def test_each_invalid_field_is_refused_naming_it(
    api: httpx.Client, document: Any, field: str
) -> None:
    hook = created(api, {"url": SILENT, "eventTypes": ["kept"]})
    body = json.dumps(document).encode()
    for check in ("false", "true"):  # refused before any check of where the URL leads
        _refused(api.post(HOOKS, content=body, params={"verify": check}), field)
        _refused(api.put(f"{HOOKS}/{hook['id']}", content=body, params={"verify": check}), field)
    assert [h["id"] for h in listed(api)] == [hook["id"]]  # nothing created
    shown = api.get(f"{HOOKS}/{hook['id']}").json()
    assert (shown["url"], shown["eventTypes"]) == (SILENT, ["kept"])  # nothing changed


@pytest.mark.parametrize("body", [b for _, b in MALFORMED], ids=[n for n, _ in MALFORMED])
def test_malformed_json_is_refused(api: httpx.Client, body: bytes) -> None:
    hook = created(api, {"url": SILENT})
    for answer in (
        api.post(HOOKS, content=body, params={"verify": "false"}),
        api.put(f"{HOOKS}/{hook['id']}", content=body, params={"verify": "false"}),
    ):
        assert answer.status_code == 400, answer.text
        assert "malformed JSON in body" in answer.text
    assert [h["id"] for h in listed(api)] == [hook["id"]]


def test_verify_must_be_true_or_false(api: httpx.Client) -> None:
    hook = created(api, {"url": SILENT})
    for answer in (
        api.post(HOOKS, json={"url": SILENT}, params={"verify": "no"}),
        api.put(f"{HOOKS}/{hook['id']}", json={"url": SILENT}, params={"verify": "1"}),
    ):
        _refused(answer, "verify")
    assert len(listed(api)) == 1


@pytest.mark.parametrize("given", ["0", "1001", "-1", "ten"])
def test_the_deliveries_limit_is_checked(api: httpx.Client, given: str) -> None:
    hook = created(api, {"url": SILENT})
    answer = api.get(f"{HOOKS}/{hook['id']}/deliveries", params={"limit": given})
    assert answer.status_code == 400 and "limit" in answer.text, answer.text
    assert api.get(f"{HOOKS}/{hook['id']}/deliveries", params={"limit": "1000"}).json() == []


@pytest.mark.parametrize("given", ["0", "-1", "abc", "1.5", str(2**63), "9" * 30])
def test_a_bad_id_in_the_path_is_refused(api: httpx.Client, given: str) -> None:
    for method, path in [("GET", ""), ("PUT", ""), ("DELETE", ""), ("POST", "/enable")]:
        answer = api.request(method, f"{HOOKS}/{given}{path}", json={"url": SILENT})
        assert answer.status_code == 400, (method, given, answer.text)
        assert "webhook id" in answer.text


def test_valid_edge_values_are_accepted(api: httpx.Client) -> None:
    hook = created(
        api,
        {
            "url": "  http://127.0.0.1:9/" + "a" * 1900 + "  ",  # trimmed, within 2,048
            "eventTypes": [f"t{i}" for i in range(200)],
            "streams": ["identity", "events", "identity"],
            "batchSize": 1000,
            "basicAuth": {"username": "", "password": ""},
        },
    )
    shown = api.get(f"{HOOKS}/{hook['id']}").json()
    assert shown["url"] == "http://127.0.0.1:9/" + "a" * 1900
    assert len(shown["eventTypes"]) == 200 and shown["streams"] == ["events", "identity"]
    assert shown["batchSize"] == 1000 and shown["basicAuth"] == {"username": ""}
    one = created(api, {"url": SILENT, "batchSize": 1, "eventTypes": None, "streams": None})
    shown = api.get(f"{HOOKS}/{one['id']}").json()
    assert (shown["batchSize"], shown["eventTypes"], shown["streams"]) == (1, [], ["events"])
    assert shown["basicAuth"] is None
    assert listed(api) == [api.get(f"{HOOKS}/{h['id']}").json() for h in (hook, one)]


def _routes(hook_id: int) -> list[tuple[str, str]]:
    one = f"{HOOKS}/{hook_id}"
    return [
        ("POST", HOOKS),
        ("GET", HOOKS),
        ("GET", one),
        ("PUT", one),
        ("DELETE", one),
        ("POST", f"{one}/enable"),
        ("POST", f"{one}/disable"),
        ("POST", f"{one}/replay"),
        ("GET", f"{one}/deliveries"),
    ]


def test_an_events_key_is_forbidden_on_every_webhook_route(
    server: LiveServer, api: httpx.Client, workspace: Workspace
) -> None:
    hook = created(api, {"url": SILENT})
    with server.client(workspace.events_key) as events, server.client() as anonymous:
        for method, path in _routes(hook["id"]):
            answer = events.request(method, path, json={"url": SILENT}, params={"verify": "false"})
            assert answer.status_code == 403, (method, path, answer.text)
            answer = anonymous.request(method, path, json={"url": SILENT})
            assert answer.status_code == 401, (method, path, answer.text)
    shown = listed(api)
    assert [(h["id"], h["status"], h["url"]) for h in shown] == [(hook["id"], "active", SILENT)]


def test_another_workspaces_subscription_is_not_found(
    server: LiveServer,
    api: httpx.Client,
    other_workspace: Workspace,
    receiver: Receiver,
) -> None:
    mine = created(api, {"url": SILENT})
    with server.client(other_workspace.full_key) as other:
        theirs = created(other, {"url": receiver.url, "eventTypes": ["theirs"]}, check=True)
        before = other.get(f"{HOOKS}/{theirs['id']}").json()
        checks = len(receiver.requests)
        for method, path in _routes(theirs["id"])[2:]:
            for check in ("false", "true"):
                answer = api.request(
                    method, path, json={"url": receiver.url}, params={"verify": check}
                )
                assert answer.status_code == 404, (method, path, answer.text)
                assert "no such webhook" in answer.text.lower()
        assert len(receiver.requests) == checks  # a PUT to it never reached its URL
        assert [h["id"] for h in listed(api)] == [mine["id"]]
        assert other.get(f"{HOOKS}/{theirs['id']}").json() == before  # untouched
        assert [h["id"] for h in listed(other)] == [theirs["id"]]


def test_an_id_never_used_is_not_found(api: httpx.Client) -> None:
    hook = created(api, {"url": SILENT})
    for method, path in _routes(hook["id"] + 10**9)[2:]:
        answer = api.request(method, path, json={"url": SILENT}, params={"verify": "false"})
        assert answer.status_code == 404, (method, path, answer.text)


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def _post_wait(receiver: Receiver, count: int) -> list[Received]:
    def enough(requests: list[Received]) -> bool:
        ok = [r for r in requests if r.method == "POST" and r.answered == 200]
        return sum(len(r.json()) for r in ok) >= count

    receiver.wait_for(enough, 15)
    return [r for r in receiver.posts() if r.answered == 200]


def test_put_keeps_the_secret_and_neither_secret_nor_password_is_shown_again(
    api: httpx.Client, receiver: Receiver
) -> None:
    auth = {"username": "hooker", "password": PASSWORD}
    answers: list[httpx.Response] = []
    answer = api.post(HOOKS, json={"url": receiver.url, "eventTypes": ["x"], "basicAuth": auth})
    assert answer.status_code == 201, answer.text
    assert set(answer.json()) == {"id", "secret"}
    hook_id, secret = answer.json()["id"], answer.json()["secret"]
    assert secret.startswith("whsec_")
    (check,) = receiver.requests  # the URL was checked with a GET, with the credentials
    assert check.method == "GET" and check.headers["authorization"] == _basic("hooker", PASSWORD)

    new_auth = {"username": "hooker2", "password": PASSWORD + "-2"}
    document = {"url": receiver.url, "eventTypes": ["kept"], "batchSize": 1, "basicAuth": new_auth}
    answers.append(api.put(f"{HOOKS}/{hook_id}", json=document))
    assert answers[-1].status_code == 200, answers[-1].text
    assert answers[-1].json()["batchSize"] == 1
    assert answers[-1].json()["basicAuth"] == {"username": "hooker2"}
    answers.append(api.get(f"{HOOKS}/{hook_id}"))
    assert answers[-1].json() == answers[-2].json() | {"pending": answers[-1].json()["pending"]}

    keys = []
    for n in range(2):
        event = {"eventTypeKey": "kept", "keyValue": f"put-{n}@example.com", "params": []}
        assert api.post("/api/v2/event", json=event).status_code == 200
        keys.append(event["keyValue"])
    posts = _post_wait(receiver, 2)
    # Signed with the secret given at creation: PUT kept it.
    assert [item["keyValue"] for post in posts for item in verify(secret, post)] == keys
    assert all(len(post.json()) == 1 for post in posts)  # the new batch size
    assert {p.headers["authorization"] for p in posts} == {_basic("hooker2", PASSWORD + "-2")}

    deadline = time.monotonic() + 10
    while len((log := api.get(f"{HOOKS}/{hook_id}/deliveries")).json()) < 2:  # settled after
        assert time.monotonic() < deadline, log.text
        time.sleep(0.05)
    assert [a["statusCode"] for a in log.json()] == [200, 200]
    answers.append(log)
    answers += [
        api.get(HOOKS),
        api.get(f"{HOOKS}/{hook_id}"),
        api.post(f"{HOOKS}/{hook_id}/disable"),
        api.post(f"{HOOKS}/{hook_id}/enable"),
        api.post(f"{HOOKS}/{hook_id}/replay"),
    ]
    secret_bytes = secret.removeprefix("whsec_")
    for shown in answers:
        assert shown.status_code == 200, shown.text
        assert secret_bytes not in shown.text and "secret" not in shown.json()
        assert PASSWORD not in shown.text and "password" not in shown.text


def test_delete_then_get_is_not_found(api: httpx.Client) -> None:
    kept = created(api, {"url": SILENT})
    gone = created(api, {"url": SILENT, "streams": ["identity"]})
    assert api.delete(f"{HOOKS}/{gone['id']}").status_code == 204
    for method, path in _routes(gone["id"])[2:]:
        answer = api.request(method, path, json={"url": SILENT}, params={"verify": "false"})
        assert answer.status_code == 404, (method, path, answer.text)
    assert [h["id"] for h in listed(api)] == [kept["id"]]
    assert api.get(f"{HOOKS}/{kept['id']}").status_code == 200
