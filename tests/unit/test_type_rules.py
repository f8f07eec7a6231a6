"""Type rules, naming conventions and JSON types, without a server."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

from footfall.eventtypes.naming import event_name_issues, param_name_issue
from footfall.eventtypes.registry import TypeRulesCache, rules_from_json
from footfall.eventtypes.rules import ParamRule, TypeSettings, compile_settings
from footfall.exceptions import InvalidQuery, ParamsMissing, SchemaViolation
from footfall.ingest.events import json_type
from footfall.ingest.models import Param


def test_required_params_list_only_the_required_ones() -> None:
    rules = compile_settings(
        TypeSettings(validateParams=True, params=[ParamRule("a"), ParamRule("b", required=False)])
    )
    with pytest.raises(ParamsMissing) as refused:
        rules.check("T", [Param("b", 1)])
    assert str(refused.value) == (
        'The event should have the following params: [{"name":"a","required":true}]'
    )
    assert refused.value.field == "a" and refused.value.reason == "params"
    rules.check("T", [Param("a", None)])  # present, even if null


def test_a_rule_list_is_ignored_while_validation_is_off() -> None:
    rules = compile_settings(TypeSettings(validateParams=False, params=[ParamRule("a")]))
    rules.check("T", [])
    assert rules_from_json({"validateParams": False, "params": [{"name": "a"}]}) is None


def test_the_json_schema_error_names_the_deepest_path() -> None:
    schema = {"properties": {"items": {"items": {"properties": {"qty": {"type": "integer"}}}}}}
    rules = compile_settings(TypeSettings(jsonSchema=schema))
    with pytest.raises(SchemaViolation) as refused:
        rules.check("T", [Param("items", [{"qty": 1}, {"qty": "two"}])])
    assert refused.value.field == "items.1.qty"
    assert "'two' is not of type 'integer'" in str(refused.value)


@pytest.mark.parametrize(
    "settings",
    [
        TypeSettings(jsonSchema={"type": "nope"}),
        TypeSettings(params=[ParamRule("a"), ParamRule("a")]),
        TypeSettings(params=[ParamRule(" ")]),
        TypeSettings(params=[ParamRule("x" * 101)]),
    ],
)
def test_bad_settings_are_refused(settings: TypeSettings) -> None:
    with pytest.raises(InvalidQuery):
        compile_settings(settings)


def test_formats_are_checked() -> None:
    schema = {"properties": {"e": {"format": "email"}, "d": {"format": "date"}}}
    rules = compile_settings(TypeSettings(jsonSchema=schema))
    rules.check("T", [Param("e", "a@b.co"), Param("d", "2024-02-29")])
    for bad in ([Param("e", "nope")], [Param("d", "2023-02-30")]):
        with pytest.raises(SchemaViolation):
            rules.check("T", bad)


def test_iri_formats_are_checked_in_linear_time() -> None:
    """jsonschema checked them with an Earley parser: seconds per kilobyte (and 4 s to load)."""
    schema = {"properties": {"i": {"format": "iri"}, "r": {"format": "iri-reference"}}}
    rules = compile_settings(TypeSettings(jsonSchema=schema))
    rules.check("T", [Param("i", "https://exämple.org/päth?q=ü#f"), Param("r", "../päth")])
    for bad in ([Param("i", "../relative")], [Param("i", "http://a b")], [Param("r", "a b")]):
        with pytest.raises(SchemaViolation, match="is not a"):
            rules.check("T", bad)
    started = time.monotonic()
    rules.check("T", [Param("i", "https://example.org/" + "ä" * 20_000)])
    with pytest.raises(SchemaViolation):
        rules.check("T", [Param("i", "https://example.org/" + "a" * 20_000 + " ")])
    assert time.monotonic() - started < 2  # the Earley parser took over 20 s


class _BlockingSettings:
    """A settings source whose second read waits until released."""

    def __init__(self) -> None:
        self.reads = 0
        self.reading = threading.Event()
        self.release = threading.Event()
        self.finished = False

    def type_settings_version(self) -> tuple[int, int, int]:
        self.reads += 1
        if self.reads > 1:
            self.reading.set()
            self.release.wait(10)
            self.finished = True
        return (0, 0, self.reads)

    def all_type_settings(self) -> list[tuple[int, str, Any]]:
        return []


def test_stopping_the_rules_cache_waits_for_a_refresh_in_progress() -> None:
    """The store closes right after: a refresh still reading it could crash the process."""
    source = _BlockingSettings()

    async def scenario() -> bool:
        cache = TypeRulesCache(source, refresh_seconds=0.01)
        await cache.start()
        assert await asyncio.to_thread(source.reading.wait, 10)
        threading.Timer(0.2, source.release.set).start()
        await cache.stop()
        return source.finished

    assert asyncio.run(scenario())


@pytest.mark.parametrize(
    ("key", "ok"),
    [
        ("ProductViewed", True),
        ("cartUpdated", True),
        ("orderDELIVERED", True),
        ("visit", False),
        ("Visit", False),
        ("page_viewed", False),
        ("Page Viewed", False),
    ],
)
def test_event_name_conventions(key: str, ok: bool) -> None:
    assert (event_name_issues(key) == []) is ok


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("imageUrl", True),
        ("price", True),
        ("EmailAddress", True),
        ("ContactId", True),
        ("Image_URL", False),
        ("ImageUrl", False),
        ("image-url", False),
    ],
)
def test_param_name_conventions(name: str, ok: bool) -> None:
    assert (param_name_issue(name) is None) is ok


def test_json_types() -> None:
    values = [None, True, 1, 1.5, "s", [1], {"a": 1}]
    assert [json_type(v) for v in values] == [
        "null",
        "boolean",
        "number",
        "number",
        "string",
        "array",
        "object",
    ]


def test_patterns_run_on_re2_in_every_keyword_that_matches() -> None:
    schema = {
        "type": "object",
        "properties": {"sku": {"type": "string", "pattern": "^[A-Z]{2}-\\d+$"}},
        "patternProperties": {"^x_": {"type": "integer"}},
        "additionalProperties": False,
    }
    rules = compile_settings(TypeSettings(jsonSchema=schema))
    rules.check("T", [Param("sku", "AB-12"), Param("x_count", 3)])
    for params, message in [
        ([Param("sku", "ab-12")], "does not match"),
        ([Param("x_count", "3")], "is not of type 'integer'"),
        ([Param("other", 1)], r"additional properties are not allowed \('other'\)"),
    ]:
        with pytest.raises(SchemaViolation, match=message):
            rules.check("T", params)


def test_a_catastrophic_pattern_takes_linear_time() -> None:
    schema = {"properties": {"v": {"pattern": "^(a+)+$"}, "w": {"pattern": "^(a|aa)+$"}}}
    rules = compile_settings(TypeSettings(jsonSchema=schema))
    with pytest.raises(SchemaViolation, match="does not match"):
        rules.check("T", [Param("v", "a" * 100_000 + "!")])
    with pytest.raises(SchemaViolation, match="does not match"):
        rules.check("T", [Param("w", "a" * 100_000 + "!")])


def test_a_stored_pattern_re2_cannot_run_refuses_only_its_own_events() -> None:
    schema = {"properties": {"v": {"type": "string", "pattern": "(?=a)a"}}}
    with pytest.raises(InvalidQuery, match="RE2"):
        compile_settings(TypeSettings(jsonSchema=schema))
    rules = rules_from_json({"jsonSchema": schema})  # saved before patterns were checked
    assert rules is not None
    with pytest.raises(SchemaViolation, match=r"could not be applied.*not supported"):
        rules.check("T", [Param("v", "a")])
    with pytest.raises(InvalidQuery, match="unevaluatedProperties"):
        compile_settings(
            TypeSettings(
                jsonSchema={"patternProperties": {"a": {}}, "unevaluatedProperties": False}
            )
        )
