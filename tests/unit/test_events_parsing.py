"""Pure parsing and validation of Generate event bodies (no server, no database)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from footfall.exceptions import InvalidEvent, MalformedBody
from footfall.ingest.events import parse_embedded, parse_event


def parse(body: dict[str, Any] | bytes, version: int = 2) -> Any:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return parse_event(raw, version=version, workspace_id=1, received_us=1_000)


def test_embedded_json_is_parsed_and_other_strings_kept() -> None:
    assert parse_embedded('{"a": 1}', "p") == {"a": 1}
    assert parse_embedded("[1, 2]", "p") == [1, 2]
    assert parse_embedded("{not json", "p") == "{not json"
    assert parse_embedded("plain", "p") == "plain"
    # eSputnik's own productViewed example has stray closing brackets after the object
    assert parse_embedded('{"productId":"WS01"}]}', "p") == {"productId": "WS01"}


@pytest.mark.parametrize(
    "text",
    ['{"price": NaN}', "[Infinity]", '{"price": -Infinity}', '{"price": 1e999}', "[1, -1e999]]}"],
)
def test_json_in_a_string_with_numbers_json_does_not_have_is_refused(text: str) -> None:
    """Python's json reads these (as nan and inf, later stored as null): JSON does not."""
    with pytest.raises(InvalidEvent, match="param 'cart'") as refused:
        parse_embedded(text, "cart")
    assert refused.value.field == "cart"


def test_params_are_stored_parsed_with_the_raw_body() -> None:
    body = {
        "eventTypeKey": "pageViewed",
        "keyValue": "k",
        "unknownField": True,
        "params": [{"name": "page", "value": '{"location":"https://e.com"}', "extra": 1}],
    }
    event = parse(body)
    assert json.loads(event.params_json) == [
        {"name": "page", "value": {"location": "https://e.com"}}
    ]
    assert json.loads(event.raw) == body
    assert (event.occurred_us, event.received_us, event.source) == (1_000, 1_000, "live")


def test_malformed_json_is_malformed_body() -> None:
    with pytest.raises(MalformedBody, match="malformed JSON"):
        parse(b'{"eventTypeKey": ')


def test_missing_type_key_names_it() -> None:
    with pytest.raises(InvalidEvent, match="eventTypeKey"):
        parse({"keyValue": "k", "params": []})


@pytest.mark.parametrize("char", list("<;\u2019\\/|\"`'^?!,>"))
def test_forbidden_characters_in_the_type_key(char: str) -> None:
    with pytest.raises(InvalidEvent, match="must not contain"):
        parse({"eventTypeKey": f"a{char}b", "keyValue": "k"})


def test_length_limits() -> None:
    with pytest.raises(InvalidEvent, match="limit is 100"):
        parse({"eventTypeKey": "a" * 101, "keyValue": "k"})
    with pytest.raises(InvalidEvent, match="limit is 300"):
        parse({"eventTypeKey": "a", "keyValue": "k" * 301})
    assert parse({"eventTypeKey": "a" * 100, "keyValue": "k" * 300}).key_value == "k" * 300


def test_duplicate_param_names_are_refused() -> None:
    with pytest.raises(InvalidEvent, match="more than once"):
        parse({"eventTypeKey": "a", "keyValue": "k", "params": [{"name": "x", "value": 1}] * 2})


def test_v1_values_must_be_strings_but_scalars_are_tolerated() -> None:
    event = parse({"eventTypeKey": "a", "keyValue": "k", "params": [{"name": "n", "value": 3}]}, 1)
    assert json.loads(event.params_json)[0]["value"] == "3"
    with pytest.raises(InvalidEvent, match="must be strings"):
        parse({"eventTypeKey": "a", "keyValue": "k", "params": [{"name": "o", "value": {}}]}, 1)


def test_key_is_derived_and_its_absence_explained() -> None:
    event = parse({"eventTypeKey": "a", "params": [{"name": "Phone", "value": "380501234567"}]})
    assert event.key_value == "380501234567"
    assert event.locators.phone == "+380501234567"
    with pytest.raises(InvalidEvent, match="keyValue is missing"):
        parse({"eventTypeKey": "a", "params": [{"name": "city", "value": "Kyiv"}]})


def test_search_request_defaults_is_found_to_zero() -> None:
    event = parse(
        {
            "eventTypeKey": "searchRequest",
            "keyValue": "k",
            "params": [{"name": "search", "value": "x"}],
        }
    )
    assert {"name": "isFound", "value": 0} in json.loads(event.params_json)


def test_nul_characters_are_refused_wherever_they_hide() -> None:
    with pytest.raises(InvalidEvent, match="must not contain"):
        parse(b'{"eventTypeKey": "a", "keyValue": "k\\u0000"}')
    with pytest.raises(InvalidEvent, match="NUL"):
        parse({"eventTypeKey": "a", "keyValue": "k", "params": [{"name": "x", "value": "a\x00"}]})
    embedded = json.dumps({"a": "\x00"})  # NUL inside JSON inside a string value
    with pytest.raises(InvalidEvent, match="NUL"):
        parse({"eventTypeKey": "a", "keyValue": "k", "params": [{"name": "x", "value": embedded}]})
    text = parse(
        {"eventTypeKey": "a", "keyValue": "k", "params": [{"name": "p", "value": "C:\\u0000"}]}
    )
    assert json.loads(text.params_json)[0]["value"] == "C:\\u0000"  # a backslash, not a NUL


def test_lone_surrogates_and_deep_nesting_are_handled() -> None:
    surrogate = '{"a": "\\ud800"}'
    with pytest.raises(InvalidEvent, match="surrogate"):
        parse({"eventTypeKey": "a", "keyValue": "k", "params": [{"name": "x", "value": surrogate}]})
    deep = "[" * 3000 + "]" * 3000
    event = parse({"eventTypeKey": "a", "keyValue": "k", "params": [{"name": "x", "value": deep}]})
    assert json.loads(event.params_json)[0]["value"] == deep  # kept as the string it was


def _nested(levels: int) -> Any:
    value: Any = "leaf"
    for _ in range(levels):
        value = {"k": value}
    return value


@pytest.mark.parametrize("levels", [64, 65])
def test_depth_is_measured_however_the_brackets_are_written(levels: int) -> None:
    """Counting brackets spares the depth walk only when it cannot miss a level: JSON inside a
    string whose braces are written as \\u007b escapes, and a body with exactly the limit, are
    judged as exactly as nesting in plain sight."""
    embedded = json.dumps(_nested(levels))
    escaped = json.dumps(embedded).replace("{", "\\u007b")  # no brace left in the raw body
    assert escaped.count("{") == 0
    plain = json.dumps(
        {"eventTypeKey": "a", "keyValue": "k", "params": [{"name": "x", "value": _nested(levels)}]}
    )
    hidden = '{"eventTypeKey":"a","keyValue":"k","params":[{"name":"x","value":' + escaped + "}]}"
    for body in (plain, hidden):
        if levels <= 64:
            assert json.loads(parse(body.encode()).params_json)[0]["value"] == _nested(levels)
        else:
            with pytest.raises(InvalidEvent, match="more than 64 levels deep"):
                parse(body.encode())
