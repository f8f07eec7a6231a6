"""Workflow documents: a complete one accepted as given, and each refusal pointing at its block
and field, from the shape (types, unknown and missing fields) to the graph (edges, branches,
reachability, loops) and the bounds."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from footfall.exceptions import InvalidWorkflow
from footfall.workflows.definitions import Limits, canonical, event_types, parse_definition
from footfall.workflows.document import ConditionBlock, Http, Split, Timer, WaitEvent
from footfall.workflows.durations import Duration, parse_duration, parse_time_of_day


def abandoned_cart() -> dict[str, Any]:
    """Every kind of block, as a user would write them."""
    return {
        "name": "Abandoned cart",
        "description": "A non-empty cart and no order within 3 hours",
        "start": {
            "event": "cartUpdated",
            "when": {"param": "products[*].productId", "op": "isSet"},
            "repeat": "oncePerPeriod",
            "period": "7d",
            "notWhileActive": True,
        },
        "stop": {
            "events": ["orderCREATED", "cartUpdated"],
            "matchParam": "recycleStateId",
            "lookBack": "1h",
        },
        "blocks": [
            {"id": "wait", "type": "timer", "delay": "3h", "until": {"time": "10:00"}},
            {
                "id": "order",
                "type": "waitEvent",
                "event": "orderCREATED",
                "matchParam": "recycleStateId",
                "timeout": "1d",
            },
            {
                "id": "big",
                "type": "condition",
                "when": {
                    "any": [
                        {"param": "products[0].price", "op": "greater", "value": 100},
                        {"contact": "city", "op": "equals", "value": "Kyiv"},
                    ]
                },
            },
            {"id": "ab", "type": "split", "weights": {"a": 50, "b": 50}},
            {
                "id": "remind",
                "type": "http",
                "url": "https://shop.example/remind?c={{ contact.id }}",
                "headers": {"X-Cart": "{{ event.params.recycleStateId }}"},
                "body": {"items": "{{ event.params.products | tojson }}"},
                "auth": {"bearer": "t0ken"},
                "retries": 5,
                "allowedHours": {"from": "09:00", "to": "21:00"},
            },
            {"id": "mark", "type": "setField", "field": "lastReminder", "value": "{{ run.id }}"},
            {"id": "tell", "type": "emit", "event": "cartReminded", "params": {"n": 1}},
            {"id": "bought", "type": "goal", "event": "orderCREATED", "within": "7d"},
            {"id": "done", "type": "end"},
        ],
        "edges": [
            {"from": "start", "to": "wait"},
            {"from": "wait", "to": "order"},
            {"from": "order", "on": "event", "to": "done"},
            {"from": "order", "on": "timeout", "to": "big"},
            {"from": "big", "on": "yes", "to": "ab"},
            {"from": "big", "on": "no", "to": "done"},
            {"from": "ab", "on": "a", "to": "remind"},
            {"from": "ab", "on": "b", "to": "tell"},
            {"from": "remind", "to": "mark"},
            {"from": "remind", "on": "failed", "to": "done"},
            {"from": "mark", "to": "bought"},
            {"from": "tell", "to": "bought"},
            {"from": "bought", "to": "done"},
        ],
    }


def test_a_complete_document_is_accepted_as_given() -> None:
    source = abandoned_cart()
    definition = parse_definition(source)
    assert definition.source == abandoned_cart()  # kept as given, not rewritten
    assert definition.name == "Abandoned cart"
    assert definition.start_event == "cartUpdated"
    kinds = [type(block) for block in definition.document.blocks]
    assert kinds[:5] == [Timer, WaitEvent, ConditionBlock, Split, Http]
    assert set(event_types(definition)) == {"cartUpdated", "orderCREATED"}
    http = definition.document.blocks[4]
    assert isinstance(http, Http) and http.method == "POST" and http.timeout == "10s"


def test_canonical_form_ignores_key_order() -> None:
    source = abandoned_cart()
    reordered = dict(reversed(list(source.items())))
    assert canonical(reordered) == canonical(source)
    changed = abandoned_cart()
    changed["blocks"][0]["delay"] = "4h"
    assert canonical(changed) != canonical(source)


def test_a_contact_date_start() -> None:
    source = {
        "name": "Birthday",
        "start": {
            "contactDate": {"field": "birthday", "daysBefore": 3, "at": "10:00"},
            "when": {"contact": "city", "op": "isSet"},
            "repeat": "oncePerPeriod",
            "period": "1mo",
        },
        "blocks": [{"id": "done", "type": "end"}],
        "edges": [{"from": "start", "to": "done"}],
    }
    assert parse_definition(source).start_event is None


Change = Callable[[dict[str, Any]], None]


def _set(path: str, value: Any) -> Change:
    """A change that sets ``path`` (dots and [n]) of the document to ``value``."""

    def change(document: dict[str, Any]) -> None:
        *parents, last = _steps(path)
        target: Any = document
        for step in parents:
            target = target[step]
        target[last] = value

    return change


def _drop(path: str) -> Change:
    def change(document: dict[str, Any]) -> None:
        *parents, last = _steps(path)
        target: Any = document
        for step in parents:
            target = target[step]
        del target[last]

    return change


def _steps(path: str) -> list[str | int]:
    steps: list[str | int] = []
    for part in path.replace("[", ".[").split("."):
        if part.startswith("["):
            steps.append(int(part[1:-1]))
        elif part:
            steps.append(part)
    return steps


def _edges(*edges: dict[str, str]) -> Change:
    return _set("edges", list(edges))


# (what is wrong, the change, the field the refusal must point at, words its message must hold)
REFUSALS: list[tuple[str, Change, str, str]] = [
    ("no name", _drop("name"), "name", "missing required field"),
    ("blank name", _set("name", "  "), "name", "1 to 200"),
    ("name too long", _set("name", "n" * 201), "name", "1 to 200"),
    ("unknown top field", _set("owner", "me"), "owner", "unknown field"),
    ("no start", _drop("start"), "start", "missing required"),
    ("start with both", _set("start.contactDate", {"field": "b"}), "start", "exactly one"),
    ("start without either", _drop("start.event"), "start", "exactly one"),
    ("bad start type key", _set("start.event", "a/b"), "start.event", "must not contain"),
    ("start event a number", _set("start.event", 5), "start.event", "Expected `str"),
    (
        "bad start condition",
        _set("start.when", {"param": "x", "op": "bogus"}),
        "start.when.op",
        "op",
    ),
    ("bad repeat", _set("start.repeat", "always"), "start.repeat", "everyTime"),
    ("period missing", _drop("start.period"), "start.period", "required"),
    ("period too short", _set("start.period", "30s"), "start.period", "from 1 minute to"),
    ("period malformed", _set("start.period", "7 days"), "start.period", "duration"),
    ("stop no events", _set("stop.events", []), "stop.events", "1 to 20"),
    ("stop bad type", _set("stop.events[1]", ""), "stop.events[1]", "empty"),
    ("stop bad lookBack", _set("stop.lookBack", "1y"), "stop.lookBack", "units"),
    (
        "stopParam alone",
        _set("stop", {"events": ["a"], "stopParam": "x"}),
        "stop.stopParam",
        "matchParam",
    ),
    ("blocks empty", _set("blocks", []), "blocks", "non-empty"),
    ("blocks not a list", _set("blocks", {"id": "x"}), "blocks", "non-empty"),
    ("unknown block type", _set("blocks[0].type", "sleep"), "blocks[0].type", "unknown block type"),
    ("send message reserved", _set("blocks[0].type", "sendMessage"), "blocks[0].type", "messages"),
    ("block without id", _drop("blocks[2].id"), "blocks[2].id", "blocks[2]"),
    ("block id bad", _set("blocks[2].id", "9lives"), "blocks[2].id", "start with a letter"),
    ("block id start", _set("blocks[2].id", "start"), "blocks[2].id", "cannot be"),
    (
        "duplicate id",
        _set("blocks[1].id", "wait"),
        "blocks[1].id",
        "used by blocks[0] and blocks[1]",
    ),
    ("unknown block field", _set("blocks[0].delays", "3h"), "blocks[0].delays", 'block "wait"'),
    ("timer bad delay", _set("blocks[0].delay", "3 hours"), "blocks[0].delay", "units"),
    (
        "timer until bad time",
        _set("blocks[0].until", {"time": "25:00"}),
        "blocks[0].until.time",
        "HH:MM",
    ),
    (
        "timer bad weekday",
        _set("blocks[0].until", {"time": "10:00", "weekdays": ["monday"]}),
        "blocks[0].until.weekdays",
        "mon",
    ),
    ("timer two targets", _set("blocks[0].untilParam", "date"), "blocks[0]", "one of until"),
    (
        "timer nothing",
        _set("blocks[0]", {"id": "wait", "type": "timer"}),
        "blocks[0]",
        "needs a delay",
    ),
    ("timer offset alone", _set("blocks[0].offset", "1d"), "blocks[0].offset", "untilParam"),
    ("timer bad zone", _set("blocks[0].timeZone", "Europe/Kyiv"), "blocks[0].timeZone", "contact"),
    ("wait no timeout", _drop("blocks[1].timeout"), "blocks[1].timeout", 'block "order"'),
    ("wait bad path", _set("blocks[1].matchParam", "a..b"), "blocks[1].matchParam", ""),
    ("condition no when", _drop("blocks[2].when"), "blocks[2].when", "missing"),
    (
        "condition bad leaf",
        _set("blocks[2].when.any[1].op", "like"),
        "blocks[2].when.any[1].op",
        "",
    ),
    ("split one branch", _set("blocks[3].weights", {"a": 1}), "blocks[3].weights", "2 to 10"),
    ("split zero weight", _set("blocks[3].weights.b", 0), "blocks[3].weights.b", "1 to 1000"),
    ("split weight text", _set("blocks[3].weights.b", "50"), "blocks[3].weights", "Expected `int"),
    ("http bad method", _set("blocks[4].method", "BREW"), "blocks[4].method", "GET"),
    (
        "http bad template",
        _set("blocks[4].url", "https://x/{{ contact.id "),
        "blocks[4].url",
        "line 1",
    ),
    (
        "http bad header name",
        _set("blocks[4].headers", {"X Y": "1"}),
        "blocks[4].headers",
        "header name",
    ),
    (
        "http bad header template",
        _set("blocks[4].headers.X-Cart", "{% if %}"),
        "blocks[4].headers.X-Cart",
        "template error",
    ),
    (
        "http bad body template",
        _set("blocks[4].body", {"a": ["{{ }}"]}),
        "blocks[4].body.a[0]",
        "template error",
    ),
    ("http timeout too long", _set("blocks[4].timeout", "1m"), "blocks[4].timeout", "30 seconds"),
    ("http retries", _set("blocks[4].retries", 11), "blocks[4].retries", "0 to 10"),
    (
        "http both auths",
        _set("blocks[4].auth", {"bearer": "t", "username": "u"}),
        "blocks[4].auth",
        "Basic",
    ),
    (
        "http hours equal",
        _set("blocks[4].allowedHours", {"from": "09:00", "to": "09:00"}),
        "blocks[4].allowedHours",
        "differ",
    ),
    ("http hours true", _set("blocks[4].allowedHours", True), "blocks[4].allowedHours", "false"),
    ("http get with body", _set("blocks[4].method", "GET"), "blocks[4].body", "GET"),
    ("setField no value", _drop("blocks[5].value"), "blocks[5].value", "missing"),
    ("emit bad type", _set("blocks[6].event", "a<b"), "blocks[6].event", "must not contain"),
    ("goal no window", _drop("blocks[7].within"), "blocks[7].within", "missing"),
    ("edge from nowhere", _set("edges[1].from", "nowhere"), "edges[1].from", "no block"),
    ("edge to nowhere", _set("edges[1].to", "nowhere"), "edges[1].to", "no block"),
    ("edge to start", _set("edges[1].to", "start"), "edges[1].to", "no block"),
    ("edge wrong branch", _set("edges[4].on", "maybe"), "edges[4].on", "its branches: yes, no"),
    (
        "edge from end",
        _set("edges[12]", {"from": "done", "to": "wait"}),
        "edges[12].on",
        "ends the run",
    ),
    ("edge twice", _set("edges[5].on", "yes"), "edges[5]", "already leads"),
    ("branch without edge", _drop("edges[5]"), "blocks[2]", 'branch "no"'),
    ("no start edge", _drop("edges[0]"), "edges", 'no edge from "start"'),
    ("edge unknown field", _set("edges[0].label", "x"), "edges[0].label", "unknown field"),
    ("name of digits", _set("name", "123"), "name", "only digits"),
    (
        "template too deep",
        _set("blocks[4].url", "https://x/{{" + "(" * 200 + "1" + ")" * 200 + "}}"),
        "blocks[4].url",
        "nests too deeply",
    ),
    ("url not http", _set("blocks[4].url", "file:///etc/passwd"), "blocks[4].url", "http://"),
    ("url blank", _set("blocks[4].url", ""), "blocks[4].url", "http://"),
    (
        "header line break",
        _set("blocks[4].headers", {"X": "a\r\nInjected: 1"}),
        "blocks[4].headers.X",
        "line break",
    ),
    (
        "header set by footfall",
        _set("blocks[4].headers", {"Host": "x"}),
        "blocks[4].headers",
        "set by Footfall",
    ),
    (
        "bearer line break",
        _set("blocks[4].auth", {"bearer": "t\n"}),
        "blocks[4].auth.bearer",
        "line break",
    ),
    (
        "emit starts itself",
        _set("blocks[6].event", "cartUpdated"),
        "blocks[6].event",
        "start it again",
    ),
    ("emit params a list", _set("blocks[6].params", [1]), "blocks[6].params", "object"),
    (
        "emit key NUL",
        _set("blocks[6].keyValue", "a\u0000"),
        "blocks[6].keyValue",
        "control character",
    ),
    (
        "url host templated",
        _set("blocks[4].url", "https://{{ event.params.shop }}.shops.example/hook"),
        "blocks[4].url",
        "scheme and host are written out",
    ),
    (
        "url port templated",
        _set("blocks[4].url", "https://shop.example:{{ event.params.port }}/"),
        "blocks[4].url",
        "scheme and host",
    ),
    (
        "url template before the path",
        _set("blocks[4].url", "https://shop.example?c={{ contact.id }}"),
        "blocks[4].url",
        "scheme and host",
    ),
    (
        "url without host",
        _set("blocks[4].url", "https:///{{ contact.id }}"),
        "blocks[4].url",
        "host",
    ),
    (
        "filter argument out of bounds",
        _set("blocks[4].body.items", "{{ event.params.products | tojson(indent=2) }}"),
        "blocks[4].body.items",
        "'tojson' (line 1) takes no arguments",
    ),
    (
        "filter argument from the event",
        _set("blocks[4].headers.X-Cart", "{{ event.params.n | round(event.params.p) }}"),
        "blocks[4].headers.X-Cart",
        "precision must be an integer from 0 to 15",
    ),
    (
        "template that would not compile",
        _set("blocks[5].value", "{{ 0x" + "f" * 5000 + " }}"),
        "blocks[5].value",
        "cannot be compiled",
    ),
    (
        "integer literal too long",
        _set("blocks[5].value", "{{ 1" + "0" * 5000 + " }}"),
        "blocks[5].value",
        "cannot be read",
    ),
    (
        "emit param name templated",
        _set("blocks[6].params", {"{{ event.params.name }}": 1}),
        "blocks[6].params",
        "written out, not templated",
    ),
    (
        "emit param name too long",
        _set("blocks[6].params", {"n" * 101: 1}),
        "blocks[6].params",
        "1 to 100 characters",
    ),
    ("emit param name blank", _set("blocks[6].params", {" ": 1}), "blocks[6].params", "not blank"),
    (
        "emit too many params",
        _set("blocks[6].params", {f"p{i}": i for i in range(101)}),
        "blocks[6].params",
        "at most 100 params",
    ),
]


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [pytest.param(c, f, w, id=name) for name, c, f, w in REFUSALS],
)
def test_each_refusal_points_at_its_field(change: Change, field: str, words: str) -> None:
    document = abandoned_cart()
    change(document)
    with pytest.raises(InvalidWorkflow) as refused:
        parse_definition(document)
    assert refused.value.field == field, refused.value.message
    assert words in refused.value.message
    assert field in refused.value.message or field == "body"


def test_a_contact_date_start_has_no_starting_event_to_read() -> None:
    def dated() -> dict[str, Any]:
        document = abandoned_cart()
        document["start"] = {"contactDate": {"field": "birthday"}}
        document["stop"] = {"events": ["orderCREATED"]}
        document["blocks"][1].pop("matchParam")
        return document

    assert parse_definition(dated()).start_event is None
    stop = dated()
    stop["stop"]["matchParam"] = "id"
    wait = dated()
    wait["blocks"][1]["matchParam"] = "recycleStateId"
    timer = dated()
    timer["blocks"][0] = {"id": "wait", "type": "timer", "untilParam": "deliveryDate"}
    for document, field in (
        (stop, "stop.matchParam"),
        (wait, "blocks[1].matchParam"),
        (timer, "blocks[0].untilParam"),
    ):
        with pytest.raises(InvalidWorkflow, match="no starting event") as refused:
            parse_definition(document)
        assert refused.value.field == field


def test_budgets_for_patterns_and_templates() -> None:
    patterns = abandoned_cart()
    leaves = [{"param": f"p{i}", "op": "matches", "value": f"x{i}"} for i in range(21)]
    patterns["blocks"][2]["when"] = {"any": leaves}
    with pytest.raises(InvalidWorkflow, match="at most 20 matches") as refused:
        parse_definition(patterns)
    assert refused.value.field == "body"
    patterns["blocks"][2]["when"] = {"any": leaves[:20]}
    assert parse_definition(patterns).name == "Abandoned cart"

    templated = abandoned_cart()
    templated["blocks"][4]["body"] = {f"k{i}": "{{ event.params.x }}" * 400 for i in range(10)}
    with pytest.raises(InvalidWorkflow, match="templated values hold") as refused:
        parse_definition(templated)
    assert refused.value.field == "blocks"


def test_templated_strings_are_bounded_in_number() -> None:
    """Each one is compiled when the document is saved and by every worker that renders it."""
    many = abandoned_cart()
    many["blocks"][4]["body"] = [f"{{{{ {i} }}}}" for i in range(501)]
    with pytest.raises(
        InvalidWorkflow, match="504 different templated strings; the limit is 500"
    ) as refused:
        parse_definition(many)
    assert refused.value.field == "blocks"
    many["blocks"][4]["body"] = [f"{{{{ {i} }}}}" for i in range(490)]
    assert parse_definition(many).name == "Abandoned cart"
    many["blocks"][4]["body"] = ["{{ event.params.x }}"] * 2000  # compiled once
    assert parse_definition(many).name == "Abandoned cart"


def test_what_an_emitted_event_may_hold() -> None:
    document = abandoned_cart()
    params = {f"p{i}": "{{ event.params.x }}" for i in range(99)}
    document["blocks"][6]["params"] = {**params, "n" * 100: {"{{ contact.id }}": 1}}
    assert parse_definition(document).name == "Abandoned cart"  # a value's keys may be templated


def test_urls_whose_host_is_written_out() -> None:
    for url in (
        "https://shop.example",
        "https://shop.example/{{ event.params.path }}",
        "http://127.0.0.1:8080/a?b={{ contact.id }}#{{ run.id }}",
        "HTTPS://user:pw@shop.example/{{ contact.id }}",
    ):
        document = abandoned_cart()
        document["blocks"][4]["url"] = url
        assert parse_definition(document).name == "Abandoned cart", url


def test_unreachable_blocks_and_loops_are_refused() -> None:
    unreachable = abandoned_cart()
    unreachable["blocks"].append({"id": "lost", "type": "end"})
    with pytest.raises(InvalidWorkflow, match='"lost" cannot be reached') as refused:
        parse_definition(unreachable)
    assert refused.value.field == "blocks[9]"

    loop = {
        "name": "loop",
        "start": {"event": "e"},
        "blocks": [
            {"id": "a", "type": "timer", "delay": "1m"},
            {"id": "b", "type": "condition", "when": {"param": "x", "op": "isSet"}},
            {"id": "end", "type": "end"},
        ],
        "edges": [
            {"from": "start", "to": "a"},
            {"from": "a", "to": "b"},
            {"from": "b", "on": "yes", "to": "end"},
            {"from": "b", "on": "no", "to": "a"},
        ],
    }
    with pytest.raises(InvalidWorkflow, match="closes a loop") as refused:
        parse_definition(loop)
    assert refused.value.field == "edges[3]"


def test_bounds_on_blocks_edges_and_depth() -> None:
    many = abandoned_cart()
    with pytest.raises(InvalidWorkflow, match="at most 5 blocks") as refused:
        parse_definition(many, Limits(max_blocks=5))
    assert refused.value.field == "blocks"

    edges = abandoned_cart()
    edges["edges"] = edges["edges"] * 20
    with pytest.raises(InvalidWorkflow, match="more edges") as refused:
        parse_definition(edges)

    deep: Any = "x"
    for _ in range(40):
        deep = [deep]
    nested = abandoned_cart()
    nested["blocks"][4]["body"] = deep
    with pytest.raises(InvalidWorkflow, match="levels deep") as refused:
        parse_definition(nested)
    assert refused.value.field == "body"


@pytest.mark.parametrize("document", [None, [], "x", 5, {"blocks": [1]}])
def test_documents_of_the_wrong_kind_are_refused(document: Any) -> None:
    with pytest.raises(InvalidWorkflow):
        parse_definition(document)


def test_an_optional_failed_branch_may_be_left_out() -> None:
    document = abandoned_cart()
    document["edges"] = [e for e in document["edges"] if e.get("on") != "failed"]
    assert parse_definition(copy.deepcopy(document)).source == document


def test_templates_run_in_a_sandbox_with_no_access_to_internals() -> None:
    from jinja2 import TemplateSyntaxError  # noqa: F401  (only to show which engine)
    from jinja2.exceptions import SecurityError

    from footfall.workflows.templates import _ENVIRONMENT

    template = _ENVIRONMENT.from_string("{{ ''.__class__.__mro__[1].__subclasses__() }}")
    with pytest.raises(SecurityError):
        template.render()


def test_durations_and_times_of_day() -> None:
    start = datetime(2026, 1, 31, 12, 0, tzinfo=UTC)
    assert parse_duration("1mo", "f").after(start) == datetime(2026, 2, 28, 12, 0, tzinfo=UTC)
    assert parse_duration("13mo", "f").after(start) == datetime(2027, 2, 28, 12, 0, tzinfo=UTC)
    assert parse_duration("90s", "f").after(start) == datetime(2026, 1, 31, 12, 1, 30, tzinfo=UTC)
    assert parse_duration("2w", "f") == Duration(2, "w")
    assert str(parse_duration("7d", "f")) == "7d"
    for bad in ("", "7", "d", "-1d", "1.5h", "1y", " 1d", 7):
        with pytest.raises(InvalidWorkflow):
            parse_duration(bad, "f")
    with pytest.raises(InvalidWorkflow, match="to 3720 days"):
        parse_duration("121mo", "f")
    assert parse_time_of_day("23:59", "f").hour == 23
    for bad_time in ("24:00", "9:30", "09:60", "0930"):
        with pytest.raises(InvalidWorkflow):
            parse_time_of_day(bad_time, "f")
