"""Refused Generate event requests: each answers 4xx with a plain-text body naming what is wrong,
and stores nothing. Every test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

FORBIDDEN = ["<", ";", "\u2019", "\\", "/", "|", '"', "`", "'", "^", "?", "!", ",", ">"]


def stored(api: httpx.Client, **filters: Any) -> list[dict[str, Any]]:
    response = api.get("/api/v1/events", params=filters)
    assert response.status_code == 200, response.text
    events: list[dict[str, Any]] = response.json()
    return events


def refused(api: httpx.Client, body: Any, route: str = "/api/v2/event", status: int = 400) -> str:
    """POST ``body`` (bytes are sent as they are), expect ``status``, nothing stored; the text."""
    before = len(stored(api))
    if isinstance(body, bytes):
        response = api.post(route, content=body, headers={"content-type": "application/json"})
    else:
        response = api.post(route, json=body)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text.strip(), "an error needs an explanation"
    assert len(stored(api)) == before
    return response.text


def accepted(api: httpx.Client, body: Any, route: str = "/api/v2/event") -> None:
    response = api.post(route, json=body)
    assert response.status_code == 200, response.text


def event(type_key: str, *params: tuple[str, Any], key: Any = "k") -> dict[str, Any]:
    body: dict[str, Any] = {
        "eventTypeKey": type_key,
        "params": [{"name": n, "value": v} for n, v in params],
    }
    if key is not None:
        body["keyValue"] = key
    return body


# -- keyValue or a locator is needed -----------------------------------------------------------


@pytest.mark.parametrize("route", ["/api/v2/event", "/api/v1/event"])
def test_no_key_value_and_no_locator_is_400(api: httpx.Client, route: str) -> None:
    text = refused(api, event("custom", ("color", "red"), key=None), route)
    assert "keyValue" in text
    assert "contactId" in text  # it says which params would have done


@pytest.mark.parametrize(
    "params",
    [
        [("email", "null"), ("phone", "")],
        [("externalCustomerId", "null"), ("pushToken", "undefined")],
        [("email", "   "), ("externalCustomerId", None)],
        [("contactId", "null")],
    ],
)
def test_junk_locators_are_not_locators(api: httpx.Client, params: list[tuple[str, Any]]) -> None:
    text = refused(api, event("custom", *params, key=None))
    assert "keyValue" in text


def test_blank_key_value_without_locator_is_400(api: httpx.Client) -> None:
    text = refused(api, event("custom", key="  "))
    assert "keyValue" in text


def test_invalid_email_as_only_locator_is_explained(api: httpx.Client) -> None:
    text = refused(api, event("custom", ("email", "not-an-email"), key=None))
    assert "keyValue" in text
    assert "not-an-email" in text


@pytest.mark.parametrize("value", ["abc", "-5", "0", "1.5"])
def test_contact_id_must_be_a_positive_integer(api: httpx.Client, value: str) -> None:
    text = refused(api, event("custom", ("contactId", value), key=None))
    assert "contactId" in text


@pytest.mark.parametrize("value", ["9223372036854775808", "99999999999999999999", 10**20])
def test_contact_id_beyond_64_bits_is_400(api: httpx.Client, value: Any) -> None:
    # No contact can have such an id: it is as invalid as "abc", not a server error.
    text = refused(api, event("custom", ("contactId", value), ("email", "big@example.com")))
    assert "contactId" in text


# -- limits of eventTypeKey and keyValue -----------------------------------------------------------


def test_event_type_key_of_100_characters_is_accepted_101_refused(api: httpx.Client) -> None:
    text = refused(api, event("e" * 101))
    assert "eventTypeKey" in text
    assert "100" in text
    accepted(api, event("e" * 100))
    assert [e["eventTypeKey"] for e in stored(api)] == ["e" * 100]


def test_key_value_of_300_characters_is_accepted_301_refused(api: httpx.Client) -> None:
    text = refused(api, event("custom", key="k" * 301))
    assert "keyValue" in text
    assert "300" in text
    accepted(api, event("custom", key="k" * 300))
    assert [e["keyValue"] for e in stored(api)] == ["k" * 300]


@pytest.mark.parametrize("char", FORBIDDEN)
@pytest.mark.parametrize("route", ["/api/v2/event", "/api/v1/event"])
def test_forbidden_character_in_event_type_key_is_named(
    api: httpx.Client, char: str, route: str
) -> None:
    text = refused(api, event(f"bad{char}type"), route)
    named = text.split("(forbidden")[0]
    assert "eventTypeKey" in named
    assert char in named


@pytest.mark.parametrize("char", FORBIDDEN)
def test_forbidden_character_in_key_value_is_named(api: httpx.Client, char: str) -> None:
    text = refused(api, event("custom", ("email", "ok@example.com"), key=f"key{char}value"))
    named = text.split("(forbidden")[0]
    assert "keyValue" in named
    assert char in named


def test_empty_event_type_key_is_400(api: httpx.Client) -> None:
    assert "eventTypeKey" in refused(api, event(""))
    assert "eventTypeKey" in refused(api, event("   "))


# -- body shape -----------------------------------------------------------------------------------


@pytest.mark.parametrize("route", ["/api/v2/event", "/api/v1/event"])
@pytest.mark.parametrize(
    "body",
    [b'{"eventTypeKey": "x", "keyValue": ', b"not json at all", b"", b'{"eventTypeKey":"x",}'],
)
def test_malformed_json_is_400(api: httpx.Client, route: str, body: bytes) -> None:
    text = refused(api, body, route)
    assert "JSON" in text


@pytest.mark.parametrize("route", ["/api/v2/event", "/api/v1/event"])
def test_missing_event_type_key_is_400(api: httpx.Client, route: str) -> None:
    text = refused(api, {"keyValue": "k", "params": []}, route)
    assert "eventTypeKey" in text


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ([], "object"),
        ({"eventTypeKey": 5, "keyValue": "k"}, "eventTypeKey"),
        ({"eventTypeKey": "x", "keyValue": "k", "params": {"email": "a@b.c"}}, "params"),
        ({"eventTypeKey": "x", "keyValue": "k", "params": [{"name": "a"}]}, "value"),
        ({"eventTypeKey": "x", "keyValue": "k", "params": [{"value": "a"}]}, "name"),
        ({"eventTypeKey": "x", "keyValue": {"id": 1}}, "keyValue"),
    ],
)
def test_wrongly_shaped_body_is_400(api: httpx.Client, body: Any, named: str) -> None:
    assert named in refused(api, body)


@pytest.mark.parametrize("route", ["/api/v2/event", "/api/v1/event"])
def test_duplicate_param_names_are_400(api: httpx.Client, route: str) -> None:
    body = event("custom", ("email", "a@example.com"), ("color", "red"), ("email", "b@example.com"))
    text = refused(api, body, route)
    assert "'email'" in text


def test_empty_param_name_is_400(api: httpx.Client) -> None:
    assert "name" in refused(api, event("custom", ("", "x")))


def test_param_name_over_100_characters_is_400(api: httpx.Client) -> None:
    text = refused(api, event("custom", ("p" * 101, "x")))
    assert "100" in text
    accepted(api, event("custom", ("p" * 100, "x")))


@pytest.mark.parametrize("value", [{"productId": "1"}, [1, 2]])
def test_v1_value_must_be_a_string(api: httpx.Client, value: Any) -> None:
    text = refused(api, event("custom", ("product", value)), "/api/v1/event")
    assert "'product'" in text
    accepted(api, event("custom", ("product", value)), "/api/v2/event")


def test_nul_character_is_refused(api: httpx.Client) -> None:
    assert "NUL" in refused(api, event("custom", ("note", "a\u0000b")))


def test_backslash_u0000_as_text_is_not_a_nul(api: httpx.Client) -> None:
    # A Windows path or an escaped snippet: a backslash followed by "u0000", not a NUL character.
    accepted(api, event("custom", ("path", "C:\\u0000dir")))
    [stored_event] = stored(api)
    assert stored_event["params"] == [{"name": "path", "value": "C:\\u0000dir"}]


# -- body size ------------------------------------------------------------------------------------


def sized(size: int) -> bytes:
    """A valid event body of exactly ``size`` bytes."""

    def build(pad: int) -> bytes:
        return json.dumps(event("bigEvent", ("pad", "x" * pad)), separators=(",", ":")).encode()

    body = build(size - len(build(0)))
    assert len(body) == size
    return body


def test_body_of_20_kb_is_accepted_and_one_byte_more_is_413(api: httpx.Client) -> None:
    text = refused(api, sized(20 * 1024 + 1), status=413)
    assert str(20 * 1024) in text

    response = api.post("/api/v2/event", content=sized(20 * 1024))
    assert response.status_code == 200, response.text
    assert len(stored(api)) == 1


def test_chunked_body_over_the_limit_is_413(api: httpx.Client) -> None:
    body = sized(30 * 1024)

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(body), 4096):
            yield body[start : start + 4096]

    response = api.post("/api/v2/event", content=chunks())
    assert response.status_code == 413, response.text
    assert stored(api) == []


def test_body_limit_is_configurable(make_server: Callable[..., Any], workspace: Any) -> None:
    live = make_server(max_body_bytes=500)
    with live.client(workspace.full_key) as api:
        text = refused(api, sized(501), status=413)
        assert "500" in text
        response = api.post("/api/v1/event", content=sized(500))
        assert response.status_code == 200, response.text
        assert len(stored(api)) == 1


# -- rate limit -----------------------------------------------------------------------------------


def test_rate_limit_answers_429_with_a_text_body(
    make_server: Callable[..., Any], workspace: Any
) -> None:
    live = make_server(rate_limit_per_second=3)
    with live.client(workspace.events_key) as client, live.client(workspace.full_key) as reader:
        statuses = []
        limited = None
        for n in range(10):
            response = client.post("/api/v2/event", json=event("burst", key=f"k{n}"))
            statuses.append(response.status_code)
            if response.status_code == 429:
                limited = response
        assert set(statuses) == {200, 429}, statuses
        assert statuses[:3] == [200, 200, 200]
        assert limited is not None
        assert limited.headers["content-type"].startswith("text/plain")
        assert "rate limit" in limited.text
        assert limited.headers.get("retry-after")
        # Only the accepted requests were stored.
        assert len(stored(reader)) == statuses.count(200)

        time.sleep(0.4)  # one token back at 3 per second
        response = client.post("/api/v2/event", json=event("burst", key="later"))
        assert response.status_code == 200, response.text


def test_rate_limit_below_one_per_second_admits_a_first_request(
    make_server: Callable[..., Any], workspace: Any
) -> None:
    live = make_server(rate_limit_per_second=0.5)
    with live.client(workspace.events_key) as client, live.client(workspace.full_key) as reader:
        first = client.post("/api/v2/event", json=event("slow", key="k1"))
        second = client.post("/api/v2/event", json=event("slow", key="k2"))
        assert (first.status_code, second.status_code) == (200, 429), first.text
        assert [e["keyValue"] for e in stored(reader)] == ["k1"]


def test_no_rate_limit_by_default(api: httpx.Client) -> None:
    def post(n: int) -> int:
        return api.post("/api/v2/event", json=event("burst", key=f"k{n}")).status_code

    with ThreadPoolExecutor(max_workers=10) as pool:
        statuses = list(pool.map(post, range(50)))
    assert statuses == [200] * 50
    assert len(stored(api, limit=100)) == 50


# -- standard event types -------------------------------------------------------------------------

LOCATOR = ("email", "shopper@example.com")
PRODUCT = {"productId": "WS01", "price": 45.5}
ITEM = {"productId": "WS01", "quantity": 1, "price": 45.5}


def standard(type_key: str, *params: tuple[str, Any]) -> dict[str, Any]:
    return event(type_key, LOCATOR, *params, key=None)


def as_v1(body: dict[str, Any]) -> dict[str, Any]:
    """The same body with every non-string value sent as JSON inside a string."""
    params = [
        {
            "name": p["name"],
            "value": p["value"] if isinstance(p["value"], str) else json.dumps(p["value"]),
        }
        for p in body["params"]
    ]
    return {**body, "params": params}


INVALID_STANDARD = [
    ("page missing", standard("pageViewed"), "page"),
    ("page.location missing", standard("pageViewed", ("page", {"url": "x"})), "page.location"),
    ("page.location empty", standard("pageViewed", ("page", {"location": ""})), "page.location"),
    ("page not an object", standard("pageViewed", ("page", "https://x")), "page"),
    ("product missing", standard("productViewed"), "product"),
    (
        "product.productId missing",
        standard("productViewed", ("product", {"price": 45.5})),
        "product.productId",
    ),
    (
        "product.price missing",
        standard("productViewed", ("product", {"productId": "WS01"})),
        "product.price",
    ),
    (
        "product.price a string",
        standard("productViewed", ("product", {"productId": "WS01", "price": "45.5"})),
        "product.price",
    ),
    (
        "product.isInStock 2",
        standard("productViewed", ("product", {**PRODUCT, "isInStock": 2})),
        "product.isInStock",
    ),
    (
        "wishlist product.productId missing",
        standard("productAddedToWishlist", ("product", {"price": 1})),
        "product.productId",
    ),
    (
        "wishlist product.price missing",
        standard("productAddedToWishlist", ("product", {"productId": "WS01"})),
        "product.price",
    ),
    ("category missing", standard("productCategoryViewed"), "category"),
    (
        "category.productCategoryId missing",
        standard("productCategoryViewed", ("category", {"name": "Mugs"})),
        "category.productCategoryId",
    ),
    ("recycleStateId missing", standard("cartUpdated", ("products", [ITEM])), "recycleStateId"),
    (
        "recycleStateId empty",
        standard("cartUpdated", ("products", []), ("recycleStateId", "")),
        "recycleStateId",
    ),
    (
        "products[1].productId missing",
        standard(
            "cartUpdated",
            ("products", [ITEM, {"quantity": 1, "price": 2}]),
            ("recycleStateId", "c1"),
        ),
        "products[1].productId",
    ),
    (
        "products[0].quantity missing",
        standard(
            "cartUpdated",
            ("products", [{"productId": "WS01", "price": 2}]),
            ("recycleStateId", "c1"),
        ),
        "products[0].quantity",
    ),
    (
        "products[0].price missing",
        standard(
            "cartUpdated",
            ("products", [{"productId": "WS01", "quantity": 2}]),
            ("recycleStateId", "c1"),
        ),
        "products[0].price",
    ),
    (
        "cart products not a list",
        standard("cartUpdated", ("products", ITEM), ("recycleStateId", "c1")),
        "products",
    ),
    (
        "recomVariantId missing",
        standard("productImpressions", ("products", [{"productId": "1"}])),
        "recomVariantId",
    ),
    (
        "recomVariantId malformed",
        standard(
            "productImpressions",
            ("recomVariantId", "554-778"),
            ("products", [{"productId": "1"}]),
        ),
        "recomVariantId",
    ),
    (
        "recomVariantId without variant",
        standard(
            "productImpressions",
            ("recomVariantId", "r554"),
            ("products", [{"productId": "1"}]),
        ),
        "recomVariantId",
    ),
    (
        "impression products missing",
        standard("productImpressions", ("recomVariantId", "r1v2")),
        "products",
    ),
    (
        "impression products empty",
        standard("productImpressions", ("recomVariantId", "r1v2"), ("products", [])),
        "products",
    ),
    (
        "impression products[0].productId missing",
        standard("productImpressions", ("recomVariantId", "r1v2"), ("products", [{"name": "Mug"}])),
        "products[0].productId",
    ),
    ("search missing", standard("searchRequest", ("isFound", 0)), "search"),
    ("isFound 2", standard("searchRequest", ("search", "mug"), ("isFound", 2)), "isFound"),
    ("isFound true", standard("searchRequest", ("search", "mug"), ("isFound", True)), "isFound"),
]


@pytest.mark.parametrize(
    ("body", "named"),
    [pytest.param(body, named, id=case) for case, body, named in INVALID_STANDARD],
)
@pytest.mark.parametrize("route", ["/api/v2/event", "/api/v1/event"])
def test_standard_type_rule_names_the_offending_parameter(
    api: httpx.Client, body: dict[str, Any], named: str, route: str
) -> None:
    if route == "/api/v1/event":
        body = as_v1(body)
    text = refused(api, body, route)
    assert f"'{named}'" in text
    assert body["eventTypeKey"] in text


def test_product_price_as_json_number_inside_a_string_is_valid(api: httpx.Client) -> None:
    body = standard("productViewed", ("product", '{"productId":"WS01","price":45.5}'))
    accepted(api, body, "/api/v1/event")
    body = standard("productViewed", ("product", '{"productId":"WS01","price":"45.5"}'))
    assert "'product.price'" in refused(api, body, "/api/v1/event")
    assert len(stored(api)) == 1
