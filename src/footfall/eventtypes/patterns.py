"""Regular expressions of JSON Schemas on RE2, whose matching is linear in the input: no pattern a
workspace sets can stall the process (Python's ``re`` backtracks, exponentially for patterns
like ``^(a+)+$``). RE2 has no lookaround and no backreferences; schemas that use them are refused
when they are set.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from typing import Any

import re2
from jsonschema import validators
from jsonschema.exceptions import ValidationError
from jsonschema.protocols import Validator

from footfall.exceptions import FootfallError

__all__ = ["UnsupportedPattern", "check_patterns", "compile_pattern", "linear_time", "search"]

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False
_OPTIONS.max_mem = 1 << 20  # per compiled pattern; a larger one is refused


class UnsupportedPattern(FootfallError):
    """A pattern RE2 cannot run in linear time (lookaround, backreferences) or too large."""


@functools.lru_cache(maxsize=256)
def _compiled(pattern: str) -> Any:
    try:
        return re2.compile(pattern, _OPTIONS)
    except re2.error as exc:
        detail = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else exc
        raise UnsupportedPattern(
            f"pattern {pattern[:100]!r} is not supported ({detail}); patterns are RE2 syntax "
            "(no lookaround, no backreferences, bounded size), so that matching takes linear time"
        ) from None


def compile_pattern(pattern: str) -> Any:
    """The compiled RE2 regex of ``pattern`` (cached); UnsupportedPattern when RE2 cannot run it."""
    return _compiled(pattern)


def search(pattern: str, text: str) -> bool:
    return _compiled(pattern).search(text) is not None


def _patterns(schema: Any) -> Iterator[str]:
    """Every regular expression of a schema: ``pattern`` values and ``patternProperties`` keys."""
    if isinstance(schema, dict):
        for keyword, value in schema.items():
            if keyword == "pattern" and isinstance(value, str):
                yield value
            if keyword == "patternProperties" and isinstance(value, dict):
                yield from value
            yield from _patterns(value)
    elif isinstance(schema, list):
        for item in schema:
            yield from _patterns(item)


def _has(schema: Any, keyword: str) -> bool:
    if isinstance(schema, dict):
        return keyword in schema or any(_has(value, keyword) for value in schema.values())
    if isinstance(schema, list):
        return any(_has(item, keyword) for item in schema)
    return False


def check_patterns(schema: Any) -> None:
    """UnsupportedPattern unless every pattern of the schema runs on RE2."""
    for pattern in _patterns(schema):
        _compiled(pattern)
    if _has(schema, "unevaluatedProperties") and _has(schema, "patternProperties"):
        raise UnsupportedPattern(
            "unevaluatedProperties cannot be combined with patternProperties; "
            "use additionalProperties"
        )


def _pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Iterator[Any]:
    if validator.is_type(instance, "string") and not search(pattern, instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


def _pattern_properties(
    validator: Any, patterns: dict[str, Any], instance: Any, schema: Any
) -> Iterator[Any]:
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in patterns.items():
        for name, value in instance.items():
            if search(pattern, name):
                yield from validator.descend(value, subschema, path=name, schema_path=pattern)


def _additional(instance: dict[str, Any], schema: Any) -> list[str]:
    named = schema.get("properties", {})
    patterns = schema.get("patternProperties", {})
    return [
        name
        for name in instance
        if name not in named and not any(search(p, name) for p in patterns)
    ]


def _additional_properties(
    validator: Any, allowed: Any, instance: Any, schema: Any
) -> Iterator[Any]:
    if not validator.is_type(instance, "object"):
        return
    extras = _additional(instance, schema)
    if validator.is_type(allowed, "object"):
        for name in extras:
            yield from validator.descend(instance[name], allowed, path=name)
    elif allowed is False and extras:
        listed = ", ".join(repr(name) for name in sorted(extras))
        yield ValidationError(f"additional properties are not allowed ({listed})")


def linear_time(cls: type[Validator]) -> type[Validator]:
    """The validator class with RE2 for every keyword that matches a regular expression."""
    extend: Callable[..., type[Validator]] = validators.extend  # untyped in jsonschema
    return extend(
        cls,
        {
            "pattern": _pattern,
            "patternProperties": _pattern_properties,
            "additionalProperties": _additional_properties,
        },
    )
