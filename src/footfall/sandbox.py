"""Jinja2's sandbox as Footfall's templates use it (workflow blocks' values, messages).

A dot or a subscript reads data only (no method is reachable), only the allowed filters and
tests exist, each filter's result is bounded, and a template is checked node by node before it
is compiled (``refusal``): what it may use (``Rules``), its size, and the constant arguments of
the filters whose cost they set. Pure: no I/O.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment

__all__ = [
    "ARGUMENTS",
    "FILTERS",
    "MAX_ITEMS",
    "MAX_NESTING",
    "MAX_RENDERED",
    "TESTS",
    "Environment",
    "Overgrown",
    "RenderFailed",
    "Rules",
    "bounded",
    "control",
    "refusal",
]

MAX_NESTING = 40  # levels of nodes: Python compiles 100 nested blocks or 200 parentheses at most
MAX_RENDERED = 65_536  # characters one templated string, or one filter's result, renders to
MAX_ITEMS = 10_000  # items of a list or object a filter returns

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


# -- what a filter may be given --------------------------------------------------------------

ArgumentRule = tuple[str, Callable[[Any], bool]]  # what the argument must be, and whether it is


def integer(least: int, most: int) -> ArgumentRule:
    return f"an integer from {least} to {most}", lambda v: type(v) is int and least <= v <= most


def text(most: int) -> ArgumentRule:
    return f"a string of at most {most} characters", lambda v: isinstance(v, str) and len(v) <= most


def choice(*options: str) -> ArgumentRule:
    return "one of " + ", ".join(map(repr, options)), lambda v: isinstance(v, str) and v in options


_BOOLEAN: ArgumentRule = "true or false", lambda v: type(v) is bool
_NUMBER: ArgumentRule = (
    "a number from -1000000 to 1000000",
    lambda v: type(v) in (int, float) and abs(v) <= 1_000_000,
)
_CONSTANT: ArgumentRule = "a constant", lambda v: True
_ATTRIBUTE = text(100)
_SEQUENCE = (("case_sensitive", _BOOLEAN), ("attribute", _ATTRIBUTE))
ARGUMENTS: dict[str, tuple[tuple[str, ArgumentRule | None], ...]] = {
    "default": (("default_value", None), ("boolean", _BOOLEAN)),  # None: any expression
    "d": (("default_value", None), ("boolean", _BOOLEAN)),
    "round": (("precision", integer(0, 15)), ("method", choice("common", "ceil", "floor"))),
    "truncate": (
        ("length", integer(0, MAX_RENDERED)), ("killwords", _BOOLEAN), ("end", text(100)),
        ("leeway", integer(0, 100)),
    ),
    "join": (("d", text(100)), ("attribute", _ATTRIBUTE)),
    "int": (("default", _CONSTANT), ("base", integer(2, 36))),
    "float": (("default", _CONSTANT),),
    "trim": (("chars", text(100)),),
    "sort": (("reverse", _BOOLEAN), *_SEQUENCE),
    "unique": _SEQUENCE,
    "min": _SEQUENCE,
    "max": _SEQUENCE,
    "dictsort": (
        ("case_sensitive", _BOOLEAN), ("by", choice("key", "value")), ("reverse", _BOOLEAN),
    ),
    "sum": (("attribute", _ATTRIBUTE), ("start", _NUMBER)),
}  # fmt: skip
"""The arguments each filter takes, in order: a constant the rule accepts (filters absent here
take none). A value from the event would make the cost its size times another (``join``'s
separator, ``round``'s 10**precision, ``tojson``'s indent)."""


# -- the environment -------------------------------------------------------------------------


class RenderFailed(Exception):
    """A template could not be rendered from its data (too long, a filter's error)."""


class Overgrown(RenderFailed):
    """A filter's result beyond the bounds, raised where the field is not known."""


def bounded(value: Any) -> Any:
    """A filter's result within the bounds; an iterator's items as a list (data, not
    ``<generator object …>``)."""
    if isinstance(value, str | bytes):
        if len(value) > MAX_RENDERED:
            raise Overgrown(f"a filter's result is longer than {MAX_RENDERED} characters")
        return value
    if isinstance(value, Iterator):
        value = list(itertools.islice(value, MAX_ITEMS + 1))
    if isinstance(value, list | tuple | dict) and len(value) > MAX_ITEMS:
        raise Overgrown(f"a filter's result has more than {MAX_ITEMS} items")
    return value


def _bounded_filter(function: Callable[..., Any]) -> Callable[..., Any]:
    """``function`` with its result bounded; ``wraps`` keeps Jinja's ``jinja_pass_arg``."""

    @functools.wraps(function)
    def bounded_function(*args: Any, **kwargs: Any) -> Any:
        return bounded(function(*args, **kwargs))

    return bounded_function


class Environment(ImmutableSandboxedEnvironment):
    """The sandbox, where a dot or a subscript reads data only: ``event.params.items`` is the
    parameter named ``items``, and a method (``keys``, ``['format']``) is undefined, as templates
    make no calls. Only the allowed filters (Jinja's ``FILTERS`` and the ``extra`` given) and
    tests exist, each filter's result bounded."""

    def __init__(
        self, extra: Mapping[str, Callable[..., Any]] | None = None, **options: Any
    ) -> None:
        super().__init__(**options)
        found = {name: self.filters[name] for name in FILTERS} | dict(extra or {})
        self.filters = {name: _bounded_filter(function) for name, function in found.items()}
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


# -- checking --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Rules:
    """What one kind of template may use, and how much of it."""

    kind: str  # "a workflow template": how refusals name it
    allowed: tuple[type[nodes.Node], ...]
    names: frozenset[str] | None  # the names it may read (None: any, loop variables...)
    filters: frozenset[str]
    arguments: Mapping[str, tuple[tuple[str, ArgumentRule | None], ...]]
    max_names: int
    max_filters: int
    max_nodes: int


def refusal(tree: nodes.Template, rules: Rules) -> str | None:
    """Why ``tree`` is refused, None when it is not: what it uses, and its size, which bounds
    the cost of compiling it (about 0.02 ms a node)."""
    size = names = filters = 0
    for node, depth in _walk(tree):
        size += 1
        if depth > MAX_NESTING:
            return f"the template nests too deeply: more than {MAX_NESTING} levels (line {node.lineno})"
        refused = _node_refusal(node, rules)
        if refused is not None:
            return refused
        names += isinstance(node, nodes.Name)
        filters += isinstance(node, nodes.Filter | nodes.Test)
    if names > rules.max_names:
        return f"the template reads {names} names; the limit is {rules.max_names}"
    if filters > rules.max_filters:
        return f"the template has {filters} filters and tests; the limit is {rules.max_filters}"
    if size > rules.max_nodes:
        return f"the template is {size} syntax nodes long; the limit is {rules.max_nodes}"
    return None


def _node_refusal(node: nodes.Node, rules: Rules) -> str | None:
    if not isinstance(node, rules.allowed):
        return f"{_what(node)} is not allowed in {rules.kind} (line {node.lineno})"
    if isinstance(node, nodes.Getattr) and node.attr.startswith("_"):
        return f"{node.attr!r} (line {node.lineno}): names starting with _ are not data"
    if isinstance(node, nodes.Getitem):
        key = node.arg
        if isinstance(key, nodes.Const) and isinstance(key.value, str) and key.value[:1] == "_":
            return f"{key.value!r} (line {node.lineno}): names starting with _ are not data"
        return _subscript_refusal(node)
    if isinstance(node, nodes.Name) and rules.names is not None and node.name not in rules.names:
        known = ", ".join(sorted(rules.names))
        return f"unknown name {node.name!r} on line {node.lineno}; a template reads {known}"
    if isinstance(node, nodes.Filter):
        if node.name not in rules.filters:
            return f"the filter {node.name!r} (line {node.lineno}) is not one of: " + ", ".join(
                sorted(rules.filters)
            )
        return _arguments_refusal(node, rules)
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


def _arguments_refusal(node: nodes.Filter, rules: Rules) -> str | None:
    where = f"the filter {node.name!r} (line {node.lineno})"
    if node.dyn_args is not None or node.dyn_kwargs is not None:
        return f"{where} cannot take *args or **kwargs"
    takes = rules.arguments.get(node.name, ())
    if not takes and (node.args or node.kwargs):
        return f"{where} takes no arguments in {rules.kind}"
    if len(node.args) > len(takes):
        return f"{where} takes at most {len(takes)} arguments"
    named = dict(takes)
    given = [(name, arg) for (name, _), arg in zip(takes, node.args, strict=False)]
    for keyword in node.kwargs:
        if not isinstance(keyword, nodes.Keyword):  # what the parser makes of name=value
            return f"{where} takes keyword arguments only as name=value"
        given.append((keyword.key, keyword.value))
    twice = [name for index, (name, _) in enumerate(given) if name in dict(given[:index])]
    if twice:
        return f"{where} is given {twice[0]} twice"
    for name, arg in given:
        if name not in named:
            return f"{where} has no argument {name!r}; it takes " + ", ".join(named)
        rule = named[name]
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
        nodes.CallBlock: "a call block", nodes.FilterBlock: "a filter block",
        nodes.With: "with", nodes.ScopedEvalContextModifier: "autoescape",
    }  # fmt: skip
    return kinds.get(type(node), f"{type(node).__name__}")


def control(text: str) -> bool:
    """Control characters other than tab and newlines (a header or URL must hold none)."""
    return any((ord(c) < 32 and c not in "\t\n\r") or ord(c) == 127 for c in text)
