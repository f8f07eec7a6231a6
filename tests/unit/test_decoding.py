"""The one decoder of client JSON: every failure a FootfallError, nesting too deep included; and
the NUL check, which takes what the decoder takes (no server, no database)."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from footfall.decoding import ANY, decode_json
from footfall.exceptions import FootfallError, InvalidContact, MalformedBody
from footfall.identity.normalize import has_nul

DEEP = b"[" * 1000 + b"]" * 1000


class Shape(msgspec.Struct):
    name: str
    value: Any = None


def invalid(exc: msgspec.ValidationError) -> FootfallError:
    return InvalidContact(f"wrong shape: {exc}")


def decode(body: bytes) -> Shape:
    return decode_json(body, msgspec.json.Decoder(Shape), invalid, "the thing")


def test_each_failure_is_the_refusal_it_should_be() -> None:
    assert decode(b'{"name": "a", "value": [1]}') == Shape("a", [1])
    with pytest.raises(InvalidContact, match=r"^wrong shape: Expected `str`"):
        decode(b'{"name": 1}')
    with pytest.raises(MalformedBody, match=r"^malformed JSON in the thing: "):
        decode(b'{"name": ')
    with pytest.raises(MalformedBody, match=r"^malformed JSON in the thing: it is nested too deep"):
        decode(b'{"name": "a", "value": ' + DEEP + b"}")
    with pytest.raises(MalformedBody, match="nested too deeply"):  # skipping a field recurses too
        decode(b'{"name": "a", "other": ' + DEEP + b"}")
    with pytest.raises(MalformedBody, match="nested too deeply"):
        decode_json(DEEP, ANY, invalid, "body")


def test_nul_is_found_at_any_depth_in_keys_and_values() -> None:
    deep: Any = "\x00"
    for _ in range(100_000):  # deeper than any recursion could follow
        deep = [deep]
    assert has_nul(deep)
    assert has_nul({"a": [1, {"b\x00": None}]})
    assert has_nul({"a": [1, {"b": "c\x00"}]})
    assert not has_nul({"a": [1, 2.5, None, True, {"b": "c\\u0000"}]})
