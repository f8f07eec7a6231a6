"""The message template API on the shared servers, on SQLite and PostgreSQL: create, list, get,
update, delete; errors when saved naming the part and the line; the channels' parts; previews
from a stored event and contact (the workspace's own only) or sample data."""

from __future__ import annotations

import json
from typing import Any

import httpx

from conftest import LiveServer, Workspace

TEMPLATES = "/api/v1/templates"
VELOCITY_CART = (
    "<table>\n"
    "#foreach($item in $data.get('products'))\n"
    "<tr><td>$item.get('productId')</td><td>$item.get('quantity')</td>"
    "<td>$item.get('price') $data.get('currencyCode')</td></tr>\n"
    "#end\n"
    "</table>"
)


def email(name: str = "Abandoned cart", **fields: Any) -> dict[str, Any]:
    return {
        "name": name,
        "channel": "email",
        "syntax": "velocity",
        "subject": "$!contact.firstName, your cart is waiting",
        "html": VELOCITY_CART,
        **fields,
    }


def created(api: httpx.Client, body: dict[str, Any]) -> dict[str, Any]:
    answer = api.post(TEMPLATES, json=body)
    assert answer.status_code == 201, answer.text
    found: dict[str, Any] = answer.json()
    return found


def test_create_get_list_update_delete(api: httpx.Client) -> None:
    made = created(api, email())
    assert (made["name"], made["channel"], made["syntax"]) == (
        "Abandoned cart",
        "email",
        "velocity",
    )
    assert made["html"] == VELOCITY_CART and made["text"] is None and made["transactional"] is False
    url = f"{TEMPLATES}/{made['id']}"
    assert api.get(url).json() == made
    assert [t["id"] for t in api.get(TEMPLATES).json()] == [made["id"]]

    changed = api.put(url, json=email(text="Your cart: $data.get('products').size() items"))
    assert changed.status_code == 200, changed.text
    assert changed.json()["text"].startswith("Your cart") and changed.json()["id"] == made["id"]

    assert api.delete(url).status_code == 204
    assert api.get(url).status_code == 404
    assert api.get(TEMPLATES).json() == []


def test_an_error_is_reported_when_saved_with_the_part_and_line(api: httpx.Client) -> None:
    broken = email(html="<p>\n#if($data.get('x'))\nyes\n</p>")
    answer = api.post(TEMPLATES, json=broken)
    assert answer.status_code == 400
    assert answer.text.startswith("html, line 4: ")
    native = {"name": "n", "channel": "sms", "text": "Hi\n{{ contact.firstName }"}
    answer = api.post(TEMPLATES, json=native)
    assert answer.status_code == 400 and answer.text.startswith("text, line 2: "), answer.text
    escape = {"name": "x", "channel": "sms", "syntax": "velocity", "text": "$data.__class__"}
    answer = api.post(TEMPLATES, json=escape)
    assert answer.status_code == 400 and "names starting with _" in answer.text
    assert api.get(TEMPLATES).json() == []


def test_each_channel_has_its_parts(api: httpx.Client) -> None:
    refusals = [
        ({"name": "a", "channel": "email", "html": "<p>x</p>"}, "needs a subject"),
        ({"name": "a", "channel": "email", "subject": "s"}, "needs an html or a text body"),
        ({"name": "a", "channel": "email", "subject": "a\nb", "text": "t"}, "one line"),
        ({"name": "a", "channel": "sms", "subject": "s", "text": "t"}, "has no subject"),
        ({"name": "a", "channel": "messenger", "html": "<b>x</b>"}, "has no html"),
        ({"name": "a", "channel": "sms"}, "needs a text"),
        ({"name": "a", "channel": "fax", "text": "t"}, "channel"),
        ({"name": "", "channel": "sms", "text": "t"}, "name must be"),
        ({"name": "a", "channel": "sms", "text": "t", "extra": 1}, "unknown field"),
        ({"name": "a", "channel": "sms", "text": "t", "syntax": "mustache"}, "syntax"),
    ]
    for body, reason in refusals:
        answer = api.post(TEMPLATES, json=body)
        assert answer.status_code == 400, (body, answer.text)
        assert reason in answer.text, (body, answer.text)
    sms = created(api, {"name": "sms", "channel": "sms", "text": "Hi {{ contact.firstName }}"})
    assert sms["subject"] is None and sms["syntax"] == "native"


def test_names_are_unique_in_a_workspace(api: httpx.Client) -> None:
    first = created(api, email("Cart"))
    assert api.post(TEMPLATES, json=email("Cart")).status_code == 409
    second = created(api, email("Other"))
    clash = api.put(f"{TEMPLATES}/{second['id']}", json=email("Cart"))
    assert clash.status_code == 409 and str(first["id"]) in clash.text


def test_preview_from_a_stored_event_and_its_contact(api: httpx.Client) -> None:
    products = [{"productId": "WS01-L-Green", "quantity": 1, "price": 45.5}]
    event = {
        "eventTypeKey": "cartUpdated",
        "keyValue": "preview@example.com",
        "params": [
            {"name": "email", "value": "preview@example.com"},
            {"name": "products", "value": json.dumps(products)},  # the seed's string of JSON
            {"name": "currencyCode", "value": "USD"},
            {"name": "recycleStateId", "value": "d59c6e6d"},
        ],
    }
    assert api.post("/api/v2/event", json=event).status_code == 200
    [stored] = api.get("/api/v1/events").json()
    template = created(api, email(text="{{ nothing }}$data.get('currencyCode')"))
    url = f"{TEMPLATES}/{template['id']}/preview"

    shown = api.post(url, json={"eventId": stored["id"]})
    assert shown.status_code == 200, shown.text
    rows = [line for line in shown.json()["html"].splitlines() if line.startswith("<tr>")]
    assert rows == ["<tr><td>WS01-L-Green</td><td>1</td><td>45.5 USD</td></tr>"]
    assert shown.json()["subject"] == ", your cart is waiting"  # no first name known

    contact = {"firstName": "Olena"}
    sample = api.post(url, json={"event": {"params": {"products": []}}, "contact": contact})
    assert sample.status_code == 200, sample.text
    assert sample.json()["subject"] == "Olena, your cart is waiting"
    assert "<tr>" not in sample.json()["html"]


def test_preview_refusals(api: httpx.Client, server: LiveServer, workspace: Workspace) -> None:
    template = created(api, {"name": "m", "channel": "sms", "text": "{{ event.params.n | money }}"})
    url = f"{TEMPLATES}/{template['id']}/preview"
    failed = api.post(url, json={"event": {"params": {"n": "many"}}})
    assert failed.status_code == 422 and "text: 'many' is not a number" in failed.text
    assert api.post(url, json={"eventId": 999_999_999}).status_code == 404
    assert api.post(url, json={"contactId": 999_999_999}).status_code == 404
    assert api.post(url, json={"eventId": "x"}).status_code == 400
    assert api.post(f"{TEMPLATES}/999999/preview", json={}).status_code == 404
    assert api.post(url, json={"event": {"params": {"n": 3}}}).json() == {"text": "3.00"}
    dated = created(api, {"name": "d", "channel": "sms", "text": "{{ 0 | date('HH:mm') }}"})
    shown = f"{TEMPLATES}/{dated['id']}/preview"
    for zone, hour in [
        ("America", "00:00"),
        ("../../etc/passwd", "00:00"),
        ("Asia/Tokyo", "09:00"),
    ]:
        answer = api.post(shown, json={"contact": {"timeZone": zone}})  # a directory, a path
        assert answer.status_code == 200 and answer.json() == {"text": hour}, answer.text


def test_workspaces_are_apart_and_events_keys_cannot_manage_templates(
    server: LiveServer, workspace: Workspace, other_workspace: Workspace
) -> None:
    with (
        server.client(other_workspace.full_key) as theirs,
        server.client(workspace.full_key) as ours,
    ):
        mine = created(ours, email())
        assert theirs.get(f"{TEMPLATES}/{mine['id']}").status_code == 404
        assert theirs.get(TEMPLATES).json() == []
        assert theirs.delete(f"{TEMPLATES}/{mine['id']}").status_code == 404
        assert ours.get(f"{TEMPLATES}/{mine['id']}").status_code == 200
    with server.client(workspace.events_key) as events_only:
        assert events_only.get(TEMPLATES).status_code == 403
