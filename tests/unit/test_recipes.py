"""The shipped recipes: each a valid document under the default limits, shipped as written, and
each started, not started and stopped by the events it is meant for, by the engine's pure rules
(``starting``, ``stepping``, ``timing``) and the templates of its request."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from importlib.resources import files
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from footfall.exceptions import InvalidWorkflow
from footfall.ingest.dates import to_us
from footfall.workflows import recipes
from footfall.workflows.conditions import Facts
from footfall.workflows.definitions import Limits, parse_definition
from footfall.workflows.document import Http, Timer
from footfall.workflows.plan import Plan, compile_plan
from footfall.workflows.starting import Earlier, match_keys, may_start, stops
from footfall.workflows.stepping import Act, Finish, Passed, Wait, advance, follow
from footfall.workflows.templates import render_json
from footfall.workflows.timing import timer_due

MOMENT = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)  # a Thursday, noon UTC
NOW = to_us(MOMENT)
DAY = 86_400_000_000

CART = {
    "recycleStateId": "c-1",
    "products": [{"productId": "p1", "quantity": 1, "price": 45.5}],
    "currencyCode": "USD",
}
PRODUCT = {"product": {"productId": "p1", "price": 45.5, "isInStock": 1}, "currencyCode": "USD"}
ORDER = {
    "externalOrderId": "o-1",
    "orderId": "o-1",
    "status": "DELIVERED",
    "totalCost": 45.5,
    "currency": "USD",
    "date": "2026-12-03T11:00:00Z",
    "items": [{"externalItemId": "p1", "quantity": 1}],
}
PAGE = {"page": {"location": "https://shop.example/"}}


def plan_of(name: str) -> Plan:
    return compile_plan(parse_definition(recipes.document(name)))


def starts(name: str, event_type: str, params: Any, **given: Any) -> bool:
    arguments: dict[str, Any] = {
        "event_type": event_type,
        "source": "order" if event_type.startswith("order") else "live",
        "params": params,
        "contact": {},
        "earlier": Earlier(),
        "now_us": NOW,
    } | given
    return may_start(plan_of(name), **arguments).start


def stopped_by(name: str, start_params: Any, event_type: str, params: Any) -> bool:
    """Whether an event stops the run ``start_params`` started (with its match keys)."""
    plan = plan_of(name)
    keys = match_keys(plan.match_path, start_params) if plan.match_path else None
    run_keys = keys if plan.stop_path is not None else None
    return stops(plan, event_type=event_type, params=params, run_keys=run_keys)


# -- shipped and valid -------------------------------------------------------------------------


def test_the_shipped_files_are_the_listed_recipes() -> None:
    shipped = {path.name for path in files(recipes.__name__).iterdir()}
    assert {name for name in shipped if name.endswith(".json")} == {
        f"{name}.json" for name in recipes.NAMES
    }
    assert recipes.names() == list(recipes.NAMES) and len(recipes.NAMES) == 6
    assert [name for name, _ in recipes.describe()] == recipes.names()


@pytest.mark.parametrize("name", recipes.NAMES)
def test_each_recipe_is_valid_and_says_what_to_change(name: str) -> None:
    text = recipes.load(name)
    assert text == recipes.dumps(json.loads(text)), "written as dumps writes it"
    definition = parse_definition(json.loads(text), Limits())
    compile_plan(definition)
    document = definition.document
    assert "To change:" in document.description and '"notify"' in document.description
    summary = recipes.summary(document.description)
    assert summary.endswith(".") and len(summary) <= 150
    (http,) = [block for block in document.blocks if isinstance(block, Http)]
    assert http.url == f"https://shop.example/hooks/{name}"
    assert http.body["recipe"] == name
    assert all(header.lower() != "idempotency-key" for header in http.headers)


def test_a_recipe_with_another_url() -> None:
    given = "https://crm.example/hooks/{{ run.workflowId }}"
    document = recipes.document("win-back", url=given)
    (http,) = [block for block in document["blocks"] if block["type"] == "http"]
    assert http["url"] == given
    parse_definition(document)
    placeholder = "https://shop.example/hooks/win-back"
    pointed = recipes.load("win-back", url=given)
    assert pointed.replace(given, placeholder) == recipes.load("win-back")
    with pytest.raises(InvalidWorkflow, match=r"blocks\[1\]\.url must start with http"):
        parse_definition(recipes.document("win-back", url="ftp://files.example/"))


def test_an_unknown_recipe_names_the_known_ones() -> None:
    with pytest.raises(recipes.UnknownRecipe, match="no recipe named 'cart'; the recipes are: "):
        recipes.load("cart")
    with pytest.raises(recipes.UnknownRecipe):
        recipes.load("../recipes/win-back")


# -- a run's way: the timer, then the request, then the end ------------------------------------

LOCAL_TEN = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)  # 10:00 in UTC, the contact's zone here


@pytest.mark.parametrize(
    ("name", "due"),
    [
        ("abandoned-cart", MOMENT + timedelta(hours=3)),
        ("abandoned-browse", MOMENT + timedelta(hours=2)),
        ("no-results-search", MOMENT + timedelta(minutes=30)),
        ("wishlist-reminder", LOCAL_TEN + timedelta(days=4)),
        ("order-follow-up", LOCAL_TEN + timedelta(days=8)),
        ("win-back", LOCAL_TEN + timedelta(days=31)),
    ],
)
def test_each_recipe_waits_then_sends_then_ends(name: str, due: datetime) -> None:
    plan = plan_of(name)
    facts, seed = Facts({}, {}), "1:1"
    assert advance(plan, plan.first, facts, seed) == ([], Wait("wait"))
    timer = plan.blocks["wait"]
    assert isinstance(timer, Timer)
    when = timer_due(timer, MOMENT, params={}, contact={}, zone=ZoneInfo("UTC"))
    assert when.at == due and when.note is None
    assert follow(plan, "wait", "next", facts, seed) == ([Passed("wait", "next")], Act("notify"))
    done = follow(plan, "notify", "next", facts, seed)
    assert done == ([Passed("notify", "next")], Finish("completed", "done"))
    failed = follow(plan, "notify", "failed", facts, seed)[1]
    assert failed == Finish("failed", "notify", "block 'notify' failed")


# -- what starts each recipe, and what does not ------------------------------------------------


@pytest.mark.parametrize(
    ("name", "event_type", "params", "expected"),
    [
        ("abandoned-cart", "cartUpdated", CART, True),
        ("abandoned-cart", "cartUpdated", CART | {"products": []}, False),
        ("abandoned-cart", "cartUpdated", {"recycleStateId": "c-1"}, False),
        ("abandoned-cart", "cartUpdated", CART | {"products": [{"quantity": 1}]}, False),
        ("abandoned-cart", "productViewed", PRODUCT, False),
        ("abandoned-browse", "productViewed", PRODUCT, True),
        ("abandoned-browse", "productViewed", {"product": {"productId": "p1", "price": 1}}, True),
        ("abandoned-browse", "productViewed", {"product": {"productId": "p1", "isInStock": 0}}, False),
        ("abandoned-browse", "productViewed", {"product": {"productId": "p1", "isInStock": "0"}}, False),
        ("abandoned-browse", "cartUpdated", CART, False),
        ("no-results-search", "searchRequest", {"search": "red mug", "isFound": 0}, True),
        ("no-results-search", "searchRequest", {"search": "red mug", "isFound": "0"}, True),
        ("no-results-search", "searchRequest", {"search": "red mug"}, True),
        ("no-results-search", "searchRequest", {"search": "red mug", "isFound": None}, True),
        ("no-results-search", "searchRequest", {"search": "red mug", "isFound": 1}, False),
        ("no-results-search", "searchRequest", {"search": "red mug", "isFound": "1"}, False),
        ("no-results-search", "searchRequest", {"search": " ", "isFound": 0}, False),
        ("no-results-search", "searchRequest", {"isFound": 0}, False),
        ("wishlist-reminder", "productAddedToWishlist", PRODUCT, True),
        ("wishlist-reminder", "productAddedToWishlist", {"product": {"isInStock": 0}}, False),
        ("wishlist-reminder", "productViewed", PRODUCT, False),
        ("order-follow-up", "orderDELIVERED", ORDER, True),
        ("order-follow-up", "orderINITIALIZED", ORDER | {"status": "INITIALIZED"}, False),
        ("order-follow-up", "orderCANCELLED", ORDER | {"status": "CANCELLED"}, False),
        ("win-back", "pageViewed", PAGE, True),
        ("win-back", "productViewed", PRODUCT, False),
    ],
)  # fmt: skip
def test_what_starts_each_recipe(name: str, event_type: str, params: Any, expected: bool) -> None:
    assert starts(name, event_type, params) is expected


@pytest.mark.parametrize("name", recipes.NAMES)
@pytest.mark.parametrize("source", ["past", "replay", "import"])
def test_history_starts_no_recipe(name: str, source: str) -> None:
    event_type = plan_of(name).definition.document.start.event
    assert event_type is not None
    params = {"abandoned-cart": CART, "order-follow-up": ORDER}.get(name, PRODUCT)
    assert starts(name, event_type, params, source=source) is False


def test_an_order_delivered_days_after_its_date_starts_no_follow_up() -> None:
    """To the pure rule an order event is news within a day of the order's date (the feed
    consumer also takes a change of the order's status as news, whatever its date: see
    tests/integration/test_workflow_recipes.py)."""
    assert starts("order-follow-up", "orderDELIVERED", ORDER, occurred_us=NOW - DAY) is True
    assert starts("order-follow-up", "orderDELIVERED", ORDER, occurred_us=NOW - DAY - 1) is False


# -- what stops each recipe, and what does not -------------------------------------------------


@pytest.mark.parametrize(
    ("name", "start", "event_type", "params", "expected"),
    [
        # the same cart, by its recycleStateId: a newer state, emptied, or bought
        ("abandoned-cart", CART, "cartUpdated", CART | {"products": []}, True),
        ("abandoned-cart", CART, "cartUpdated", CART | {"currencyCode": "EUR"}, True),
        ("abandoned-cart", CART, "cartUpdated", CART | {"recycleStateId": "c-2"}, False),
        ("abandoned-cart", CART, "orderINITIALIZED", ORDER | {"recycleStateId": "c-1"}, True),
        ("abandoned-cart", CART, "orderDELIVERED", ORDER | {"recycleStateId": "c-1"}, True),
        ("abandoned-cart", CART, "orderIN_PROGRESS", ORDER | {"recycleStateId": "c-2"}, False),
        ("abandoned-cart", CART, "orderDELIVERED", ORDER, False),  # no recycleStateId in it
        ("abandoned-cart", CART, "orderCANCELLED", ORDER | {"recycleStateId": "c-1"}, False),
        ("abandoned-cart", CART, "productViewed", PRODUCT, False),
        # any cart or order of the contact
        ("abandoned-browse", PRODUCT, "cartUpdated", CART | {"recycleStateId": "c-9"}, True),
        ("abandoned-browse", PRODUCT, "orderIN_PROGRESS", ORDER, True),
        ("abandoned-browse", PRODUCT, "productViewed", PRODUCT, False),
        ("no-results-search", {"search": "mug"}, "cartUpdated", CART, True),
        ("no-results-search", {"search": "mug"}, "orderDELIVERED", ORDER, True),
        ("no-results-search", {"search": "mug"}, "searchRequest", {"isFound": 1}, False),
        # a cart holding the wished product (a number and its spelling match)
        ("wishlist-reminder", PRODUCT, "cartUpdated", CART, True),
        ("wishlist-reminder", {"product": {"productId": 7}}, "cartUpdated", {"products": [{"productId": "p0"}, {"productId": "7"}]}, True),
        ("wishlist-reminder", PRODUCT, "cartUpdated", {"products": [{"productId": "p2"}]}, False),
        ("wishlist-reminder", PRODUCT, "cartUpdated", CART | {"products": []}, False),
        ("wishlist-reminder", PRODUCT, "orderDELIVERED", ORDER, False),  # items, not products
        # the same order, cancelled
        ("order-follow-up", ORDER, "orderCANCELLED", ORDER | {"status": "CANCELLED"}, True),
        ("order-follow-up", ORDER, "orderCANCELLED", ORDER | {"externalOrderId": "o-2"}, False),
        ("order-follow-up", ORDER, "orderDELIVERED", ORDER, False),
        # the next visit
        ("win-back", PAGE, "pageViewed", PAGE, True),
        ("win-back", PAGE, "productViewed", PRODUCT, False),
        ("win-back", PAGE, "orderDELIVERED", ORDER, False),
    ],
)  # fmt: skip
def test_what_stops_each_recipe(
    name: str, start: Any, event_type: str, params: Any, expected: bool
) -> None:
    assert stopped_by(name, start, event_type, params) is expected


# -- repeats: what replaces a stopped run, and what waits ----------------------------------------


def test_a_newer_cart_replaces_the_run_and_another_cart_waits() -> None:
    """The engine stops runs before it starts them, for each event: a newer state of the cart
    ends the waiting run, then starts its own (everyTime); a second cart while one waits starts
    nothing (notWhileActive), and an emptied cart only stops."""
    newer = CART | {"products": [*CART["products"], {"productId": "p2", "quantity": 2, "price": 3}]}
    assert stopped_by("abandoned-cart", CART, "cartUpdated", newer)
    replaced = Earlier(last_start_us=NOW - 1, active=0)
    assert starts("abandoned-cart", "cartUpdated", newer, earlier=replaced) is True
    waiting = Earlier(last_start_us=NOW - 1, active=1)
    other = CART | {"recycleStateId": "c-2"}
    assert not stopped_by("abandoned-cart", CART, "cartUpdated", other)
    assert starts("abandoned-cart", "cartUpdated", other, earlier=waiting) is False
    emptied = CART | {"products": []}
    assert stopped_by("abandoned-cart", CART, "cartUpdated", emptied)
    assert starts("abandoned-cart", "cartUpdated", emptied, earlier=replaced) is False


def test_each_visit_restarts_the_win_back_clock() -> None:
    """Every visit stops the waiting run and starts the next, so only the latest visit's run
    lasts; a run left going (had a stop been missed) would not keep the visit from starting."""
    assert stopped_by("win-back", PAGE, "pageViewed", PAGE)
    for active in (0, 1):
        earlier = Earlier(last_start_us=NOW - 1, active=active)
        assert starts("win-back", "pageViewed", PAGE, earlier=earlier) is True


@pytest.mark.parametrize(
    ("name", "event_type", "params"),
    [
        ("abandoned-browse", "productViewed", PRODUCT),
        ("no-results-search", "searchRequest", {"search": "mug", "isFound": 0}),
        ("order-follow-up", "orderDELIVERED", ORDER),
    ],
)
def test_at_most_one_a_day(name: str, event_type: str, params: Any) -> None:
    """Also an order sent again within a day of its date: it starts no second follow-up."""
    assert starts(name, event_type, params, earlier=Earlier(NOW - DAY + 1)) is False
    assert starts(name, event_type, params, earlier=Earlier(NOW - DAY)) is True


def test_one_wishlist_reminder_at_a_time() -> None:
    other = {"product": {"productId": "p2", "price": 5}}
    going = Earlier(last_start_us=NOW - 1, active=1)
    assert starts("wishlist-reminder", "productAddedToWishlist", other, earlier=going) is False
    done = Earlier(last_start_us=NOW - 1, active=0)
    assert starts("wishlist-reminder", "productAddedToWishlist", other, earlier=done) is True


# -- what each request carries -----------------------------------------------------------------


def body_of(name: str, event_type: str, params: Any) -> Any:
    block = plan_of(name).blocks["notify"]
    assert isinstance(block, Http)
    data = {
        "event": {
            "id": 11,
            "type": event_type,
            "keyValue": "a@b.example",
            "occurred": "2026-12-03T12:00:00Z",
            "params": params,
        },
        "contact": {"id": 7, "email": "a@b.example", "firstName": "Ann"},
        "run": {"id": 3, "workflowId": 2},
    }
    return render_json(block.body, data, "body")


def test_the_requests_carry_the_event_and_the_contact() -> None:
    cart = body_of("abandoned-cart", "cartUpdated", CART)
    assert cart["cart"] == {
        "recycleStateId": "c-1",
        "products": CART["products"],
        "currencyCode": "USD",
        "updated": "2026-12-03T12:00:00Z",
    }
    assert cart["contact"] == {
        "id": 7,
        "externalCustomerId": None,
        "email": "a@b.example",
        "phone": None,
        "firstName": "Ann",
        "languageCode": None,
    }
    assert body_of("abandoned-browse", "productViewed", PRODUCT)["product"] == PRODUCT["product"]
    wished = body_of("wishlist-reminder", "productAddedToWishlist", PRODUCT)
    assert wished["product"] == PRODUCT["product"]
    search = body_of("no-results-search", "searchRequest", {"search": "red mug", "isFound": 0})
    assert search["search"] == "red mug"
    order = body_of("order-follow-up", "orderDELIVERED", ORDER)["order"]
    assert order["externalOrderId"] == "o-1" and order["items"] == ORDER["items"]
    assert order["totalCost"] == 45.5
    visit = body_of("win-back", "pageViewed", PAGE)
    assert visit["lastPage"] == "https://shop.example/" and visit["recipe"] == "win-back"
