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
import itertools
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import jinja2
import msgspec
from jinja2 import nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment

from footfall.exceptions import InvalidWorkflow

__all__ = [
    "CONTEXT_NAMES",
    "MAX_FILTERS",
    "MAX_ITEMS",
    "MAX_NAMES",
    "MAX_NESTING",
    "MAX_NODES",
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
MAX_FILTERS = 32  # filters and tests in one templated string
MAX_NODES = 400  # syntax nodes of one templated string
MAX_NESTING = 40  # levels of nodes: Python compiles 100 nested blocks or 200 parentheses at most
MAX_RENDERED = 65_536  # characters one templated string, or one filter's result, renders to
MAX_ITEMS = 10_000  # items of a list or object a filter returns
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
_WHOLE = re.compile(r"\s*\{\{[-+]?(?P<expr>(?:(?!\{\{|\{%|\{#|\}\}).)*?)-?\}\}\s*", re.DOTALL)


# -- what a filter may be given --------------------------------------------------------------

_Rule = tuple[str, Callable[[Any], bool]]  # what the argument must be, and whether it is


def _integer(least: int, most: int) -> _Rule:
    return f"an integer from {least} to {most}", lambda v: type(v) is int and least <= v <= most


def _text(most: int) -> _Rule:
    return f"a string of at most {most} characters", lambda v: isinstance(v, str) and len(v) <= most


def _choice(*options: str) -> _Rule:
    return "one of " + ", ".join(map(repr, options)), lambda v: isinstance(v, str) and v in options


_BOOLEAN: _Rule = "true or false", lambda v: type(v) is bool
_NUMBER: _Rule = (
    "a number from -1000000 to 1000000",
    lambda v: type(v) in (int, float) and abs(v) <= 1_000_000,
)
_CONSTANT: _Rule = "a constant", lambda v: True
_ATTRIBUTE = _text(100)
_SEQUENCE = (("case_sensitive", _BOOLEAN), ("attribute", _ATTRIBUTE))
ARGUMENTS: dict[str, tuple[tuple[str, _Rule | None], ...]] = {
    "default": (("default_value", None), ("boolean", _BOOLEAN)),  # None: any expression
    "d": (("default_value", None), ("boolean", _BOOLEAN)),
    "round": (("precision", _integer(0, 15)), ("method", _choice("common", "ceil", "floor"))),
    "truncate": (
        ("length", _integer(0, MAX_RENDERED)), ("killwords", _BOOLEAN), ("end", _text(100)),
        ("leeway", _integer(0, 100)),
    ),
    "join": (("d", _text(100)), ("attribute", _ATTRIBUTE)),
    "int": (("default", _CONSTANT), ("base", _integer(2, 36))),
    "float": (("default", _CONSTANT),),
    "trim": (("chars", _text(100)),),
    "sort": (("reverse", _BOOLEAN), *_SEQUENCE),
    "unique": _SEQUENCE,
    "min": _SEQUENCE,
    "max": _SEQUENCE,
    "dictsort": (
        ("case_sensitive", _BOOLEAN), ("by", _choice("key", "value")), ("reverse", _BOOLEAN),
    ),
    "sum": (("attribute", _ATTRIBUTE), ("start", _NUMBER)),
}  # fmt: skip
"""The arguments each filter takes, in order: a constant the rule accepts (filters absent here
take none). A value from the event would make the cost its size times another (``join``'s
separator, ``round``'s 10**precision, ``tojson``'s indent)."""


# -- the environment -------------------------------------------------------------------------


class RenderFailed(Exception):
    """A template could not be rendered from a run's data (too long, a filter's error)."""


class _Overgrown(RenderFailed):
    """A filter's result beyond the bounds, raised where the field is not known."""


def _bounded(value: Any) -> Any:
    """A filter's result within the bounds; an iterator's items as a list (data, not
    ``<generator object …>``)."""
    if isinstance(value, str | bytes):
        if len(value) > MAX_RENDERED:
            raise _Overgrown(f"a filter's result is longer than {MAX_RENDERED} characters")
        return value
    if isinstance(value, Iterator):
        value = list(itertools.islice(value, MAX_ITEMS + 1))
    if isinstance(value, list | tuple | dict) and len(value) > MAX_ITEMS:
        raise _Overgrown(f"a filter's result has more than {MAX_ITEMS} items")
    return value


def _bounded_filter(function: Callable[..., Any]) -> Callable[..., Any]:
    """``function`` with its result bounded; ``wraps`` keeps Jinja's ``jinja_pass_arg``."""

    @functools.wraps(function)
    def bounded(*args: Any, **kwargs: Any) -> Any:
        return _bounded(function(*args, **kwargs))

    return bounded


class _Environment(ImmutableSandboxedEnvironment):
    """The sandbox, where a dot or a subscript reads data only: ``event.params.items`` is the
    parameter named ``items``, and a method (``keys``, ``['format']``) is undefined, as templates
    make no calls. Only the allowed filters and tests exist, each filter's result bounded."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.filters = {name: _bounded_filter(self.filters[name]) for name in FILTERS}
        self.tests = {name: self.tests[name] for name in TESTS}

    def getattr(self, obj: Any, attribute: str) -> Any:
        if isinstance(obj, dict) and attribute in obj:
            return obj[attribute]
        return self._data(obj, attribute, super().getattr(obj, attribute))

    def getitem(self, obj: Any, argument: Any) -> Any:
        return self._data(obj, argument, super().getitem(obj, argument))

    def _data(self, obj: Any, name: Any, found: Any) -> Any:
        if callable(found) and not isinstance(found, jinja2.Undefined):
            return self.undefined(obj=obj, name=name)
        return found


_ENVIRONMENT = _Environment(
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
    if _control(text):
        raise InvalidWorkflow(f"{field} holds a control character", field=field)
    if "{" not in text:  # no tag can start: rendered as it is
        return
    refusal = _refusal(_parse(text, field))
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


def _refusal(tree: nodes.Template) -> str | None:
    """Why ``tree`` is refused, None when it is not: what it uses, and its size, which bounds
    the cost of compiling it (about 0.02 ms a node)."""
    size = names = filters = 0
    for node, depth in _walk(tree):
        size += 1
        if depth > MAX_NESTING:
            return f"the template nests too deeply: more than {MAX_NESTING} levels (line {node.lineno})"
        refusal = _node_refusal(node)
        if refusal is not None:
            return refusal
        names += isinstance(node, nodes.Name)
        filters += isinstance(node, nodes.Filter | nodes.Test)
    if names > MAX_NAMES:
        return f"the template reads {names} names; the limit is {MAX_NAMES}"
    if filters > MAX_FILTERS:
        return f"the template has {filters} filters and tests; the limit is {MAX_FILTERS}"
    if size > MAX_NODES:
        return f"the template is {size} syntax nodes long; the limit is {MAX_NODES}"
    return None


def _node_refusal(node: nodes.Node) -> str | None:
    if not isinstance(node, _ALLOWED):
        return f"{_what(node)} is not allowed in a workflow template (line {node.lineno})"
    if isinstance(node, nodes.Getitem):
        return _subscript_refusal(node)
    if isinstance(node, nodes.Name) and node.name not in CONTEXT_NAMES:
        known = ", ".join(sorted(CONTEXT_NAMES))
        return f"unknown name {node.name!r} on line {node.lineno}; a template reads {known}"
    if isinstance(node, nodes.Filter):
        if node.name not in FILTERS:
            return f"the filter {node.name!r} (line {node.lineno}) is not one of: " + ", ".join(
                sorted(FILTERS)
            )
        return _arguments_refusal(node)
    if isinstance(node, nodes.Test):
        if node.name not in TESTS:
            return f"the test {node.name!r} (line {node.lineno}) is not one of: " + ", ".join(
                sorted(TESTS)
            )
        if node.dyn_args is not None or node.dyn_kwargs is not None:
            return f"the test {node.name!r} (line {node.lineno}) cannot take *args or **kwargs"
    return None


def _subscript_refusal(node: nodes.Getitem) -> str | None:
    """A subscript Python's compiler would warn of (a slice is compiled as Python's, and Python
    folds constants): one of a literal it cannot subscript, or a slice of constants only."""
    sliced = node.node
    if isinstance(sliced, nodes.Const) and not isinstance(sliced.value, str):
        return f"{sliced.value!r} cannot be subscripted (line {node.lineno})"
    literal = isinstance(sliced, nodes.Const | nodes.List | nodes.Tuple | nodes.Dict)
    if isinstance(node.arg, nodes.Slice) and not literal and sliced.find(nodes.Name) is None:
        return f"a slice of a value computed from constants only (line {node.lineno})"
    return None


def _arguments_refusal(node: nodes.Filter) -> str | None:
    where = f"the filter {node.name!r} (line {node.lineno})"
    if node.dyn_args is not None or node.dyn_kwargs is not None:
        return f"{where} cannot take *args or **kwargs"
    takes = ARGUMENTS.get(node.name, ())
    if not takes and (node.args or node.kwargs):
        return f"{where} takes no arguments in a workflow template"
    if len(node.args) > len(takes):
        return f"{where} takes at most {len(takes)} arguments"
    rules = dict(takes)
    given = [(name, arg) for (name, _), arg in zip(takes, node.args, strict=False)]
    for keyword in node.kwargs:
        if not isinstance(keyword, nodes.Keyword):  # what the parser makes of name=value
            return f"{where} takes keyword arguments only as name=value"
        given.append((keyword.key, keyword.value))
    twice = [name for index, (name, _) in enumerate(given) if name in dict(given[:index])]
    if twice:
        return f"{where} is given {twice[0]} twice"
    for name, arg in given:
        if name not in rules:
            return f"{where} has no argument {name!r}; it takes " + ", ".join(rules)
        rule = rules[name]
        if rule is None:
            continue
        found = _constant(arg)
        if found is _NOT_CONSTANT or not rule[1](found):
            label = "the separator (d)" if name == "d" else name
            return f"{where}: {label} must be {rule[0]}, written in the template"
    return None


_NOT_CONSTANT = object()


def _constant(node: nodes.Node) -> Any:
    """The value of a literal (``-2`` is a sign applied to a constant), ``_NOT_CONSTANT`` for
    anything else."""
    if isinstance(node, nodes.Const):
        return node.value
    if isinstance(node, nodes.Neg | nodes.Pos) and isinstance(node.node, nodes.Const):
        number = node.node.value
        if type(number) in (int, float):
            return -number if isinstance(node, nodes.Neg) else number
    return _NOT_CONSTANT


def _walk(node: nodes.Node) -> Iterator[tuple[nodes.Node, int]]:
    """Every node with its depth (the template is 0), without recursion."""
    stack = [(node, 0)]
    while stack:
        current, depth = stack.pop()
        yield current, depth
        stack.extend((child, depth + 1) for child in current.iter_child_nodes())


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
    if isinstance(exc, _Overgrown):
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
