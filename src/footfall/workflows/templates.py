"""Templated values of workflow blocks (an HTTP block's URL, headers and body, an emitted event's
params, a contact field's new value): Jinja2 in its sandbox, checked when a workflow is saved and
rendered when a run reaches the block.

A template reads ``event`` (the run's starting event: ``event.params.products[0].price``,
``event.type``, ``event.keyValue``, ``event.id``), ``contact`` (its fields, ``id``, ``email``,
``phone``) and ``run`` (``id``, ``workflowId``). What is missing renders as nothing (``null`` as a
whole JSON value); ``| default("…")`` gives another value.

A string that is one expression and nothing else (``"{{ event.params.products }}"``) renders as the
value itself, so a JSON body can carry an array or a number; any other string renders as text.

Cost is bounded when the document is saved: expressions, ``if`` and at most ``MAX_FILTERS``
filters and tests, whose arguments are constants within bounds (``round`` to 15 digits, ``join``
with a short separator, ``tojson`` without indent); no loops, calls, assignments, macros, imports,
``*``, ``**`` or ``%`` (a string repeated or formatted a billion times); at most ``MAX_NAMES``
names, ``MAX_NODES`` nodes and ``MAX_NESTING`` levels per template, which is compiled then.
When rendered, a filter's result longer than ``MAX_RENDERED`` characters or ``MAX_ITEMS`` items,
or a rendered string longer than ``MAX_RENDERED``, fails the render.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Mapping
from typing import Any

import jinja2
import msgspec
from jinja2 import nodes

from footfall import sandbox
from footfall.exceptions import InvalidWorkflow
from footfall.sandbox import (
    ARGUMENTS,
    FILTERS,
    MAX_ITEMS,
    MAX_NESTING,
    MAX_RENDERED,
    TESTS,
    Environment,
    Overgrown,
    RenderFailed,
)

__all__ = [
    "ARGUMENTS",
    "CONTEXT_NAMES",
    "FILTERS",
    "MAX_FILTERS",
    "MAX_ITEMS",
    "MAX_NAMES",
    "MAX_NESTING",
    "MAX_NODES",
    "MAX_RENDERED",
    "MAX_TEMPLATE",
    "TESTS",
    "RenderFailed",
    "check_json_template",
    "check_template",
    "render_json",
    "render_text",
]

MAX_TEMPLATE = 10_000  # characters in one templated string
MAX_NAMES = 64  # names read in one templated string
MAX_FILTERS = 32  # filters and tests in one templated string
MAX_NODES = 400  # syntax nodes of one templated string
CONTEXT_NAMES = frozenset({"event", "contact", "run"})

_ALLOWED = (
    nodes.Template, nodes.Output, nodes.TemplateData, nodes.Name, nodes.Getattr, nodes.Getitem,
    nodes.Slice, nodes.Const, nodes.List, nodes.Tuple, nodes.Dict, nodes.Pair, nodes.Keyword,
    nodes.Concat, nodes.CondExpr, nodes.Compare, nodes.Operand, nodes.And, nodes.Or, nodes.Not,
    nodes.Neg, nodes.Pos, nodes.Add, nodes.Sub, nodes.Div, nodes.If, nodes.Filter, nodes.Test,
)  # fmt: skip
_RULES = sandbox.Rules(
    "a workflow template",
    _ALLOWED,
    CONTEXT_NAMES,
    FILTERS,
    ARGUMENTS,
    MAX_NAMES,
    MAX_FILTERS,
    MAX_NODES,
)
_WHOLE = re.compile(r"\s*\{\{[-+]?(?P<expr>(?:(?!\{\{|\{%|\{#|\}\}).)*?)-?\}\}\s*", re.DOTALL)


_ENVIRONMENT = Environment(
    undefined=jinja2.ChainableUndefined, autoescape=False, cache_size=0, optimized=False
)
"""Unoptimized: Jinja's constant folding costs depth**3 per chain of nodes (10 chains of 37
dots: 80 ms to compile, 7 ms without) and saves nothing on data read at every render."""


# -- checking --------------------------------------------------------------------------------


def check_template(text: str, field: str) -> None:
    """InvalidWorkflow at ``field`` unless ``text`` is a template that uses only what a workflow
    template may, and compiles (then, not at every render)."""
    _check(text, field, value=False)


def check_json_template(value: Any, field: str) -> None:
    """Check every string of a JSON value (keys included) as a template."""
    for where, text, whole in _strings(value, field):
        _check(text, where, value=whole)


def _check(text: str, field: str, *, value: bool) -> None:
    if len(text) > MAX_TEMPLATE:
        raise InvalidWorkflow(
            f"{field} is {len(text)} characters long; the limit is {MAX_TEMPLATE}", field=field
        )
    if sandbox.control(text):
        raise InvalidWorkflow(f"{field} holds a control character", field=field)
    if "{" not in text:  # no tag can start: rendered as it is
        return
    refusal = sandbox.refusal(_parse(text, field), _RULES)
    if refusal is not None:
        raise InvalidWorkflow(f"{field}: {refusal}", field=field)
    whole = _WHOLE.fullmatch(text) if value else None
    try:
        if whole is None:
            _template(text)
        else:
            _expression(whole["expr"])
    except jinja2.TemplateSyntaxError as exc:
        raise InvalidWorkflow(
            f"{field}: template error on line {exc.lineno}: {exc.message}", field=field
        ) from None
    except Exception as exc:  # Python's compiler: a literal it cannot print, SyntaxError
        raise _unreadable(exc, field, "compiled") from None


def _parse(text: str, field: str) -> nodes.Template:
    try:
        return _ENVIRONMENT.parse(text)
    except jinja2.TemplateSyntaxError as exc:
        raise InvalidWorkflow(
            f"{field}: template error on line {exc.lineno}: {exc.message}", field=field
        ) from None
    except RecursionError:
        raise InvalidWorkflow(f"{field}: the template nests too deeply", field=field) from None
    except Exception as exc:  # ValueError: an integer of more than 4,300 digits; MemoryError
        raise _unreadable(exc, field, "read") from None


def _unreadable(exc: Exception, field: str, doing: str) -> InvalidWorkflow:
    reason = str(exc).split(";")[0][:200]  # not CPython's advice to raise its limit
    return InvalidWorkflow(
        f"{field}: the template cannot be {doing} ({type(exc).__name__}: {reason})", field=field
    )


def _strings(value: Any, field: str) -> Iterator[tuple[str, str, bool]]:
    """Every string of a JSON value, with its field and whether it renders as a value (keys
    render as text)."""
    if isinstance(value, str):
        yield field, value, True
    elif isinstance(value, dict):
        for key, item in value.items():
            yield f"{field}.{key}", key, False
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


def _failed(exc: Exception, field: str) -> RenderFailed:
    if isinstance(exc, Overgrown):
        return RenderFailed(f"{field}: {exc}")
    if isinstance(exc, RenderFailed):
        return exc
    return RenderFailed(f"{field}: {type(exc).__name__}: {exc}")


def render_text(text: str, data: Mapping[str, Any], field: str) -> str:
    """``text`` rendered from ``data`` (``event``, ``contact``, ``run``); RenderFailed naming
    ``field`` when it cannot be."""
    if "{" not in text:
        return text
    try:
        return "".join(_limited(_template(text).generate(**data), field))
    except Exception as exc:  # a filter given what it cannot take, a sandbox refusal
        raise _failed(exc, field) from None


def _limited(chunks: Iterator[str], field: str) -> Iterator[str]:
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
        raise _failed(exc, field) from None
    if len(encoded) > MAX_RENDERED:
        raise RenderFailed(f"{field} renders to more than {MAX_RENDERED} characters")
    return msgspec.json.decode(encoded)
