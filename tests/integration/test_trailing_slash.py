"""Every route answers the same with or without a trailing slash, never with a redirect."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable

import httpx
import pytest

from footfall.web.app import all_operations
from footfall.web.routing import Operation

OPERATIONS = all_operations()


def _contact(api: httpx.Client) -> str:
    """A fresh contact of the workspace, so that a DELETE of each form finds one to delete."""
    response = api.post("/api/v1/contact", json={"externalCustomerId": uuid.uuid4().hex})
    assert response.status_code == 200, response.text
    return str(response.json()["id"])


def _webhook(api: httpx.Client) -> str:
    """A fresh subscription (to a type nobody sends, so nothing is ever delivered)."""
    hook = {"url": "http://127.0.0.1:9/hook", "eventTypes": ["neverSent"]}
    response = api.post("/api/v1/webhooks?verify=false", json=hook)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _workflow(api: httpx.Client) -> str:
    """A fresh workflow (disabled: it starts no run)."""
    flow = {
        "name": uuid.uuid4().hex,
        "start": {"event": "neverSent"},
        "blocks": [{"id": "done", "type": "end"}],
        "edges": [{"from": "start", "to": "done"}],
    }
    response = api.post("/api/v1/workflows", json=flow)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _template(api: httpx.Client) -> str:
    """A fresh message template."""
    body = {"name": uuid.uuid4().hex, "channel": "sms", "text": "Hi {{ contact.firstName }}"}
    response = api.post("/api/v1/templates", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _run_path(api: httpx.Client, path: str) -> str:
    """``path`` with a workflow and one of its runs (started by an event, waiting on a timer)."""
    flow = {
        "name": uuid.uuid4().hex,
        "start": {"event": "trailing"},
        "blocks": [{"id": "wait", "type": "timer", "delay": "1h"}, {"id": "done", "type": "end"}],
        "edges": [{"from": "start", "to": "wait"}, {"from": "wait", "to": "done"}],
    }
    made = api.post("/api/v1/workflows", json=flow, params={"enabled": "true"})
    assert made.status_code == 201, made.text
    workflow = made.json()["id"]
    who = f"{uuid.uuid4().hex[:8]}@example.com"
    event = {
        "eventTypeKey": "trailing",
        "keyValue": who,
        "params": [{"name": "email", "value": who}],
    }
    assert api.post("/api/v2/event", json=event).status_code == 200
    deadline = time.monotonic() + 15
    while not (runs := api.get(f"/api/v1/workflows/{workflow}/runs").json()):
        assert time.monotonic() < deadline, "no run started"
        time.sleep(0.05)
    return path.replace("{workflow_id}", str(workflow)).replace("{run_id}", str(runs[0]["id"]))


def _path(api: httpx.Client, op: Operation) -> str:
    if "{run_id}" in op.path:
        return _run_path(api, op.path)
    made: dict[str, Callable[[], str]] = {
        "key": lambda: "visit",
        "webhook_id": lambda: _webhook(api),
        "workflow_id": lambda: _workflow(api),
        "template_id": lambda: _template(api),
    }
    return re.sub(r"\{(\w+)\}", lambda m: made.get(m[1], lambda: _contact(api))(), op.path)


def _send(api: httpx.Client, op: Operation, path: str) -> httpx.Response:
    body: dict[str, object] | None = {} if op.method in ("POST", "PUT") else None
    return api.request(op.method, path, json=body)


@pytest.mark.parametrize("op", OPERATIONS, ids=[f"{op.method} {op.path}" for op in OPERATIONS])
def test_each_route_answers_with_a_trailing_slash_too(api: httpx.Client, op: Operation) -> None:
    assert api.post("/api/v2/event", json={"eventTypeKey": "visit", "keyValue": "k"}).is_success
    path = _path(api, op)
    bare = _send(api, op, path)
    slashed = _send(api, op, (path if op.method != "DELETE" else _path(api, op)) + "/")
    assert slashed.status_code == bare.status_code != 307, (bare.text, slashed.text)
    if op.method == "GET" and op.path != "/metrics":
        assert bare.status_code == 200, bare.text
        assert slashed.content == bare.content
