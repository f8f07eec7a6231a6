"""Generate event v1/v2 over HTTP: accepted requests, what is stored, keyValue derivation, event
types, workspace isolation and metrics. Every test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from conftest import NO_TLS_HERE

ROUTES = ["/api/v2/event", "/api/v2/event/", "/api/v1/event", "/api/v1/event/"]


def stored(api: httpx.Client, **filters: Any) -> list[dict[str, Any]]:
    """The workspace's events, newest first."""
    response = api.get("/api/v1/events", params=filters)
    assert response.status_code == 200, response.text
    events: list[dict[str, Any]] = response.json()
    return events


def params_of(event: dict[str, Any]) -> dict[str, Any]:
    return {p["name"]: p["value"] for p in event["params"]}


def accept(api: httpx.Client, body: Any, route: str = "/api/v2/event") -> None:
    response = api.post(route, json=body)
    assert response.status_code == 200, response.text
    assert response.content == b""


def only_event(api: httpx.Client) -> dict[str, Any]:
    events = stored(api)
    assert len(events) == 1, events
    return events[0]


def contact_of(api: httpx.Client, email: str) -> int:
    """A contact of the api's workspace, created by an event that carries ``email``."""
    accept(api, {"eventTypeKey": "signup", "params": [{"name": "email", "value": email}]})
    event = stored(api, eventTypeKey="signup")[0]
    assert isinstance(event["contactId"], int)
    return int(event["contactId"])


# -- 1. routes, empty 200, unknown fields, params decoding ------------------------------------


@pytest.mark.parametrize("route", ROUTES)
def test_every_route_answers_200_with_an_empty_body_and_stores_the_event(
    api: httpx.Client, route: str
) -> None:
    body = {
        "eventTypeKey": "pageViewed",
        "keyValue": "example@email.com",
        "params": [
            {"name": "email", "value": "example@email.com"},
            {"name": "page", "value": json.dumps({"location": "https://example.com/a"})},
        ],
    }
    response = api.post(route, json=body)

    assert response.status_code == 200, response.text
    assert response.content == b""
    event = only_event(api)
    assert event["eventTypeKey"] == "pageViewed"
    assert event["keyValue"] == "example@email.com"
    assert event["source"] == "live"
    assert isinstance(event["contactId"], int)
    assert event["params"] == [
        {"name": "email", "value": "example@email.com"},
        {"name": "page", "value": {"location": "https://example.com/a"}},
    ]


@pytest.mark.parametrize("route", ["/api/v2/event", "/api/v1/event"])
def test_unknown_top_level_and_param_fields_are_ignored(api: httpx.Client, route: str) -> None:
    body = {
        "eventTypeKey": "customThing",
        "keyValue": "k-1",
        "eventId": "abc",
        "occurred": "2020-01-01T10:00",
        "nested": {"a": [1, 2]},
        "params": [
            {"name": "email", "value": "ignore@example.com", "type": "string", "required": True},
        ],
    }
    accept(api, body, route)

    event = only_event(api)
    assert event["eventTypeKey"] == "customThing"
    assert event["keyValue"] == "k-1"
    assert event["params"] == [{"name": "email", "value": "ignore@example.com"}]
    # "occurred" is not a field of a live event: it happened now, not in 2020.
    assert not event["occurred"].startswith("2020-")


@pytest.mark.parametrize("route", ["/api/v2/event", "/api/v1/event"])
def test_json_inside_string_values_is_parsed(api: httpx.Client, route: str) -> None:
    product = {"productId": "WS01", "price": 45.5, "tags": ["a", "b"], "nested": {"x": None}}
    body = {
        "eventTypeKey": "custom",
        "keyValue": "k",
        "params": [
            {"name": "product", "value": json.dumps(product)},
            {"name": "list", "value": '[1, "two", {"three": 3}]'},
            {"name": "plain", "value": "just text"},
            {"name": "brackety", "value": "[draft] not json"},
            {"name": "number", "value": "42"},
        ],
    }
    accept(api, body, route)

    assert params_of(only_event(api)) == {
        "product": product,
        "list": [1, "two", {"three": 3}],
        "plain": "just text",
        "brackety": "[draft] not json",
        "number": "42",
    }


def test_v2_accepts_native_json_values(api: httpx.Client) -> None:
    body = {
        "eventTypeKey": "nativeValues",
        "keyValue": "k",
        "params": [
            {"name": "object", "value": {"a": 1, "b": [True, None]}},
            {"name": "array", "value": [{"productId": "1"}, {"productId": "2"}]},
            {"name": "price", "value": 250.75},
            {"name": "count", "value": 3},
            {"name": "flag", "value": False},
        ],
    }
    accept(api, body, "/api/v2/event")

    assert params_of(only_event(api)) == {
        "object": {"a": 1, "b": [True, None]},
        "array": [{"productId": "1"}, {"productId": "2"}],
        "price": 250.75,
        "count": 3,
        "flag": False,
    }


@pytest.mark.parametrize("route", ["/api/v2/event", "/api/v1/event"])
def test_params_may_be_empty_or_omitted(api: httpx.Client, route: str) -> None:
    accept(api, {"eventTypeKey": "noParams", "keyValue": "k1", "params": []}, route)
    accept(api, {"eventTypeKey": "noParams", "keyValue": "k2"}, route)

    events = stored(api)
    assert [(e["keyValue"], e["params"], e["contactId"]) for e in events] == [
        ("k2", [], None),
        ("k1", [], None),
    ]


def test_body_without_content_type_is_accepted(api: httpx.Client) -> None:
    body = b'{"eventTypeKey":"raw","keyValue":"k","params":[]}'
    response = api.post("/api/v2/event", content=body)
    assert response.status_code == 200, response.text
    assert only_event(api)["eventTypeKey"] == "raw"


def test_integer_key_value_is_stored_as_text(api: httpx.Client) -> None:
    accept(api, {"eventTypeKey": "numericKey", "keyValue": 12345, "params": []})
    assert only_event(api)["keyValue"] == "12345"


@pytest.mark.parametrize("route", ["/api/v2/event", "/api/v1/event"])
def test_get_on_an_event_route_is_405(api: httpx.Client, route: str) -> None:
    response = api.get(route)
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert stored(api) == []


# -- 2. the product document's examples ---------------------------------------------------------

PRODUCT = {
    "productId": "WS01-L-Green",
    "price": 45.5,
    "isInStock": 1,
    "someProductProperty": ["green"],
}

# The seed's examples with the quotes inside values escaped properly: each value is a string.
SEED_EXAMPLES: dict[str, dict[str, Any]] = {
    "pageViewed": {
        "eventTypeKey": "pageViewed",
        "keyValue": "example@email.com",
        "params": [
            {"name": "phone", "value": "380501234567"},
            {"name": "email", "value": "example@email.com"},
            {"name": "page", "value": '{"location":"https://example.com"}'},
        ],
    },
    "productViewed": {
        "eventTypeKey": "productViewed",
        "keyValue": "example@email.com",
        "params": [
            {"name": "phone", "value": "411786452"},
            {"name": "email", "value": "example@email.com"},
            {
                "name": "product",
                # Verbatim from the document, stray "]}" after the object included.
                "value": '{"productId":"WS01-L-Green","price":45.5,"isInStock":1,'
                '"someProductProperty":["green"]}]}',
            },
            {"name": "currencyCode", "value": "USD"},
        ],
    },
    "productCategoryViewed": {
        "eventTypeKey": "productCategoryViewed",
        "keyValue": "example@email.com",
        "params": [
            {"name": "phone", "value": "7411324763"},
            {"name": "email", "value": "example@email.com"},
            {"name": "category", "value": '{"productCategoryId":"Mugs"}'},
        ],
    },
    "cartUpdated": {
        "eventTypeKey": "cartUpdated",
        "keyValue": "example@email.com",
        "params": [
            {"name": "phone", "value": "73456712"},
            {"name": "email", "value": "example@email.com"},
            {
                "name": "products",
                "value": '[{"productId":"WS01-L-Green","quantity":1,"price":45.5}]',
            },
            {"name": "currencyCode", "value": "USD"},
            {"name": "recycleStateId", "value": "d59c6e6d-4123-4b0e-8c32-15f0656a8c60"},
        ],
    },
    "productImpressions": {
        "eventTypeKey": "productImpressions",
        "keyValue": "380501234567",
        "params": [
            {"name": "phone", "value": "380501234567"},
            {"name": "recomVariantId", "value": "r554v778"},
            {"name": "products", "value": '[{"productId":"WS01-L-Green"},{"productId":"MUG-7"}]'},
        ],
    },
    "productAddedToWishlist": {
        "eventTypeKey": "productAddedToWishlist",
        "keyValue": "380501234567",
        "params": [
            {"name": "phone", "value": "380501234567"},
            {
                "name": "product",
                "value": '{"productId":"WS01-L-Green","price":45.5,"isInStock":1,'
                '"someProductProperty":["green"]}',
            },
            {"name": "currencyCode", "value": "USD"},
        ],
    },
    "searchRequest": {
        "eventTypeKey": "searchRequest",
        "keyValue": "380501234567",
        "params": [
            {"name": "phone", "value": "380501234567"},
            {"name": "search", "value": "green mug"},
            {"name": "isFound", "value": "0"},
        ],
    },
}

# What is stored for each example: the JSON inside strings as objects.
SEED_STORED: dict[str, dict[str, Any]] = {
    "pageViewed": {
        "phone": "380501234567",
        "email": "example@email.com",
        "page": {"location": "https://example.com"},
    },
    "productViewed": {
        "phone": "411786452",
        "email": "example@email.com",
        "product": PRODUCT,
        "currencyCode": "USD",
    },
    "productCategoryViewed": {
        "phone": "7411324763",
        "email": "example@email.com",
        "category": {"productCategoryId": "Mugs"},
    },
    "cartUpdated": {
        "phone": "73456712",
        "email": "example@email.com",
        "products": [{"productId": "WS01-L-Green", "quantity": 1, "price": 45.5}],
        "currencyCode": "USD",
        "recycleStateId": "d59c6e6d-4123-4b0e-8c32-15f0656a8c60",
    },
    "productImpressions": {
        "phone": "380501234567",
        "recomVariantId": "r554v778",
        "products": [{"productId": "WS01-L-Green"}, {"productId": "MUG-7"}],
    },
    "productAddedToWishlist": {
        "phone": "380501234567",
        "product": PRODUCT,
        "currencyCode": "USD",
    },
    "searchRequest": {"phone": "380501234567", "search": "green mug", "isFound": "0"},
}


def native(example: dict[str, Any], expected: dict[str, Any]) -> dict[str, Any]:
    """The v2 form of an example: nested JSON sent as JSON, not as strings."""
    values = {**expected, "isFound": 0} if "isFound" in expected else expected
    params = [{"name": p["name"], "value": values[p["name"]]} for p in example["params"]]
    return {**example, "params": params}


@pytest.mark.parametrize("name", list(SEED_EXAMPLES))
@pytest.mark.parametrize(
    ("route", "form"),
    [("/api/v2/event", "strings"), ("/api/v1/event", "strings"), ("/api/v2/event", "native")],
)
def test_seed_example_is_accepted(api: httpx.Client, name: str, route: str, form: str) -> None:
    example = SEED_EXAMPLES[name]
    expected = SEED_STORED[name]
    if form == "native":
        example = native(example, expected)
        if "isFound" in expected:
            expected = {**expected, "isFound": 0}
    accept(api, example, route)

    event = only_event(api)
    assert event["eventTypeKey"] == name
    assert event["keyValue"] == example["keyValue"]
    assert isinstance(event["contactId"], int)
    assert params_of(event) == expected
    types = api.get("/api/v1/event-types").json()
    assert [(t["eventTypeKey"], t["count"]) for t in types] == [(name, 1)]


def test_seed_examples_of_one_person_attach_to_one_contact(api: httpx.Client) -> None:
    for name in ("pageViewed", "productViewed", "productCategoryViewed", "cartUpdated"):
        accept(api, SEED_EXAMPLES[name])
    contacts = {e["contactId"] for e in stored(api)}
    assert len(contacts) == 1
    assert None not in contacts


# -- 3. keyValue derived from locator params ---------------------------------------------------


def test_key_value_is_derived_from_contact_id_first(api: httpx.Client) -> None:
    contact = contact_of(api, "first@example.com")
    accept(
        api,
        {
            "eventTypeKey": "derived",
            "params": [
                {"name": "pushToken", "value": "tok-1"},
                {"name": "phone", "value": "+380501112233"},
                {"name": "email", "value": "other@example.com"},
                {"name": "externalCustomerId", "value": "ext-1"},
                {"name": "contactId", "value": str(contact)},
            ],
        },
    )
    event = stored(api, eventTypeKey="derived")[0]
    assert event["keyValue"] == str(contact)
    assert event["contactId"] == contact


PRIORITY_PARAMS = [
    ("externalCustomerId", "ext-42"),
    ("email", "someone@example.com"),
    ("phone", "+380501112233"),
    ("pushToken", "push-token-xyz"),
]


@pytest.mark.parametrize("skip", range(len(PRIORITY_PARAMS)))
def test_key_value_follows_the_locator_priority(api: httpx.Client, skip: int) -> None:
    present = PRIORITY_PARAMS[skip:]
    # Sent lowest priority first, so that the order of params cannot be what decides.
    params = [{"name": name, "value": value} for name, value in reversed(present)]
    accept(api, {"eventTypeKey": "derived", "params": params})

    event = only_event(api)
    assert event["keyValue"] == present[0][1]
    assert isinstance(event["contactId"], int)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("EMAIL", "alias@example.com"),
        ("EmailAddress", "alias@example.com"),
        ("UserEmail", "alias@example.com"),
        ("userEMAIL", "alias@example.com"),
        ("ContactEmail", "alias@example.com"),
        ("Phone", "+380501234567"),
        ("SMS", "380501234567"),
        ("sms", "380501234567"),
        ("PhoneNumber", "+380501234567"),
        ("PushToken", "token-abc"),
        ("MobPushToken", "token-abc"),
        ("mobpushtoken", "token-abc"),
        ("ExternalCustomerId", "ext-7"),
        ("EXTERNALCUSTOMERID", "ext-7"),
    ],
)
def test_locator_names_match_case_insensitively_with_aliases(
    api: httpx.Client, name: str, value: str
) -> None:
    accept(api, {"eventTypeKey": "aliased", "params": [{"name": name, "value": value}]})
    event = only_event(api)
    assert event["keyValue"] == value
    assert isinstance(event["contactId"], int)


@pytest.mark.parametrize("name", ["ContactId", "CONTACTID", "Contact_id"])
def test_contact_id_aliases_win(api: httpx.Client, name: str) -> None:
    contact = contact_of(api, "cid@example.com")
    params = [{"name": "SMS", "value": "380509998877"}, {"name": name, "value": contact}]
    accept(api, {"eventTypeKey": "aliased", "params": params})
    event = stored(api, eventTypeKey="aliased")[0]
    assert event["keyValue"] == str(contact)
    assert event["contactId"] == contact


def test_email_alias_outranks_phone_alias(api: httpx.Client) -> None:
    params = [
        {"name": "SMS", "value": "380501234567"},
        {"name": "UserEmail", "value": "wins@example.com"},
    ]
    accept(api, {"eventTypeKey": "aliased", "params": params})
    assert only_event(api)["keyValue"] == "wins@example.com"


@pytest.mark.parametrize("junk", ["null", "NULL", "", "   ", "undefined", "None"])
def test_junk_external_id_is_skipped_for_the_next_locator(api: httpx.Client, junk: str) -> None:
    params = [
        {"name": "externalCustomerId", "value": junk},
        {"name": "email", "value": "real@example.com"},
    ]
    accept(api, {"eventTypeKey": "junk", "params": params})
    event = only_event(api)
    assert event["keyValue"] == "real@example.com"
    assert isinstance(event["contactId"], int)


def test_null_external_id_value_is_skipped(api: httpx.Client) -> None:
    params = [
        {"name": "externalCustomerId", "value": None},
        {"name": "phone", "value": "+380501234567"},
    ]
    accept(api, {"eventTypeKey": "junk", "params": params})
    assert only_event(api)["keyValue"] == "+380501234567"


def test_junk_locators_with_an_explicit_key_identify_nobody(api: httpx.Client) -> None:
    params = [
        {"name": "email", "value": "null"},
        {"name": "phone", "value": ""},
        {"name": "externalCustomerId", "value": "undefined"},
    ]
    accept(api, {"eventTypeKey": "junk", "keyValue": "session-1", "params": params})
    event = only_event(api)
    assert event["keyValue"] == "session-1"
    assert event["contactId"] is None


def test_explicit_key_value_wins_over_locators(api: httpx.Client) -> None:
    params = [{"name": "email", "value": "person@example.com"}]
    accept(api, {"eventTypeKey": "explicit", "keyValue": "order-77", "params": params})
    event = only_event(api)
    assert event["keyValue"] == "order-77"
    assert isinstance(event["contactId"], int)


def test_blank_key_value_is_derived_from_params(api: httpx.Client) -> None:
    params = [{"name": "email", "value": "blank@example.com"}]
    accept(api, {"eventTypeKey": "blankKey", "keyValue": "", "params": params})
    accept(api, {"eventTypeKey": "blankKey", "keyValue": None, "params": params})
    assert [e["keyValue"] for e in stored(api)] == ["blank@example.com"] * 2


# -- 5. (accepted side) standard types and new event types --------------------------------------


@pytest.mark.parametrize("route", ["/api/v2/event", "/api/v1/event"])
def test_search_request_without_is_found_is_stored_with_is_found_0(
    api: httpx.Client, route: str
) -> None:
    params = [{"name": "phone", "value": "380501234567"}, {"name": "search", "value": "nothing"}]
    accept(api, {"eventTypeKey": "searchRequest", "params": params}, route)
    assert params_of(only_event(api)) == {
        "phone": "380501234567",
        "search": "nothing",
        "isFound": 0,
    }


@pytest.mark.parametrize("value", [[], "[]"])
def test_cart_updated_with_an_empty_cart_is_valid(api: httpx.Client, value: Any) -> None:
    params = [
        {"name": "email", "value": "cart@example.com"},
        {"name": "products", "value": value},
        {"name": "recycleStateId", "value": "cart-1"},
    ]
    accept(api, {"eventTypeKey": "cartUpdated", "params": params})
    event = only_event(api)
    assert event["keyValue"] == "cart@example.com"
    assert params_of(event)["products"] == []


def test_a_new_event_type_is_created_and_counted(api: httpx.Client) -> None:
    assert api.get("/api/v1/event-types").json() == []
    for n in range(2):
        accept(api, {"eventTypeKey": "loyaltyLevelChanged", "keyValue": f"k{n}", "params": []})
    accept(api, {"eventTypeKey": "abandonedBrowse", "keyValue": "k", "params": []})

    response = api.get("/api/v1/event-types")
    assert response.status_code == 200
    types = {t["eventTypeKey"]: t for t in response.json()}
    assert set(types) == {"loyaltyLevelChanged", "abandonedBrowse"}
    assert types["loyaltyLevelChanged"]["count"] == 2
    assert types["abandonedBrowse"]["count"] == 1
    loyalty = types["loyaltyLevelChanged"]
    assert loyalty["firstSeen"] <= loyalty["lastSeen"]
    newest = stored(api, eventTypeKey="loyaltyLevelChanged")[0]
    assert loyalty["lastSeen"] == newest["received"]
    assert api.get("/api/v1/event-types/").status_code == 200


def test_event_type_keys_may_use_any_allowed_characters(api: httpx.Client) -> None:
    key = "Заказ оформлен: шаг-2 (mobile) #1 @ 50% & co. ~ +=*"
    accept(api, {"eventTypeKey": key, "keyValue": "k", "params": []})
    assert only_event(api)["eventTypeKey"] == key
    assert [t["eventTypeKey"] for t in api.get("/api/v1/event-types").json()] == [key]


# -- 7. workspace isolation ------------------------------------------------------------------------


def test_events_of_one_workspace_are_invisible_to_another(
    server: Any, workspace: Any, other_workspace: Any
) -> None:
    with server.client(workspace.full_key) as a, server.client(other_workspace.full_key) as b:
        accept(a, {"eventTypeKey": "secretOfA", "keyValue": "a@example.com", "params": []})
        accept(b, {"eventTypeKey": "publicOfB", "keyValue": "b@example.com", "params": []})

        assert [e["eventTypeKey"] for e in stored(a)] == ["secretOfA"]
        assert [e["eventTypeKey"] for e in stored(b)] == ["publicOfB"]
        assert stored(b, eventTypeKey="secretOfA") == []
        assert stored(b, keyValue="a@example.com") == []
        assert [t["eventTypeKey"] for t in b.get("/api/v1/event-types").json()] == ["publicOfB"]
        assert [t["eventTypeKey"] for t in a.get("/api/v1/event-types").json()] == ["secretOfA"]


def test_contact_id_of_another_workspace_does_not_attach(
    server: Any, workspace: Any, other_workspace: Any
) -> None:
    with server.client(workspace.full_key) as a, server.client(other_workspace.full_key) as b:
        contact_a = contact_of(a, "shared@example.com")

        accept(b, {"eventTypeKey": "probe", "params": [{"name": "contactId", "value": contact_a}]})
        params = [
            {"name": "contactId", "value": str(contact_a)},
            {"name": "email", "value": "shared@example.com"},
        ]
        accept(b, {"eventTypeKey": "probe2", "params": params})

        probe = stored(b, eventTypeKey="probe")[0]
        assert probe["contactId"] != contact_a
        probe2 = stored(b, eventTypeKey="probe2")[0]
        assert probe2["contactId"] is not None
        assert probe2["contactId"] != contact_a
        # Nothing of B's shows up on A's contact.
        assert [e["eventTypeKey"] for e in stored(a, contactId=contact_a)] == ["signup"]
        assert stored(b, contactId=contact_a) == []


# -- 8. metrics -------------------------------------------------------------------------------------


def sample(server: Any, name: str, **labels: str) -> float:
    text = httpx.get(f"{server.url}/metrics", timeout=10, verify=NO_TLS_HERE).text
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return float(s.value)
    return 0.0


def test_metrics_count_accepted_and_rejected_events(server: Any, api: httpx.Client) -> None:
    response = httpx.get(f"{server.url}/metrics", timeout=10, verify=NO_TLS_HERE)
    assert response.status_code == 200
    assert "footfall_events_accepted_total" in response.text

    accepted = "footfall_events_accepted_total"
    rejected = "footfall_events_rejected_total"
    before_ok = sample(server, accepted, route="v2/event")
    before_invalid = sample(server, rejected, route="v2/event", reason="invalid")
    before_malformed = sample(server, rejected, route="v1/event", reason="malformed_json")

    accept(api, {"eventTypeKey": "counted", "keyValue": "k", "params": []})
    assert api.post("/api/v2/event", json={"eventTypeKey": "counted"}).status_code == 400
    assert api.post("/api/v1/event", content=b"{not json").status_code == 400

    assert sample(server, accepted, route="v2/event") == before_ok + 1
    assert sample(server, rejected, route="v2/event", reason="invalid") == before_invalid + 1
    assert (
        sample(server, rejected, route="v1/event", reason="malformed_json") == before_malformed + 1
    )


def test_metrics_of_a_fresh_server_count_each_outcome(make_server: Any, workspace: Any) -> None:
    live = make_server(max_body_bytes=500)
    with live.client(workspace.full_key) as api, live.client() as anonymous:
        accept(api, {"eventTypeKey": "counted", "keyValue": "k1", "params": []})
        accept(api, {"eventTypeKey": "counted", "keyValue": "k2"}, "/api/v1/event/")
        assert api.post("/api/v2/event", json={"eventTypeKey": "x" * 101}).status_code == 400
        assert api.post("/api/v2/event", content=b"{not json").status_code == 400
        assert api.post("/api/v2/event", content=b" " * 501).status_code == 413
        assert anonymous.post("/api/v2/event", json={"eventTypeKey": "x"}).status_code == 401

    accepted = "footfall_events_accepted_total"
    rejected = "footfall_events_rejected_total"
    assert sample(live, accepted, route="v2/event") == 1
    assert sample(live, accepted, route="v1/event") == 1
    assert sample(live, rejected, route="v2/event", reason="invalid") == 1
    assert sample(live, rejected, route="v2/event", reason="malformed_json") == 1
    assert sample(live, rejected, route="v2/event", reason="too_large") == 1
    assert sample(live, rejected, route="v2/event", reason="unauthorized") == 1
    assert sample(live, rejected, route="v1/event", reason="invalid") == 0
