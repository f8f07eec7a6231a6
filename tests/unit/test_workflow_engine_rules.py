"""The engine's pure rules: which events start a run (types, sources, conditions on params and
contact fields, repeat policies, not while active), which events stop one (by type, contact and
matched value), and how a run moves through blocks that take no time."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pytest

from footfall.ingest.dates import to_us
from footfall.workflows.conditions import Facts
from footfall.workflows.definitions import parse_definition
from footfall.workflows.plan import Plan, compile_plan
from footfall.workflows.starting import Earlier, match_keys, may_start, redundant, stops
from footfall.workflows.stepping import Act, Finish, Listen, Passed, Wait, advance, follow, split

NOW = to_us(datetime(2026, 12, 3, 12, 0, tzinfo=UTC))
HOUR = 3_600_000_000
DAY = 24 * HOUR


def plan(start: dict[str, Any], stop: dict[str, Any] | None = None) -> Plan:
    document: dict[str, Any] = {
        "name": "t",
        "start": start,
        "blocks": [{"id": "done", "type": "end"}],
        "edges": [{"from": "start", "to": "done"}],
    }
    if stop is not None:
        document["stop"] = stop
    return compile_plan(parse_definition(document))


CART = {"event": "cartUpdated", "when": {"param": "products[*].productId", "op": "isSet"}}
FULL_CART = {"recycleStateId": "c-1", "products": [{"productId": "p1", "price": "10.5"}]}


def decide(p: Plan, **given: Any) -> tuple[bool, str]:
    arguments: dict[str, Any] = {
        "event_type": "cartUpdated",
        "source": "live",
        "params": FULL_CART,
        "contact": {},
        "earlier": Earlier(),
        "now_us": NOW,
    } | given
    decision = may_start(p, **arguments)
    return decision.start, decision.reason


def test_a_live_event_of_the_start_type_meeting_the_conditions_starts() -> None:
    assert decide(plan(CART)) == (True, "started")
    assert decide(plan(CART), source="order") == (True, "started")


@pytest.mark.parametrize("source", ["past", "replay", "import"])
def test_past_replayed_and_imported_events_never_start(source: str) -> None:
    assert decide(plan(CART), source=source) == (False, f"{source} events never start runs")


def test_type_and_conditions() -> None:
    assert decide(plan(CART), event_type="cartCleared")[0] is False
    empty_cart = {"recycleStateId": "c-1", "products": []}
    assert decide(plan(CART), params=empty_cart) == (False, "the start conditions do not hold")
    vip = plan(
        {"event": "cartUpdated", "when": {"contact": "tier", "op": "equals", "value": "vip"}}
    )
    assert decide(vip, contact={"tier": "vip"})[0] is True
    assert decide(vip, contact={"tier": "basic"})[0] is False
    assert decide(vip, contact={})[0] is False


def test_repeat_policies() -> None:
    every = plan(CART)
    assert decide(every, earlier=Earlier(last_start_us=NOW - 1, active=3))[0] is True

    once = plan(CART | {"repeat": "oncePerContact"})
    assert decide(once)[0] is True
    assert decide(once, earlier=Earlier(last_start_us=NOW - 400 * DAY)) == (
        False,
        "it starts once per contact",
    )

    weekly = plan(CART | {"repeat": "oncePerPeriod", "period": "7d"})
    assert decide(weekly, earlier=Earlier(last_start_us=NOW - 7 * DAY + 1))[0] is False
    assert decide(weekly, earlier=Earlier(last_start_us=NOW - 7 * DAY))[0] is True

    monthly = plan(CART | {"repeat": "oncePerPeriod", "period": "1mo"})
    jan_31 = to_us(datetime(2026, 1, 31, 12, 0, tzinfo=UTC))
    feb_28 = to_us(datetime(2026, 2, 28, 12, 0, tzinfo=UTC))
    assert decide(monthly, earlier=Earlier(last_start_us=jan_31), now_us=feb_28 - 1)[0] is False
    assert decide(monthly, earlier=Earlier(last_start_us=jan_31), now_us=feb_28)[0] is True


def test_not_while_active() -> None:
    guarded = plan(CART | {"notWhileActive": True})
    assert decide(guarded, earlier=Earlier(last_start_us=NOW - DAY, active=1)) == (
        False,
        "a run for this contact is active",
    )
    assert decide(guarded, earlier=Earlier(last_start_us=NOW - DAY, active=0))[0] is True


def test_stop_events_by_type_and_by_matched_value() -> None:
    by_contact = plan(CART, {"events": ["orderCREATED"]})
    assert stops(by_contact, event_type="orderCREATED", params={}, run_keys=None)
    assert not stops(by_contact, event_type="pageViewed", params={}, run_keys=None)

    by_cart = plan(
        CART, {"events": ["orderCREATED", "cartUpdated"], "matchParam": "recycleStateId"}
    )
    assert by_cart.match_path is not None
    keys = match_keys(by_cart.match_path, FULL_CART)
    assert keys == ["s:c-1"]
    assert stops(
        by_cart, event_type="orderCREATED", params={"recycleStateId": "c-1"}, run_keys=keys
    )
    assert not stops(
        by_cart, event_type="orderCREATED", params={"recycleStateId": "c-2"}, run_keys=keys
    )
    assert not stops(by_cart, event_type="orderCREATED", params={}, run_keys=keys)

    renamed = plan(
        CART,
        {"events": ["orderCREATED"], "matchParam": "recycleStateId", "stopParam": "order.cart"},
    )
    assert stops(
        renamed, event_type="orderCREATED", params={"order": {"cart": "c-1"}}, run_keys=keys
    )
    assert not stops(
        renamed, event_type="orderCREATED", params={"recycleStateId": "c-1"}, run_keys=keys
    )


@pytest.mark.parametrize(
    ("first", "second", "same"),
    [
        (42, "42", True),
        ("42.0", 42, True),
        (0.5, "0.50", True),
        ("-0", 0, True),
        ("1e3", 1000, True),
        (True, "true", True),
        ("abc", "abc", True),
        ("abc", "ABC", False),
        (1, True, False),
        ("42", "42a", False),
        (" 42", 42, False),
    ],
)
def test_match_keys_compare_numbers_by_value(first: Any, second: Any, same: bool) -> None:
    p = plan(CART, {"events": ["orderCREATED"], "matchParam": "id"})
    assert p.match_path is not None
    left, right = match_keys(p.match_path, {"id": first}), match_keys(p.match_path, {"id": second})
    assert bool(set(left) & set(right)) is same


def test_match_keys_are_bounded_and_skip_containers() -> None:
    p = plan(CART, {"events": ["orderCREATED"], "matchParam": "items[*].id"})
    assert p.match_path is not None
    many = {"items": [{"id": i} for i in range(1000)] + [{"id": {"nested": 1}}]}
    keys = match_keys(p.match_path, many)
    assert len(keys) == 20 and keys[0] == "n:0"
    long = match_keys(p.match_path, {"items": [{"id": "x" * 5000}]})
    assert len(long[0]) == 300
    assert match_keys(p.match_path, {"items": [{"id": [1]}, {"id": None}]}) == []


def flow() -> Plan:
    return compile_plan(
        parse_definition(
            {
                "name": "flow",
                "start": {"event": "cartUpdated"},
                "blocks": [
                    {
                        "id": "big",
                        "type": "condition",
                        "when": {"param": "total", "op": "greater", "value": 100},
                    },
                    {"id": "ab", "type": "split", "weights": {"a": 1, "b": 3}},
                    {"id": "goal", "type": "goal", "event": "orderCREATED", "within": "7d"},
                    {"id": "wait", "type": "timer", "delay": "1h"},
                    {"id": "call", "type": "http", "url": "https://x.example/"},
                    {"id": "order", "type": "waitEvent", "event": "orderCREATED", "timeout": "1d"},
                    {"id": "done", "type": "end"},
                ],
                "edges": [
                    {"from": "start", "to": "big"},
                    {"from": "big", "on": "yes", "to": "ab"},
                    {"from": "big", "on": "no", "to": "done"},
                    {"from": "ab", "on": "a", "to": "goal"},
                    {"from": "ab", "on": "b", "to": "call"},
                    {"from": "goal", "to": "wait"},
                    {"from": "wait", "to": "order"},
                    {"from": "order", "on": "event", "to": "done"},
                    {"from": "order", "on": "timeout", "to": "done"},
                    {"from": "call", "to": "done"},
                ],
            }
        )
    )


def test_a_run_passes_instant_blocks_and_stops_where_it_must_wait_or_act() -> None:
    p = flow()
    small = Facts({"total": "50"}, {})
    assert advance(p, p.first, small, "seed") == (
        [Passed("big", "no")],
        Finish("completed", "done"),
    )

    big = Facts({"total": 150}, {})
    seeds = {split({"a": 1, "b": 3}, f"s{i}:ab"): f"s{i}" for i in range(50)}
    passed, outcome = advance(p, p.first, big, seeds["a"])
    assert passed == [Passed("big", "yes"), Passed("ab", "a"), Passed("goal", "next")]
    assert outcome == Wait("wait")
    passed, outcome = advance(p, p.first, big, seeds["b"])
    assert passed == [Passed("big", "yes"), Passed("ab", "b")] and outcome == Act("call")

    assert follow(p, "wait", "next", big, "x") == ([Passed("wait", "next")], Listen("order"))
    assert follow(p, "order", "timeout", big, "x") == (
        [Passed("order", "timeout")],
        Finish("completed", "done"),
    )
    assert follow(p, "call", "failed", big, "x") == (
        [Passed("call", "failed")],
        Finish("failed", "call", "block 'call' failed"),
    )


def test_splits_are_fixed_per_seed_and_follow_the_weights() -> None:
    weights = {"a": 1, "b": 3}
    assert all(split(weights, f"c{i}") == split(weights, f"c{i}") for i in range(100))
    counts = Counter(split(weights, f"contact-{i}") for i in range(8000))
    assert 0.22 < counts["a"] / 8000 < 0.28
    assert split(weights, "\ud800") in weights  # a lone surrogate in a seed does not raise


def test_only_news_starts_stops_or_wakes_runs() -> None:
    from footfall.workflows.starting import FRESH_ORDER_US, happening

    assert happening("live", NOW - 400 * DAY, NOW)  # a live event is news whatever it says
    assert happening("order", NOW - FRESH_ORDER_US, NOW)
    assert not happening("order", NOW - FRESH_ORDER_US - 1, NOW)  # a sync of old orders
    for source in ("past", "replay", "import"):
        assert not happening(source, NOW, NOW)
    orders = plan({"event": "orderCREATED"})
    fresh = decide(orders, event_type="orderCREATED", source="order", occurred_us=NOW - HOUR)
    assert fresh == (True, "started")
    old = decide(orders, event_type="orderCREATED", source="order", occurred_us=NOW - 30 * DAY)
    assert old == (False, "an order dated more than a day before it arrived")


def test_after_a_merge_the_runs_the_policy_would_have_refused_are_redundant() -> None:
    runs = [(NOW + 2 * DAY, 3), (NOW, 1), (NOW + HOUR, 2)]
    assert redundant(plan(CART), runs) == []  # every time: all may go on
    assert redundant(plan(CART | {"notWhileActive": True}), runs) == [2, 3]
    assert redundant(plan(CART | {"repeat": "oncePerContact"}), runs) == [2, 3]
    daily = plan(CART | {"repeat": "oncePerPeriod", "period": "1d"})
    assert redundant(daily, runs) == [2]  # within a day of the first; the third a day later
    assert redundant(daily, [(NOW, 5)]) == []
