"""Templated values of workflow blocks (an HTTP block's URL, headers and body, an emitted event's
params, a contact field's new value): Jinja2 in its sandbox, checked when a workflow is saved and
rendered when a run reaches the block.

A template reads ``event`` (the run's starting event: ``event.params.products[0].price``,
``event.type``, ``event.keyValue``, ``event.id``), ``contact`` (its fields, ``id``, ``email``,
``phone``) and ``run`` (``id``, ``workflowId``). What is missing renders as nothing (``null`` as a
whole JSON value); ``| default("…")`` gives another value.

A string that is one expression and nothing else (``"{{ event.params.products }}"``) renders as the
value itself, so a JSON body can carry an array or a number; any other string renders as text.

Cost is bounded when the document is saved: expressions, ``if`` and a list of filters and tests
whose cost is linear in their input; no loops, calls, assignments, macros, imports, ``*``, ``**``
or ``%`` (a string repeated or formatted a billion times), at most ``MAX_NAMES`` names read per
template. A rendered string longer than ``MAX_RENDERED`` characters is refused.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Mapping
from typing import Any

import jinja2
import msgspec
from jinja2 import nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment

from footfall.exceptions import InvalidWorkflow

__all__ = [
    "CONTEXT_NAMES",
    "MAX_NAMES",
    "MAX_RENDERED",
    "MAX_TEMPLATE",
    "RenderFailed",
    "check_json_template",
    "check_template",
    "render_json",
    "render_text",
]

MAX_TEMPLATE = 10_000  # characters in one templated string
MAX_NAMES = 64  # names read in one templated string
MAX_RENDERED = 65_536  # characters one templated string renders to
CONTEXT_NAMES = frozenset({"event", "contact", "run"})

FILTERS = frozenset(
    {
        "abs", "capitalize", "count", "d", "default", "dictsort", "e", "escape", "first",
        "float", "int", "items", "join", "last", "length", "list", "lower", "max", "min",
        "reverse", "round", "sort", "string", "striptags", "sum", "title", "tojson", "trim",
        "truncate", "unique", "upper", "urlencode", "wordcount",
    }
)  # fmt: skip
TESTS = frozenset(
    {
        "boolean", "defined", "divisibleby", "eq", "equalto", "even", "false", "float", "ge",
        "greaterthan", "gt", "in", "integer", "le", "lessthan", "lower", "lt", "mapping", "ne",
        "none", "number", "odd", "sameas", "sequence", "string", "true", "undefined", "upper",
    }
)  # fmt: skip
_ALLOWED = (
    nodes.Template, nodes.Output, nodes.TemplateData, nodes.Name, nodes.Getattr, nodes.Getitem,
    nodes.Slice, nodes.Const, nodes.List, nodes.Tuple, nodes.Dict, nodes.Pair, nodes.Keyword,
    nodes.Concat, nodes.CondExpr, nodes.Compare, nodes.Operand, nodes.And, nodes.Or, nodes.Not,
    nodes.Neg, nodes.Pos, nodes.Add, nodes.Sub, nodes.Div, nodes.If, nodes.Filter, nodes.Test,
)  # fmt: skip
_WHOLE = re.compile(r"\s*\{\{(?P<expr>(?:(?!\{\{|\{%|\{#|\}\}).)*)\}\}\s*", re.DOTALL)


class _Environment(ImmutableSandboxedEnvironment):
    """The sandbox, where a dot reads data only: ``event.params.items`` is the parameter named
    ``items``, and a method (``keys``, ``upper``) is undefined, as templates make no calls."""

    def getattr(self, obj: Any, attribute: str) -> Any:
        if isinstance(obj, dict) and attribute in obj:
            return obj[attribute]
        found = super().getattr(obj, attribute)
        if callable(found) and not isinstance(found, jinja2.Undefined):
            return self.undefined(obj=obj, name=attribute)
        return found


_ENVIRONMENT = _Environment(undefined=jinja2.ChainableUndefined, autoescape=False, cache_size=0)


class RenderFailed(Exception):
    """A template could not be rendered from a run's data (too long, a filter's error)."""


def check_template(text: str, field: str) -> None:
    """InvalidWorkflow at ``field`` unless ``text`` is a template that compiles and uses only
    what a workflow template may."""
    if len(text) > MAX_TEMPLATE:
        raise InvalidWorkflow(
            f"{field} is {len(text)} characters long; the limit is {MAX_TEMPLATE}", field=field
        )
    if _control(text):
        raise InvalidWorkflow(f"{field} holds a control character", field=field)
    try:
        tree = _ENVIRONMENT.parse(text)
    except jinja2.TemplateSyntaxError as exc:
        raise InvalidWorkflow(
            f"{field}: template error on line {exc.lineno}: {exc.message}", field=field
        ) from None
    except RecursionError:
        raise InvalidWorkflow(f"{field}: the template nests too deeply", field=field) from None
    refusal = _refusal(tree)
    if refusal is not None:
        raise InvalidWorkflow(f"{field}: {refusal}", field=field)


def _refusal(tree: nodes.Template) -> str | None:
    names = 0
    for node in _walk(tree):
        if not isinstance(node, _ALLOWED):
            return f"{_what(node)} is not allowed in a workflow template (line {node.lineno})"
        if isinstance(node, nodes.Name):
            names += 1
            if node.name not in CONTEXT_NAMES:
                known = ", ".join(sorted(CONTEXT_NAMES))
                return f"unknown name {node.name!r} on line {node.lineno}; a template reads {known}"
        elif isinstance(node, nodes.Filter) and node.name not in FILTERS:
            return f"the filter {node.name!r} (line {node.lineno}) is not one of: " + ", ".join(
                sorted(FILTERS)
            )
        elif isinstance(node, nodes.Test) and node.name not in TESTS:
            return f"the test {node.name!r} (line {node.lineno}) is not one of: " + ", ".join(
                sorted(TESTS)
            )
    if names > MAX_NAMES:
        return f"the template reads {names} names; the limit is {MAX_NAMES}"
    return None


def _walk(node: nodes.Node) -> Iterator[nodes.Node]:
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(current.iter_child_nodes())


def _what(node: nodes.Node) -> str:
    kinds = {
        nodes.For: "a for loop", nodes.Call: "a call", nodes.Assign: "set",
        nodes.AssignBlock: "set", nodes.Macro: "a macro", nodes.Mul: "*", nodes.Pow: "**",
        nodes.Mod: "%", nodes.FloorDiv: "//", nodes.Include: "include", nodes.Import: "import",
        nodes.FromImport: "import", nodes.Extends: "extends", nodes.Block: "a block",
    }  # fmt: skip
    return kinds.get(type(node), f"{type(node).__name__}")


def _control(text: str) -> bool:
    """Control characters other than tab and newlines (a header or URL must hold none)."""
    return any((ord(c) < 32 and c not in "\t\n\r") or ord(c) == 127 for c in text)


def check_json_template(value: Any, field: str) -> None:
    """Check every string of a JSON value (keys included) as a template."""
    for where, text in _strings(value, field):
        check_template(text, where)


def _strings(value: Any, field: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield field, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield f"{field}.{key}", key
            yield from _strings(item, f"{field}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, f"{field}[{index}]")


# -- rendering -----------------------------------------------------------------------------------


@functools.lru_cache(maxsize=2048)
def _template(text: str) -> jinja2.Template:
    return _ENVIRONMENT.from_string(text)


@functools.lru_cache(maxsize=2048)
def _expression(source: str) -> Any:
    return _ENVIRONMENT.compile_expression(source, undefined_to_none=True)


def render_text(text: str, data: Mapping[str, Any], field: str) -> str:
    """``text`` rendered from ``data`` (``event``, ``contact``, ``run``); RenderFailed naming
    ``field`` when it cannot be."""
    if "{" not in text:
        return text
    try:
        rendered = "".join(_bounded(_template(text).generate(**data), field))
    except RenderFailed:
        raise
    except Exception as exc:  # a filter given what it cannot take, a sandbox refusal
        raise RenderFailed(f"{field}: {type(exc).__name__}: {exc}") from None
    return rendered


def _bounded(chunks: Iterator[str], field: str) -> Iterator[str]:
    size = 0
    for chunk in chunks:
        size += len(chunk)
        if size > MAX_RENDERED:
            raise RenderFailed(f"{field} renders to more than {MAX_RENDERED} characters")
        yield chunk


def render_json(value: Any, data: Mapping[str, Any], field: str) -> Any:
    """A JSON value with every string rendered (keys as text); a string that is one expression
    becomes the expression's value."""
    if isinstance(value, str):
        return _render_value(value, data, field)
    if isinstance(value, dict):
        return {
            render_text(key, data, f"{field}.{key}"): render_json(item, data, f"{field}.{key}")
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [render_json(item, data, f"{field}[{i}]") for i, item in enumerate(value)]
    return value


def _render_value(text: str, data: Mapping[str, Any], field: str) -> Any:
    whole = _WHOLE.fullmatch(text)
    if whole is None:
        return render_text(text, data, field)
    try:
        value = _expression(whole["expr"])(**data)
        encoded = msgspec.json.encode(value)
    except TypeError:  # not a JSON value: its text
        return render_text(text, data, field)
    except Exception as exc:
        raise RenderFailed(f"{field}: {type(exc).__name__}: {exc}") from None
    if len(encoded) > MAX_RENDERED:
        raise RenderFailed(f"{field} renders to more than {MAX_RENDERED} characters")
    return msgspec.json.decode(encoded)
