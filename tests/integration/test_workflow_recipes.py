"""The six recipes end to end, on SQLite and PostgreSQL, with time controlled by the test: each
shipped document (``recipes.load(name, url=...)``) is created enabled, the events the seed
document describes go in as the ingestion parses them (eSputnik's Generate event v2 bodies, with
products, product and page as JSON inside strings; orders through the orders parser), the clock
moves past the recipe's timer, and a real receiver on loopback gets the recipe's request.

What is shown, for each: nothing a second before the timer falls due, then exactly one POST
with the cart, product, query, order or page and the contact; the run completed. And what keeps a
recipe quiet or restarts it: the purchase or a newer state of the same cart, a cart after a
browse, a search that found something, a cart holding the wished product, a cancelled order, a
second visit; the repeat policies (once a day, one at a time), and the 10:00 local timers in the
contact's time zone, else the workspace's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from footfall.store.workflow_runs import Run
from footfall.workflows import recipes
from receiver import Received, Receiver
from workflow_engine import Engine, email
from workflow_engine import engine as engine  # the fixtures, for pytest to find here
from workflow_engine import own_store as own_store
from workflow_engine import receiver as receiver

SECOND = timedelta(seconds=1)
BOOTS = {"productId": "WS01-L-Green", "quantity": 1, "price": 45.5}
MUG = {"productId": "MUG-RED", "quantity": 2, "price": 9.9, "name": "Red mug"}
# eSputnik's own productViewed example, stray closing brackets after the JSON included
VIEWED = '{"productId":"WS01-L-Green","price":45.5,"isInStock":1,"someProductProperty":["green"]}]}'


def at(day: int, hour: int, minute: int = 0, *, month: int = 12, year: int = 2026) -> datetime:
    """A moment in UTC; the test's clock starts at ``at(3, 3)``, a Thursday (``START``)."""
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def recipe(engine: Engine, receiver: Receiver, name: str) -> int:
    """The shipped recipe, pointed at the receiver, created enabled."""
    return engine.flow(json.loads(recipes.load(name, url=receiver.url)))


@dataclass(frozen=True)
class Shopper:
    email: str
    id: int
    external_id: str

    @property
    def contact(self) -> dict[str, Any]:
        """The contact as every recipe's request body carries it."""
        return {
            "id": self.id,
            "externalCustomerId": self.external_id,
            "email": self.email,
            "phone": None,
            "firstName": "Olena",
            "languageCode": "uk",
        }


def shopper(engine: Engine, time_zone: str | None = None) -> Shopper:
    """A contact created through the contacts API, as a shop's back office would."""
    who = email()
    external = f"cust-{who.split('@')[0]}"
    document: dict[str, Any] = {
        "externalCustomerId": external,
        "firstName": "Olena",
        "languageCode": "uk",
        "channels": [{"type": "email", "value": who}],
    }
    if time_zone is not None:
        document["timeZone"] = time_zone
    return Shopper(who, engine.contact(document), external)


def compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def cart(engine: Engine, who: str, recycle: str, *products: dict[str, Any]) -> None:
    engine.post(
        "cartUpdated",
        who,
        ("email", who),
        ("products", compact(list(products))),
        ("currencyCode", "USD"),
        ("recycleStateId", recycle),
    )


def product_event(engine: Engine, kind: str, who: str, product: dict[str, Any] | str) -> None:
    text = product if isinstance(product, str) else compact(product)
    engine.post(kind, who, ("email", who), ("product", text), ("currencyCode", "USD"))


def search(engine: Engine, who: str, query: str, *found: tuple[str, Any]) -> None:
    engine.post("searchRequest", who, ("email", who), ("search", query), *found)


def visit(engine: Engine, who: str, location: str) -> None:
    engine.post("pageViewed", who, ("email", who), ("page", compact({"location": location})))


def order(engine: Engine, who: Shopper, number: str, status: str, **more: Any) -> dict[str, Any]:
    """An order of the orders API, dated now unless ``date`` says otherwise; its document."""
    sent = {
        "externalOrderId": number,
        "externalCustomerId": who.external_id,
        "email": who.email,
        "status": status,
        "totalCost": 45.5,
        "currency": "USD",
        "date": iso(datetime.fromtimestamp(engine.clock() / 1_000_000, UTC)),
        "items": [{"externalItemId": "WS01-L-Green", "quantity": 1, "cost": 45.5}],
    } | more
    engine.send_order(sent)
    return sent


def sent_at(engine: Engine, receiver: Receiver, due: datetime) -> Received:
    """Nothing new sent a second before ``due``; then, at ``due``, exactly one request."""
    before = len(receiver.requests)
    engine.clock.to(due - SECOND)
    engine.step()
    assert len(receiver.requests) == before, f"sent before {iso(due)}"
    engine.clock.to(due)
    engine.step()
    (request,) = receiver.requests[before:]
    assert request.method == "POST" and request.path == "/hook"
    return request


def nothing_by(engine: Engine, receiver: Receiver, moment: datetime) -> None:
    """Nothing new sent up to ``moment``."""
    before = len(receiver.requests)
    engine.clock.to(moment)
    engine.step()
    assert len(receiver.requests) == before


def completed(engine: Engine, run: Run, request: Received) -> None:
    """The run sent ``request`` from its notify block, once, and ended at done."""
    run, steps = engine.path(run)
    assert run.status == "completed" and run.block == "done"
    assert request.headers["Idempotency-Key"] == f"footfall-run-{run.id}-notify"
    assert [(s.block, s.branch) for s in steps] == [
        ("wait", "next"),
        ("notify", None),
        ("notify", "next"),
        ("done", None),
    ]


def statuses(engine: Engine, flow: int) -> list[tuple[str, str | None]]:
    """Each run's status and why it stopped, oldest first."""
    return [(r.status, r.reason) for r in reversed(engine.runs(flow))]


def stopped_by(kind: str) -> str:
    return f"stopped by {kind} (event "


# -- abandoned cart ----------------------------------------------------------------------------


def test_abandoned_cart_sends_the_latest_items_three_hours_after_the_last_change(
    engine: Engine, receiver: Receiver
) -> None:
    flow = recipe(engine, receiver, "abandoned-cart")
    ann = shopper(engine)
    cart(engine, ann.email, "rs-1", BOOTS)
    engine.step()
    (first,) = engine.runs(flow)
    assert first.status == "waiting" and first.block == "wait"
    engine.clock.to(at(3, 4))
    cart(engine, ann.email, "rs-1", BOOTS, MUG)  # a newer state of the same cart
    engine.step()
    second, _ = engine.runs(flow)
    nothing_by(engine, receiver, at(3, 6))  # three hours after the first state
    request = sent_at(engine, receiver, at(3, 7))
    assert request.json() == {
        "recipe": "abandoned-cart",
        "contact": ann.contact,
        "cart": {
            "recycleStateId": "rs-1",
            "products": [BOOTS, MUG],
            "currencyCode": "USD",
            "updated": "2026-12-03T04:00:00Z",
        },
    }
    completed(engine, second, request)
    (status, reason), _ = statuses(engine, flow)
    assert status == "stopped" and (reason or "").startswith(stopped_by("cartUpdated"))


def test_an_order_of_the_cart_cancels_the_reminder_and_another_carts_order_does_not(
    engine: Engine, receiver: Receiver
) -> None:
    flow = recipe(engine, receiver, "abandoned-cart")
    ann, bob = shopper(engine), shopper(engine)
    cart(engine, ann.email, "rs-ann", BOOTS)
    cart(engine, bob.email, "rs-bob", MUG)
    engine.step()
    engine.clock.to(at(3, 4))
    order(engine, ann, "o-ann", "INITIALIZED", recycleStateId="rs-ann")
    order(engine, bob, "o-bob", "INITIALIZED", recycleStateId="rs-older")
    engine.step()
    request = sent_at(engine, receiver, at(3, 6))
    assert request.json()["contact"] == bob.contact
    assert request.json()["cart"]["products"] == [MUG]
    nothing_by(engine, receiver, at(4, 6))
    runs = {r.contact_id: r for r in engine.runs(flow)}
    assert runs[bob.id].status == "completed"
    assert runs[ann.id].status == "stopped"
    assert (runs[ann.id].reason or "").startswith(stopped_by("orderINITIALIZED"))


def test_an_order_in_the_same_feed_page_as_its_cart_stops_the_run_at_once(
    engine: Engine, receiver: Receiver
) -> None:
    """A cart and its order that arrive together (one group commit, or a consumer behind)."""
    flow = recipe(engine, receiver, "abandoned-cart")
    ann = shopper(engine)
    with engine.together():  # in one commit, so in one page of the feed
        cart(engine, ann.email, "rs-1", BOOTS)
        order(engine, ann, "o-1", "INITIALIZED", recycleStateId="rs-1")
    engine.step()
    ((status, reason),) = statuses(engine, flow)
    assert status == "stopped" and (reason or "").startswith(stopped_by("orderINITIALIZED"))
    engine.clock.to(at(3, 4))
    cart(engine, ann.email, "rs-2", MUG)  # the next cart, once the first was bought
    engine.step()
    request = sent_at(engine, receiver, at(3, 7))
    assert request.json()["cart"]["recycleStateId"] == "rs-2"


def test_an_emptied_cart_stops_the_reminder_and_a_second_cart_waits_for_none(
    engine: Engine, receiver: Receiver
) -> None:
    """While a cart's run waits another cart starts nothing (notWhileActive), nor stops it; an
    emptied cart stops its run and starts none."""
    flow = recipe(engine, receiver, "abandoned-cart")
    ann = shopper(engine)
    cart(engine, ann.email, "rs-1", BOOTS)
    engine.step()
    engine.clock.to(at(3, 3, 30))
    cart(engine, ann.email, "rs-2", MUG)
    engine.step()
    assert statuses(engine, flow) == [("waiting", None)]
    engine.clock.to(at(3, 4))
    cart(engine, ann.email, "rs-1")  # emptied: eSputnik sends "products": "[]"
    engine.step()
    nothing_by(engine, receiver, at(4, 4))
    ((status, reason),) = statuses(engine, flow)
    assert status == "stopped" and (reason or "").startswith(stopped_by("cartUpdated"))


def test_an_empty_cart_starts_no_reminder(engine: Engine, receiver: Receiver) -> None:
    flow = recipe(engine, receiver, "abandoned-cart")
    cart(engine, shopper(engine).email, "rs-1")
    engine.step()
    assert engine.runs(flow) == []


# -- abandoned browse --------------------------------------------------------------------------


def test_abandoned_browse_sends_the_first_product_viewed_two_hours_later_once_a_day(
    engine: Engine, receiver: Receiver
) -> None:
    flow = recipe(engine, receiver, "abandoned-browse")
    ann = shopper(engine)
    product_event(engine, "productViewed", ann.email, VIEWED)
    engine.step()
    engine.clock.to(at(3, 3, 30))
    product_event(engine, "productViewed", ann.email, {"productId": "MUG-RED", "price": 9.9})
    engine.step()
    (run,) = engine.runs(flow)  # one at a time: the second view starts nothing
    request = sent_at(engine, receiver, at(3, 5))
    assert request.json() == {
        "recipe": "abandoned-browse",
        "contact": ann.contact,
        "product": {
            "productId": "WS01-L-Green",
            "price": 45.5,
            "isInStock": 1,
            "someProductProperty": ["green"],
        },
        "currencyCode": "USD",
        "viewed": "2026-12-03T03:00:00Z",
    }
    completed(engine, run, request)
    engine.clock.to(at(4, 3) - SECOND)
    product_event(engine, "productViewed", ann.email, VIEWED)
    engine.step()
    assert len(engine.runs(flow)) == 1  # at most one a day
    engine.clock.to(at(4, 3))
    product_event(engine, "productViewed", ann.email, VIEWED)
    engine.step()
    newest, _ = engine.runs(flow)
    assert newest.status == "waiting" and newest.block == "wait"


def test_a_cart_stops_abandoned_browse_and_the_stopped_run_counts_for_the_day(
    engine: Engine, receiver: Receiver
) -> None:
    flow = recipe(engine, receiver, "abandoned-browse")
    ann, bob = shopper(engine), shopper(engine)
    product_event(engine, "productViewed", ann.email, VIEWED)
    product_event(engine, "productViewed", bob.email, VIEWED)
    engine.step()
    engine.clock.to(at(3, 4))
    cart(engine, ann.email, "rs-any", MUG)  # any cart of the contact
    order(engine, bob, "o-bob", "IN_PROGRESS")  # or any order
    engine.step()
    engine.clock.to(at(3, 6))
    product_event(engine, "productViewed", ann.email, VIEWED)
    engine.step()
    nothing_by(engine, receiver, at(4, 2))
    runs = {r.contact_id: r for r in engine.runs(flow)}
    assert len(engine.runs(flow)) == 2
    assert (runs[ann.id].reason or "").startswith(stopped_by("cartUpdated"))
    assert (runs[bob.id].reason or "").startswith(stopped_by("orderIN_PROGRESS"))


def test_a_product_out_of_stock_starts_no_browse_reminder(
    engine: Engine, receiver: Receiver
) -> None:
    flow = recipe(engine, receiver, "abandoned-browse")
    gone = {"productId": "WS01-L-Green", "price": 45.5, "isInStock": 0}
    product_event(engine, "productViewed", shopper(engine).email, gone)
    engine.step()
    assert engine.runs(flow) == []


# -- no-results search -------------------------------------------------------------------------


def test_no_results_search_sends_the_query_half_an_hour_later_once_a_day(
    engine: Engine, receiver: Receiver
) -> None:
    flow = recipe(engine, receiver, "no-results-search")
    ann = shopper(engine)
    search(engine, ann.email, "red mug", ("isFound", 0))
    engine.step()
    (run,) = engine.runs(flow)
    request = sent_at(engine, receiver, at(3, 3, 30))
    assert request.json() == {
        "recipe": "no-results-search",
        "contact": ann.contact,
        "search": "red mug",
        "searched": "2026-12-03T03:00:00Z",
    }
    completed(engine, run, request)
    engine.clock.to(at(3, 4))
    search(engine, ann.email, "blue mug", ("isFound", 0))
    engine.step()
    assert len(engine.runs(flow)) == 1  # at most one a day
    engine.clock.to(at(4, 3))
    search(engine, ann.email, "green mug")  # without isFound: eSputnik's default is 0
    engine.step()
    assert sent_at(engine, receiver, at(4, 3, 30)).json()["search"] == "green mug"
    assert [status for status, _ in statuses(engine, flow)] == ["completed", "completed"]


def test_a_search_that_found_something_never_starts_no_results(
    engine: Engine, receiver: Receiver
) -> None:
    flow = recipe(engine, receiver, "no-results-search")
    ann = shopper(engine)
    search(engine, ann.email, "red mug", ("isFound", 1))
    search(engine, ann.email, "red mugs", ("isFound", "1"))
    engine.step()
    nothing_by(engine, receiver, at(4, 3))
    assert engine.runs(flow) == []
    search(engine, ann.email, "blue mug", ("isFound", 0))  # those did not count for the day
    engine.step()
    request = sent_at(engine, receiver, at(4, 3, 30))
    assert request.json()["search"] == "blue mug"


def test_a_cart_after_a_search_that_found_nothing_stops_no_results(
    engine: Engine, receiver: Receiver
) -> None:
    flow = recipe(engine, receiver, "no-results-search")
    ann = shopper(engine)
    search(engine, ann.email, "red mug", ("isFound", 0))
    engine.step()
    engine.clock.to(at(3, 3, 10))
    cart(engine, ann.email, "rs-1", MUG)
    engine.step()
    nothing_by(engine, receiver, at(3, 5))
    ((status, reason),) = statuses(engine, flow)
    assert status == "stopped" and (reason or "").startswith(stopped_by("cartUpdated"))


# -- wishlist reminder -------------------------------------------------------------------------


def test_wishlist_reminder_three_days_later_at_ten_one_at_a_time(
    engine: Engine, receiver: Receiver
) -> None:
    flow = recipe(engine, receiver, "wishlist-reminder")
    ann = shopper(engine)
    wished = {"productId": "WS01-L-Green", "price": 45.5, "isInStock": 1}
    product_event(engine, "productAddedToWishlist", ann.email, wished)
    engine.step()
    engine.clock.to(at(3, 5))
    product_event(engine, "productAddedToWishlist", ann.email, {"productId": "MUG", "price": 9})
    engine.step()
    (run,) = engine.runs(flow)  # one reminder at a time
    request = sent_at(engine, receiver, at(6, 10))  # Thursday 03:00 + 3 days, at 10:00 UTC
    assert request.json() == {
        "recipe": "wishlist-reminder",
        "contact": ann.contact,
        "product": wished,
        "currencyCode": "USD",
        "added": "2026-12-03T03:00:00Z",
    }
    completed(engine, run, request)


def test_a_cart_holding_the_wished_product_stops_the_reminder(
    engine: Engine, receiver: Receiver
) -> None:
    """Matched by product id, a number in the wishlist and its spelling in the cart alike; a
    cart without the product does not stop it, nor does an order (as the recipe says)."""
    flow = recipe(engine, receiver, "wishlist-reminder")
    ann = shopper(engine)
    product_event(engine, "productAddedToWishlist", ann.email, {"productId": 1234, "price": 45})
    engine.step()
    engine.clock.to(at(4, 12))
    cart(engine, ann.email, "rs-1", MUG)
    items = [{"externalItemId": "1234", "quantity": 1}]
    order(engine, ann, "o-1", "INITIALIZED", items=items)  # orders list items, not products
    engine.step()
    assert statuses(engine, flow) == [("waiting", None)]
    engine.clock.to(at(5, 12))
    cart(engine, ann.email, "rs-1", MUG, {"productId": "1234", "quantity": 1, "price": 45})
    engine.step()
    nothing_by(engine, receiver, at(7, 10))
    ((status, reason),) = statuses(engine, flow)
    assert status == "stopped" and (reason or "").startswith(stopped_by("cartUpdated"))


# -- order follow-up ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("contact_zone", "workspace_zone", "due"),
    [
        (None, None, at(10, 10)),  # UTC: a week after 03:00 on the 3rd, then 10:00
        (None, "America/New_York", at(10, 15)),  # 22:00 on the 2nd there: 10:00 EST on the 10th
        ("Asia/Tokyo", "America/New_York", at(11, 1)),  # 12:00 there: 10:00 JST on the 11th
    ],
)
def test_order_follow_up_a_week_after_delivery_at_ten_local_time(
    engine: Engine,
    receiver: Receiver,
    contact_zone: str | None,
    workspace_zone: str | None,
    due: datetime,
) -> None:
    """The contact's time zone, else the workspace's."""
    if workspace_zone is not None:
        engine.store.workspace_settings.update(engine.ws, time_zone=workspace_zone)
    flow = recipe(engine, receiver, "order-follow-up")
    ann = shopper(engine, contact_zone)
    sent = order(engine, ann, "o-1", "DELIVERED", date="2026-12-03T02:40:00+00:00")
    engine.step()
    (run,) = engine.runs(flow)
    request = sent_at(engine, receiver, due)
    assert request.json() == {
        "recipe": "order-follow-up",
        "contact": ann.contact,
        "order": {
            "externalOrderId": "o-1",
            "totalCost": 45.5,
            "currency": "USD",
            "date": "2026-12-03T02:40:00+00:00",
            "items": sent["items"],
        },
    }
    completed(engine, run, request)


def test_a_cancelled_order_gets_no_follow_up_and_one_sent_again_no_second(
    engine: Engine, receiver: Receiver
) -> None:
    flow = recipe(engine, receiver, "order-follow-up")
    ann = shopper(engine)
    order(engine, ann, "o-1", "DELIVERED")
    engine.step()
    engine.clock.to(at(3, 5))
    order(engine, ann, "o-1", "DELIVERED")  # the shop sends it again: at most one a day
    order(engine, ann, "o-2", "CANCELLED")  # another order's cancellation
    engine.step()
    assert statuses(engine, flow) == [("waiting", None)]
    engine.clock.to(at(5, 9))
    order(engine, ann, "o-1", "CANCELLED", date="2026-12-05T09:00:00Z")  # dated when cancelled
    engine.step()
    nothing_by(engine, receiver, at(12, 10))
    ((status, reason),) = statuses(engine, flow)
    assert status == "stopped" and (reason or "").startswith(stopped_by("orderCANCELLED"))


def test_a_cancellation_keeping_the_order_date_still_stops_the_follow_up(
    engine: Engine, receiver: Receiver
) -> None:
    """Shops send a status change with the order's own date: a change of status is news
    however old the order, while the same status sent again (a sync) is not."""
    flow = recipe(engine, receiver, "order-follow-up")
    ann = shopper(engine)
    placed = "2026-12-03T02:40:00+00:00"
    order(engine, ann, "o-1", "DELIVERED", date=placed)
    engine.step()
    engine.clock.to(at(6, 9))
    order(engine, ann, "o-1", "DELIVERED", date=placed)  # a nightly sync: not news
    engine.step()
    assert statuses(engine, flow) == [("waiting", None)]
    order(engine, ann, "o-1", "CANCELLED", date=placed)  # three days later, the same date
    engine.step()
    nothing_by(engine, receiver, at(12, 10))
    ((status, reason),) = statuses(engine, flow)
    assert status == "stopped" and (reason or "").startswith(stopped_by("orderCANCELLED"))


def test_a_delivery_days_after_the_order_was_placed_gets_its_follow_up(
    engine: Engine, receiver: Receiver
) -> None:
    flow = recipe(engine, receiver, "order-follow-up")
    ann = shopper(engine)
    placed = "2026-12-03T02:40:00+00:00"
    order(engine, ann, "o-1", "INITIALIZED", date=placed)
    engine.step()
    engine.clock.to(at(6, 9))
    order(engine, ann, "o-1", "DELIVERED", date=placed)  # a status change: news
    engine.step()
    assert [status for status, _ in statuses(engine, flow)] == ["waiting"]
    assert sent_at(engine, receiver, at(13, 10)).json()["order"]["externalOrderId"] == "o-1"


def test_an_order_delivered_with_an_old_date_starts_no_follow_up(
    engine: Engine, receiver: Receiver
) -> None:
    """A sync of history: the order is dated more than a day before it arrives."""
    flow = recipe(engine, receiver, "order-follow-up")
    order(engine, shopper(engine), "o-old", "DELIVERED", date="2026-12-02T02:59:59Z")
    engine.step()
    assert engine.runs(flow) == []


def test_a_second_delivery_the_next_day_gets_its_own_follow_up(
    engine: Engine, receiver: Receiver
) -> None:
    flow = recipe(engine, receiver, "order-follow-up")
    ann = shopper(engine)
    order(engine, ann, "o-1", "DELIVERED")
    engine.step()
    engine.clock.to(at(4, 3))
    order(engine, ann, "o-2", "DELIVERED")
    engine.step()
    assert sent_at(engine, receiver, at(10, 10)).json()["order"]["externalOrderId"] == "o-1"
    assert sent_at(engine, receiver, at(11, 10)).json()["order"]["externalOrderId"] == "o-2"
    assert [status for status, _ in statuses(engine, flow)] == ["completed", "completed"]


# -- win-back ----------------------------------------------------------------------------------


def test_win_back_thirty_days_after_the_last_visit_only(engine: Engine, receiver: Receiver) -> None:
    flow = recipe(engine, receiver, "win-back")
    ann = shopper(engine)
    visit(engine, ann.email, "https://shop.example/")
    engine.step()
    engine.clock.to(at(13, 15))
    visit(engine, ann.email, "https://shop.example/boots")  # restarts the clock
    engine.step()
    (first_status, first_reason), (second_status, _) = statuses(engine, flow)
    assert first_status == "stopped" and (first_reason or "").startswith(stopped_by("pageViewed"))
    assert second_status == "waiting"
    nothing_by(engine, receiver, at(2, 10, month=1, year=2027))  # 30 days after the first
    # 30 days after 15:00 on the 13th is 15:00 on 12 January; then 10:00 the next day
    request = sent_at(engine, receiver, at(13, 10, month=1, year=2027))
    assert request.json() == {
        "recipe": "win-back",
        "contact": ann.contact,
        "lastVisit": "2026-12-13T15:00:00Z",
        "lastPage": "https://shop.example/boots",
    }
    completed(engine, engine.runs(flow)[0], request)
    nothing_by(engine, receiver, at(1, 10, month=3, year=2027))
