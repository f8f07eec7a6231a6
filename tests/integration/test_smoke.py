from __future__ import annotations

import httpx


def test_event_is_stored_and_listed(api: httpx.Client) -> None:
    body = {
        "eventTypeKey": "pageViewed",
        "keyValue": "example@email.com",
        "params": [
            {"name": "email", "value": "example@email.com"},
            {"name": "page", "value": '{"location":"https://example.com"}'},
        ],
    }
    response = api.post("/api/v2/event", json=body)
    assert response.status_code == 200
    assert response.content == b""
    events = api.get("/api/v1/events").json()
    assert [e["eventTypeKey"] for e in events] == ["pageViewed"]
    assert events[0]["params"][1]["value"] == {"location": "https://example.com"}
    assert events[0]["contactId"] is not None
