"""The condition language of workflows: each operator, the groups, every refusal and its field,
the bounds, and data shaped by hostile clients."""

from __future__ import annotations

import itertools
import time
from typing import Any

import pytest

from footfall.exceptions import InvalidWorkflow
from footfall.workflows.conditions import (
    MAX_VALUES,
    OPERATORS,
    AllOf,
    Facts,
    Leaf,
    Not,
    describe,
    evaluate,
    happened_types,
    parse_condition,
    parse_path,
    paths,
)

MISSING = object()  # the parameter is absent


def holds(document: Any, params: Any, contact: dict[str, Any] | None = None) -> bool:
    return evaluate(parse_condition(document, "when"), Facts(params, contact or {}))


def leaf(path: str, op: str, value: Any = MISSING, source: str = "param") -> dict[str, Any]:
    return {source: path, "op": op} | ({} if value is MISSING else {"value": value})


def holds_on_x(op: str, value: Any, x: Any) -> bool:
    return holds(leaf("x", op, value), {} if x is MISSING else {"x": x})


def refusal(document: Any, at: str = "start.when") -> InvalidWorkflow:
    with pytest.raises(InvalidWorkflow) as refused:
        parse_condition(document, at)
    return refused.value


# Each operator on one reached value: (op, value, the param's value, holds)
OPERATOR_CASES: list[tuple[str, Any, Any, bool]] = [
    ("equals", "abc", "abc", True),
    ("equals", "abc", "ABC", False),  # case-sensitive, as eSputnik
    ("equals", 0, "0", True),
    ("equals", 0, 0, True),
    ("equals", 0, "0.0", True),
    ("equals", "0", 0, True),
    ("equals", 1, 1.0, True),
    ("equals", 1.0, 1, True),
    ("equals", "42.50", 42.5, True),
    ("equals", 42.5, "42.50", True),
    ("equals", 0.1, "0.1", True),  # a float as its JSON text, not its binary value
    ("equals", 7, "007", True),
    ("equals", 1000, "1e3", True),
    ("equals", 12345678901234567890, "12345678901234567891", False),  # exact, not float
    ("equals", "1.0", "1", False),  # two strings compare as text
    ("equals", 0, " 0", False),
    ("equals", 0, "", False),
    ("equals", True, 1, False),  # booleans are not numbers
    ("equals", 1, True, False),
    ("equals", "1", True, False),
    ("equals", True, "true", True),
    ("equals", "false", False, True),
    ("equals", True, "True", False),
    ("equals", None, None, True),
    ("equals", None, "null", False),
    ("equals", None, MISSING, False),
    ("equals", "x", ["x"], False),  # an array equals no scalar: use contains or [*]
    ("equals", "x", MISSING, False),
    ("notEquals", "x", "y", True),
    ("notEquals", 0, "0", False),
    ("greater", 10, 10.5, True),
    ("greater", 10, "10.5", True),
    ("greater", "10", "9", False),  # numerically, not as text
    ("greater", 10, 10, False),
    ("greater", 0, True, False),
    ("greater", 0, "abc", False),
    ("greater", 0, None, False),
    ("greater", 0, [1], False),
    ("greater", 0, MISSING, False),
    ("greater", 5, "2024-05-01", False),  # a date is not a number
    ("greaterOrEqual", 10, "10", True),
    ("greaterOrEqual", 10, 9.99, False),
    ("less", "42.50", 42, True),
    ("less", "42.50", 42.5, False),
    ("lessOrEqual", 5, "5.0", True),
    ("lessOrEqual", -1, 0, False),
    ("greater", "2024-05-01", "2024-05-01T00:00:01Z", True),
    ("greater", "2024-05-01", "2024-05-01", False),
    ("greaterOrEqual", "2024-05-01", "2024-05-01", True),
    ("greater", "2024-05-01T10:00:00+03:00", "2024-05-01T08:00:00Z", True),  # instants
    ("less", "2024-05-01T10:00:00+03:00", "2024-05-01T08:00:00Z", False),
    ("less", "2024-05-01", "2024-04-30T23:59", True),  # no offset: UTC
    ("lessOrEqual", "2024-05-01", "2024-05-01T00:00:00+00:00", True),
    ("greater", "2024-05-01", "2024-13-01", False),  # not a date
    ("greater", "2024-05-01", 20240502, False),  # a number is not a date
    ("isSet", MISSING, 0, True),
    ("isSet", MISSING, "", True),
    ("isSet", MISSING, False, True),
    ("isSet", MISSING, [], True),
    ("isSet", MISSING, None, False),
    ("isSet", MISSING, MISSING, False),
    ("notSet", MISSING, None, True),
    ("notSet", MISSING, "", False),
    ("isEmpty", MISSING, MISSING, True),
    ("isEmpty", MISSING, None, True),
    ("isEmpty", MISSING, "", True),
    ("isEmpty", MISSING, " \t\n", True),
    ("isEmpty", MISSING, [], True),
    ("isEmpty", MISSING, {}, True),
    ("isEmpty", MISSING, 0, False),
    ("isEmpty", MISSING, False, False),
    ("isEmpty", MISSING, " a ", False),
    ("isEmpty", MISSING, [None], False),
    ("notEmpty", MISSING, {"a": None}, True),
    ("notEmpty", MISSING, "", False),
    ("contains", "ell", "hello", True),
    ("contains", "Ell", "hello", False),
    ("contains", "x", ["a", "x"], True),
    ("contains", "x", ["xa"], False),  # an element equal, not a substring of one
    ("contains", 2, ["1", "2"], True),
    ("contains", "2", [1, 2], True),
    ("contains", "true", [True], True),
    ("contains", 1, [True], False),
    ("contains", 42, "order-42", True),
    ("contains", "25", 4250, True),  # a number's text
    ("contains", "a", {"a": 1}, False),  # objects contain nothing
    ("contains", "x", None, False),
    ("contains", "x", MISSING, False),
    ("notContains", "ell", "hello", False),
    ("notContains", "x", ["a"], True),
    ("startsWith", "he", "hello", True),
    ("startsWith", "He", "hello", False),
    ("startsWith", "42.", 42.5, True),
    ("startsWith", "tr", True, False),
    ("startsWith", "a", ["abc"], False),
    ("notStartsWith", "he", "hello", False),
    ("endsWith", "lo", "hello", True),
    ("endsWith", "LO", "hello", False),
    ("endsWith", "50", "42.50", True),
    ("endsWith", "0", 42.50, False),  # 42.50 reads "42.5"
    ("notEndsWith", "lo", "hello", False),
    ("oneOf", ["a", "b"], "b", True),
    ("oneOf", ["a", "b"], "c", False),
    ("oneOf", [1, 2], "2", True),
    ("oneOf", ["1", "2"], 2.0, True),
    ("oneOf", ["1.0"], "1", False),
    ("oneOf", [True], "true", True),
    ("oneOf", [1], True, False),
    ("oneOf", [None, "x"], None, True),
    ("oneOf", ["x"], ["x"], False),
    ("oneOf", ["x"], MISSING, False),
    ("notOneOf", ["a", "b"], "c", True),
    ("notOneOf", [0], "0", False),
    ("matches", "^ab+c$", "abbbc", True),
    ("matches", "b+", "abbbc", True),  # a search, not a full match
    ("matches", "^b", "abc", False),
    ("matches", r"^\d+\.5$", 42.5, True),
    ("matches", "(?i)HELLO", "hello", True),
    ("matches", "true", True, False),
    ("matches", ".*", None, False),
    ("matches", ".*", MISSING, False),
    ("notMatches", "^b", "abc", True),
]


@pytest.mark.parametrize(("op", "value", "x", "expected"), OPERATOR_CASES)
def test_each_operator(op: str, value: Any, x: Any, expected: bool) -> None:
    assert holds_on_x(op, value, x) is expected


def test_the_cases_cover_every_operator_and_each_positive_one_both_ways() -> None:
    assert {op for op, _, _, _ in OPERATOR_CASES} == set(OPERATORS)
    for op in set(OPERATORS) - set(NEGATIONS):
        assert {expected for case_op, _, _, expected in OPERATOR_CASES if case_op == op} == {
            True,
            False,
        }, op


NEGATIONS: dict[str, tuple[str, list[Any]]] = {
    "notEquals": ("equals", [0, "0", "a", True, None]),
    "notOneOf": ("oneOf", [[1, "a"], [None], ["true"]]),
    "notSet": ("isSet", [MISSING]),
    "isEmpty": ("notEmpty", [MISSING]),
    "notContains": ("contains", ["a", 1, "true"]),
    "notStartsWith": ("startsWith", ["a", "1"]),
    "notEndsWith": ("endsWith", ["a", "1"]),
    "notMatches": ("matches", ["^a", "1$", "(?i)TRUE"]),
}
SAMPLES: list[Any] = [
    MISSING, None, 0, 1, 1.0, -2.5, True, False, "", " ", "0", "1", "a", "abc", "true",
    "A1", [], [1, "a"], ["abc"], [None], {}, {"a": 1}, float("nan"), 10**5000, "x\ud800a",
]  # fmt: skip


@pytest.mark.parametrize("negated", sorted(NEGATIONS))
def test_each_not_operator_is_the_exact_negation(negated: str) -> None:
    positive, values = NEGATIONS[negated]
    for value, x in itertools.product(values, SAMPLES):
        shapes = [
            ("x", {} if x is MISSING else {"x": x}),
            ("x[*]", {"x": [x, "zzz"]}),
            ("x[*]", {"x": [[x]]}),
            ("x[*].y", {"x": [{"y": x}, {}]}),
        ]
        for path, params in shapes:
            assert holds(leaf(path, negated, value), params) is not holds(
                leaf(path, positive, value), params
            ), (negated, value, x, path)


def test_any_reached_value_satisfies_a_positive_operator_and_none_a_negated_one() -> None:
    cart = {"products": [{"productId": "a1", "price": "5"}, {"productId": "b2", "price": 150}]}
    assert holds({"param": "products[*].price", "op": "greater", "value": 100}, cart)
    assert not holds({"param": "products[*].price", "op": "greater", "value": 200}, cart)
    assert holds({"param": "products[*].productId", "op": "equals", "value": "b2"}, cart)
    assert not holds({"param": "products[*].productId", "op": "notEquals", "value": "b2"}, cart)
    assert holds({"param": "products[*].productId", "op": "notEquals", "value": "c3"}, cart)
    assert holds({"param": "products[*].productId", "op": "startsWith", "value": "a"}, cart)
    assert holds({"param": "products[0].price", "op": "equals", "value": 5}, cart)
    assert not holds({"param": "products[1].price", "op": "less", "value": 100}, cart)
    assert holds({"param": "products[2].price", "op": "notSet"}, cart)
    assert holds({"param": "products[*].coupon", "op": "isEmpty"}, cart)


def test_is_empty_holds_when_every_reached_value_is_empty() -> None:
    items = {"items": [{"tags": []}, {"tags": None}, {}, {"tags": "  "}]}
    assert holds({"param": "items[*].tags", "op": "isEmpty"}, items)
    items["items"].append({"tags": ["sale"]})
    assert not holds({"param": "items[*].tags", "op": "isEmpty"}, items)
    assert holds({"param": "items[*].tags[*]", "op": "equals", "value": "sale"}, items)


@pytest.mark.parametrize(
    ("path", "data", "expected"),
    [
        ("product.price", {"product": {"price": 5}}, [5]),
        ("product.price", {"product": {"price": None}}, [None]),
        ("product.price", {"product": {}}, []),
        ("product.price", {"product": "cheap"}, []),
        ("product.price", {"product": [{"price": 5}]}, []),  # arrays need [N] or [*]
        ("products[*].productId", {"products": [{"productId": 1}, {}, {"productId": 3}]}, [1, 3]),
        ("products[*].productId", {"products": {"a": {"productId": 1}}}, []),  # arrays only
        ("products[0].price", {"products": [{"price": 1}, {"price": 2}]}, [1]),
        ("products[1].price", {"products": [{"price": 1}, {"price": 2}]}, [2]),
        ("products[2].price", {"products": [{"price": 1}, {"price": 2}]}, []),
        (
            "items[*].tags[*]",
            {"items": [{"tags": ["a", "b"]}, {"tags": "c"}, {"tags": ["d"]}]},
            ["a", "b", "d"],
        ),
        ("m[*][*]", {"m": [[1, 2], [], [3]]}, [1, 2, 3]),
        ("m[1][0]", {"m": [[1, 2], [3]]}, [3]),
        ("weird key!.*", {"weird key!": {"*": 1}}, [1]),  # a name is any run without . [ ]
        ("x", None, []),
        ("x", "x", []),
        ("x", [{"x": 1}], []),
        ("x", 42, []),
    ],
)
def test_what_a_path_reaches(path: str, data: Any, expected: list[Any]) -> None:
    assert parse_path(path, "p").values(data) == expected


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "non-empty string"),
        (5, "non-empty string"),
        (None, "non-empty string"),
        (".a", "must start with a name"),
        ("[0]", "must start with a name"),
        ("a.", "at character 2"),
        ("a..b", "at character 2"),
        ("a[", "at character 2"),
        ("a[-1]", "at character 2"),
        ("a[x]", "at character 2"),
        ("a[1]b", "at character 5"),
        ("a]b", "at character 2"),
        ("a[1234567890]", "at character 2"),
        ("a" * 201, "201 characters long; the limit is 200"),
        ("a" + ".b" * 16, "17 steps; the limit is 16"),
    ],
)
def test_a_bad_path_is_refused_at_its_field(text: Any, problem: str) -> None:
    with pytest.raises(InvalidWorkflow) as refused:
        parse_path(text, "blocks[0].recycleStateId")
    assert refused.value.field == "blocks[0].recycleStateId"
    assert problem in refused.value.message and "products[*].productId" in refused.value.message


def test_the_longest_path_and_the_most_steps_are_accepted() -> None:
    assert parse_path("a" * 200, "p").values({"a" * 200: 1}) == [1]
    assert parse_path("a" + "[0]" * 15, "p").values({"a": [[[[[[[[[[[[[[[7]]]]]]]]]]]]]]]}) == [7]


def test_contact_fields_and_their_paths() -> None:
    contact = {"firstName": "Ann", "address": {"city": "Kyiv"}, "tags": ["vip"]}
    assert holds({"contact": "firstName", "op": "equals", "value": "Ann"}, {}, contact)
    assert holds({"contact": "address.city", "op": "oneOf", "value": ["Lviv", "Kyiv"]}, {}, contact)
    assert holds({"contact": "tags", "op": "contains", "value": "vip"}, {}, contact)
    assert not holds({"contact": "firstName", "op": "equals", "value": "Ann"}, contact)  # params
    assert holds({"contact": "email", "op": "notSet"}, {}, contact)
    assert holds({"contact": "email", "op": "isEmpty"}, {"email": "a@b.c"}, {})


def test_groups() -> None:
    yes = {"param": "x", "op": "isSet"}
    no = {"param": "x", "op": "notSet"}
    params = {"x": 1}
    for members, all_, any_ in [
        ([yes], True, True),
        ([no], False, False),
        ([yes, yes], True, True),
        ([yes, no], False, True),
        ([no, yes], False, True),
        ([no, no], False, False),
    ]:
        assert holds({"all": members}, params) is all_
        assert holds({"any": members}, params) is any_
        assert holds({"not": {"all": members}}, params) is not all_
    nested = {"any": [{"all": [yes, {"not": no}]}, leaf("y", "isSet")]}
    assert holds(nested, params) and holds(nested, {"y": 0}) and not holds(nested, {"x": None})
    assert holds({"not": {"not": yes}}, params)


LEAF = {"param": "x", "op": "isSet"}


def nested_nots(depth: int) -> dict[str, Any]:
    document: dict[str, Any] = LEAF
    for _ in range(depth):
        document = {"not": document}
    return document


REFUSALS: list[tuple[Any, str, str]] = [
    ([], "start.when", "must be an object"),
    ("x", "start.when", "must be an object"),
    ({}, "start.when", "neither param nor contact"),
    ({"op": "isSet"}, "start.when", "neither param nor contact"),
    ({"param": "x", "contact": "y", "op": "isSet"}, "start.when", "both param and contact"),
    ({"param": "x"}, "start.when.op", "is missing; operators: equals, notEquals"),
    ({"param": "x", "op": None}, "start.when.op", "'None', not an operator"),
    ({"param": "x", "op": "bogus"}, "start.when.op", "'bogus', not an operator; operators: eq"),
    ({"param": "x", "op": "Equals", "value": 1}, "start.when.op", "notMatches"),
    ({"param": "x", "op": ["isSet"]}, "start.when.op", "not an operator"),
    ({"param": "x", "op": "isSet", "extra": 1}, "start.when.extra", "not a known key"),
    ({"param": "x", "op": "isSet", "Value": 1}, "start.when.Value", "not a known key"),
    ({"param": "", "op": "isSet"}, "start.when.param", "non-empty string"),
    ({"param": 5, "op": "isSet"}, "start.when.param", "non-empty string"),
    ({"param": "a..b", "op": "isSet"}, "start.when.param", "not a path"),
    ({"contact": "a[", "op": "isSet"}, "start.when.contact", "not a path"),
    ({"param": "x", "op": "isSet", "value": 1}, "start.when.value", "isSet takes no value"),
    ({"param": "x", "op": "notEmpty", "value": None}, "start.when.value", "takes no value"),
    ({"param": "x", "op": "equals"}, "start.when.value", "is missing: equals needs a value"),
    ({"param": "x", "op": "equals", "value": {"a": 1}}, "start.when.value", "number, boolean"),
    ({"param": "x", "op": "equals", "value": [1]}, "start.when.value", 'use "contains"'),
    (
        {"param": "x", "op": "equals", "value": "x" * 1001},
        "start.when.value",
        "1001 characters long; the limit is 1000",
    ),
    ({"param": "x", "op": "equals", "value": float("inf")}, "start.when.value", "finite"),
    ({"param": "x", "op": "oneOf", "value": []}, "start.when.value", "non-empty list"),
    ({"param": "x", "op": "oneOf", "value": "a"}, "start.when.value", "non-empty list"),
    ({"param": "x", "op": "notOneOf", "value": [1, {}]}, "start.when.value[1]", "string, num"),
    ({"param": "x", "op": "oneOf", "value": ["a", "b" * 1001]}, "start.when.value[1]", "1001"),
    (
        {"param": "x", "op": "oneOf", "value": list(range(1001))},
        "start.when.value",
        "1001 values; the limit is 1000",
    ),
    ({"param": "x", "op": "greater", "value": "abc"}, "start.when.value", "ISO 8601"),
    ({"param": "x", "op": "less", "value": True}, "start.when.value", "must be a number"),
    ({"param": "x", "op": "lessOrEqual", "value": None}, "start.when.value", "must be a number"),
    ({"param": "x", "op": "greaterOrEqual", "value": "1,5"}, "start.when.value", "spells one"),
    ({"param": "x", "op": "greater", "value": float("nan")}, "start.when.value", "finite"),
    ({"param": "x", "op": "startsWith", "value": 5}, "start.when.value", "must be a string"),
    ({"param": "x", "op": "notEndsWith", "value": None}, "start.when.value", "must be a string"),
    ({"param": "x", "op": "contains", "value": True}, "start.when.value", "string or a number"),
    ({"param": "x", "op": "contains", "value": ["a"]}, "start.when.value", "string or a number"),
    ({"param": "x", "op": "contains", "value": "x" * 1001}, "start.when.value", "limit is 1000"),
    ({"param": "x", "op": "matches", "value": 5}, "start.when.value", "RE2 syntax"),
    ({"param": "x", "op": "matches", "value": r"(a)\1"}, "start.when.value", "not supported"),
    ({"param": "x", "op": "matches", "value": "a(?=b)"}, "start.when.value", "no lookaround"),
    ({"param": "x", "op": "notMatches", "value": "(?<!a)b"}, "start.when.value", "RE2 syntax"),
    ({"param": "x", "op": "matches", "value": "(ab"}, "start.when.value", "missing )"),
    (
        {"param": "x", "op": "matches", "value": "a" * 501},
        "start.when.value",
        "501 characters long; the limit is 500",
    ),
    ({"param": "x", "op": "matches", "value": "a\ud800"}, "start.when.value", "lone surrogate"),
    ({"all": []}, "start.when.all", "non-empty list of conditions"),
    ({"any": {}}, "start.when.any", "non-empty list of conditions"),
    ({"any": [LEAF, 5]}, "start.when.any[1]", "must be an object"),
    ({"not": [LEAF]}, "start.when.not", "must be an object"),
    ({"all": [LEAF], "any": [LEAF]}, "start.when.any", "not allowed next to all"),
    ({"param": "x", "not": LEAF}, "start.when.param", "not allowed next to not"),
    (
        {"all": [{"any": [{"not": {"param": "x", "op": "bogus"}}]}]},
        "start.when.all[0].any[0].not.op",
        "not an operator",
    ),
    (
        {"all": [LEAF, {"param": "x", "op": "equals", "value": []}]},
        "start.when.all[1].value",
        "must be a string, number",
    ),
    (nested_nots(9), "start.when" + ".not" * 8, "nests groups 9 deep; the limit is 8"),
    ({"all": [nested_nots(8)]}, "start.when.all[0]" + ".not" * 7, "9 deep"),
    ({"all": [LEAF] * 65}, "start.when.all", "65 conditions; the limit is 64"),
    (
        {"all": [{"any": [LEAF] * 32}, {"any": [LEAF] * 32}, {"not": LEAF}]},
        "start.when.all[2].not",
        "one leaf too many: a condition has at most 64",
    ),
]


@pytest.mark.parametrize(("document", "field", "problem"), REFUSALS)
def test_each_refusal_names_its_field_and_what_is_expected(
    document: Any, field: str, problem: str
) -> None:
    refused = refusal(document)
    assert refused.field == field
    assert refused.message.startswith(field) and problem in refused.message, refused.message


def test_a_refusal_quotes_the_re2_message_and_the_shapes() -> None:
    assert (
        "invalid escape sequence: \\1"
        in refusal({"param": "x", "op": "matches", "value": r"(a)\1"}).message
    )
    assert '{"all": [...]}' in refusal({"param": "x", "bogus": 1}).message
    assert len(refusal({"param": "x", "op": "y" * 10_000}).message) < 600


def test_the_bounds_themselves_are_accepted() -> None:
    deepest = parse_condition(nested_nots(8), "when")
    assert evaluate(deepest, Facts({"x": 1}, {})) is True  # eight nots
    parse_condition({"all": [{"any": [LEAF] * 32}, {"any": [LEAF] * 32}]}, "when")
    parse_condition({"param": "x", "op": "equals", "value": "x" * 1000}, "when")
    parse_condition({"param": "x", "op": "oneOf", "value": list(range(1000))}, "when")
    parse_condition({"param": "x", "op": "matches", "value": "a" * 500}, "when")


def test_a_field_without_a_prefix_and_a_long_key() -> None:
    assert refusal({"all": [{"param": "x"}]}, at="").field == "all[0].op"
    assert refusal([], at="").message.startswith("the condition must be an object")
    refused = refusal({"param": "x", "op": "isSet", "k" * 100_000: 1})
    assert refused.field == "start.when." + "k" * 100_000 and len(refused.message) < 600


ROUND_TRIPS: list[Any] = [
    {"param": "product.price", "op": "greater", "value": 10},
    {"param": "product.price", "op": "lessOrEqual", "value": "42.50"},
    {"param": "paidAt", "op": "less", "value": "2024-05-01T10:00:00Z"},
    {"param": "x", "op": "equals", "value": 1.0},
    {"param": "x", "op": "equals", "value": None},
    {"param": "x", "op": "notEquals", "value": True},
    {"param": "x", "op": "isSet"},
    {"contact": "address.city", "op": "isEmpty"},
    {"param": "products[*].productId", "op": "oneOf", "value": ["a", 1, None, False]},
    {"param": "tags", "op": "contains", "value": 42},
    {"param": "items[*].tags[*]", "op": "notStartsWith", "value": "x"},
    {"param": "x", "op": "matches", "value": "^a+$"},
    {
        "all": [
            {"any": [{"param": "a", "op": "isSet"}, {"not": {"contact": "b", "op": "notSet"}}]},
            {"param": "c[0]", "op": "endsWith", "value": "z"},
        ]
    },
]


@pytest.mark.parametrize("document", ROUND_TRIPS)
def test_describe_gives_the_document_back(document: Any) -> None:
    parsed = parse_condition(document, "when")
    assert describe(parsed) == document
    assert parse_condition(describe(parsed), "when") == parsed


def test_the_parsed_tree() -> None:
    parsed = parse_condition({"all": [{"not": {"param": "a.b", "op": "isSet"}}]}, "when")
    assert parsed == AllOf((Not(Leaf("param", parse_path("a.b", "p"), "isSet", None)),))
    assert hash(parsed) == hash(parse_condition(describe(parsed), "when"))


def test_paths_lists_the_params_read_once_in_order() -> None:
    document = {
        "any": [
            {"param": "b", "op": "isSet"},
            {"contact": "email", "op": "isSet"},
            {"all": [{"param": "a[*].c", "op": "isSet"}, {"not": {"param": "b", "op": "notSet"}}]},
        ]
    }
    assert [path.text for path in paths(parse_condition(document, "when"))] == ["b", "a[*].c"]


# Hostile data: evaluation never raises, and its work is bounded


def test_a_path_yields_at_most_max_values() -> None:
    items = {"items": [{"id": n} for n in range(100_000)]}
    assert len(parse_path("items[*].id", "p").values(items)) == MAX_VALUES
    assert len(parse_path("m[*][*]", "p").values({"m": [list(range(100))] * 1000})) == MAX_VALUES
    assert holds({"param": "items[*].id", "op": "equals", "value": MAX_VALUES - 1}, items)
    assert not holds({"param": "items[*].id", "op": "equals", "value": MAX_VALUES}, items)
    ids = {"ids": list(range(100_000))}
    assert holds({"param": "ids", "op": "contains", "value": MAX_VALUES - 1}, ids)
    assert not holds({"param": "ids", "op": "contains", "value": 50_000}, ids)


def test_deep_data_is_not_walked_beyond_the_path() -> None:
    deep_list: Any = []
    deep_object: Any = {}
    for _ in range(10_000):
        deep_list, deep_object = [deep_list], {"a": deep_object}
    params = {"l": deep_list, "o": deep_object}
    for op, value in OPERAND_SAMPLES:
        for path in ("l", "l[0][0]", "l[*][*][*]", "o", "o.a.a", "o[*]"):
            holds(leaf(path, op, value), params)  # no RecursionError
            holds(leaf(path, op, value, source="contact"), {}, params)
    assert holds({"param": "l[0][0]", "op": "notEmpty"}, params)
    assert holds({"param": "o.a.a", "op": "isSet"}, params)
    assert not holds({"param": "l", "op": "contains", "value": "x"}, params)


OPERAND_SAMPLES: list[tuple[str, Any]] = [
    ("equals", 1), ("equals", "1"), ("equals", None), ("greater", 0), ("less", "2024-01-01"),
    ("isSet", MISSING), ("notEmpty", MISSING), ("contains", "a"), ("contains", 1),
    ("startsWith", "a"), ("endsWith", "1"), ("oneOf", [1, "a", None]), ("matches", "a|1"),
]  # fmt: skip
NEGATED_SAMPLES = [
    (negated, value)
    for op, value in OPERAND_SAMPLES
    for negated, (positive, _) in NEGATIONS.items()
    if positive == op
]


@pytest.mark.parametrize(
    "params",
    [
        None,
        "text",
        42,
        True,
        [1, 2],
        {"x": None},
        {"x": float("nan")},
        {"x": float("-inf")},
        {"x": 10**5000},
        {"x": "a\ud800b"},
        {"x": {"y": 1}},
        {"x": [[], {}, None]},
        {"x": b"bytes"},
        {"x": ("tuple", 1)},
        {"x": "9" * 5000},
        {"x": "1e99999999999"},
        {1: 2, None: 3},
    ],
)
def test_any_data_shape_gives_an_answer(params: Any) -> None:
    for op, value in OPERAND_SAMPLES + NEGATED_SAMPLES:
        for path in ("x", "x[*]", "x[0].y"):
            assert holds(leaf(path, op, value), params) in (True, False)


def test_odd_numbers_in_data() -> None:
    assert not holds_on_x("greater", 0, float("nan"))
    assert not holds_on_x("equals", 0, float("nan"))
    assert holds_on_x("greater", 0, 10**5000)  # compared as numbers, even unprintable
    assert not holds_on_x("startsWith", "1", 10**5000)  # too long to have a text
    assert not holds_on_x("equals", 1, "1e99999")  # an exponent of more than 4 digits: text
    assert holds_on_x("greater", 1, "1e9999")


def test_a_lone_surrogate_does_not_break_a_regex() -> None:
    assert holds_on_x("matches", "b$", "a\ud800b")
    assert holds_on_x("notMatches", "c", "a\ud800b")


def test_text_operators_look_at_the_first_64_kib() -> None:
    far = "x" * 100_000 + "needle"
    near = "x" * 10 + "needle" + "x" * 100_000
    assert holds_on_x("contains", "needle", near) and not holds_on_x("contains", "needle", far)
    assert holds_on_x("matches", "needle", near) and not holds_on_x("matches", "needle", far)
    assert holds_on_x("endsWith", "needle", far)  # its cost is the needle's length


def test_a_catastrophic_pattern_runs_in_linear_time() -> None:
    texts = {"x": ["a" * 60_000 + "b"] * 20}
    started = time.perf_counter()
    assert not holds({"param": "x[*]", "op": "matches", "value": "^(a+)+$"}, texts)
    assert holds({"param": "x[*]", "op": "matches", "value": "(a+)+b$"}, texts)
    assert time.perf_counter() - started < 1.0  # Python's re would take longer than a lifetime


def test_huge_data_is_handled_promptly() -> None:
    params = {"items": [{"tags": [str(n)] * 10} for n in range(100_000)], "s": "ab" * 500_000}
    started = time.perf_counter()
    for op, value in OPERAND_SAMPLES + NEGATED_SAMPLES:
        for path in ("items[*].tags[*]", "items[*].tags", "s"):
            holds(leaf(path, op, value), params)
    assert time.perf_counter() - started < 5.0


def test_happened_asks_about_events_since_the_start_in_a_condition_block_only() -> None:
    written = {
        "any": [
            {"happened": "purchase", "where": {"param": "total", "op": "greater", "value": 10}},
            {"not": {"happened": "cartCleared"}},
        ]
    }
    condition = parse_condition(written, "blocks[1].when", since_start=True)
    assert describe(condition) == written
    assert happened_types(condition) == {"purchase", "cartCleared"}
    bought = Facts({}, {}, {"purchase": [{"total": 5}, {"total": "12"}], "cartCleared": [{}]})
    small = Facts({}, {}, {"purchase": [{"total": 5}], "cartCleared": [{}]})
    assert evaluate(condition, bought) is True
    assert evaluate(condition, small) is False
    assert evaluate(condition, Facts({}, {})) is True  # nothing cleared
    assert (
        evaluate(parse_condition({"happened": "x"}, "w", since_start=True), Facts({}, {})) is False
    )


@pytest.mark.parametrize(
    ("written", "field", "message"),
    [
        ({"happened": "x"}, "start.when.happened", "only allowed in a condition block"),
        ({"happened": ""}, "w.happened", "must be an event type key"),
        ({"happened": "x", "op": "isSet"}, "w.op", "is not a known key"),
        ({"happened": "x", "where": {"happened": "y"}}, "w.where.happened", "only allowed"),
        ({"happened": "x", "where": {"param": "a"}}, "w.where.op", "is missing"),
    ],
)
def test_happened_refusals_name_their_field(written: Any, field: str, message: str) -> None:
    at = field.split(".happened")[0] if field.startswith("start") else "w"
    with pytest.raises(InvalidWorkflow) as refused:
        parse_condition(written, at, since_start=not field.startswith("start"))
    assert refused.value.field == field and message in refused.value.message
