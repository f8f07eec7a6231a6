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
from jinja2.compiler import CodeGenerator, Frame
from jinja2.sandbox import ImmutableSandboxedEnvironment

__all__ = [
    "ARGUMENTS",
    "FILTERS",
    "MAX_ITEMS",
    "MAX_NESTING",
    "MAX_RENDERED",
    "MAX_WEIGHT",
    "TESTS",
    "Environment",
    "Overgrown",
    "RenderFailed",
    "Rules",
    "bounded",
    "control",
    "refusal",
    "weight",
]

MAX_NESTING = 40  # levels of nodes: Python compiles 100 nested blocks or 200 parentheses at most
MAX_RENDERED = 65_536  # characters one templated string, or one filter's result, renders to
MAX_ITEMS = 10_000  # items of a list or object a filter returns
MAX_WEIGHT = 1_048_576  # characters' weight of what a template is given, joins or prints

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


def weight(value: Any, limit: int) -> int:
    """About how many characters ``value`` prints as, or more: a string its length, an integer
    its digits, another scalar 24, a container 2 a member besides its members; counted without recursion, and only until it
    passes ``limit`` (then a number above it), so that its cost is bounded too."""
    total, stack = 0, [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str | bytes):
            total += len(item)
        elif isinstance(item, dict | list | tuple):
            total += 2 + 2 * len(item)
            if total > limit:
                return total
            stack.extend(item.items() if isinstance(item, dict) else item)
        elif isinstance(item, int) and not isinstance(item, bool):
            total += item.bit_length() // 3 + 2  # its digits and sign, or more
        else:
            total += 24  # a float's digits, true, none...
        if total > limit:
            return total
    return total


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


def _bounded_filter(function: Callable[..., Any], limit: int) -> Callable[..., Any]:
    """``function`` given values of at most ``limit`` characters' weight, its result bounded;
    ``wraps`` keeps Jinja's ``jinja_pass_arg``."""

    @functools.wraps(function)
    def bounded_function(*args: Any, **kwargs: Any) -> Any:
        for value in (*args, *kwargs.values()):
            if isinstance(value, str | list | tuple | dict):
                _weighed(value, limit)
        if function.__name__ in ("do_join", "sync_do_join") and args:
            _check_join(args, kwargs, limit)
        return bounded(function(*args, **kwargs))

    return bounded_function


def _scalar(value: Any) -> bool:
    return isinstance(value, int | float) or value is None


def _check_join(args: tuple[Any, ...], kwargs: dict[str, Any], limit: int) -> None:
    """``join`` makes its items' weight and a separator between each two: refused before."""
    items = [a for a in args if not isinstance(a, jinja2.nodes.EvalContext)]
    value = items[0] if items else None
    separator = kwargs.get("d", items[1] if len(items) > 1 else "")
    if isinstance(value, list | tuple | dict | str) and isinstance(separator, str):
        made = weight(value, limit) + max(0, len(value) - 1) * len(separator)
        if made > limit:
            raise Overgrown(f"join makes a value of more than {limit} characters")


def _weighed(value: Any, limit: int) -> Any:
    if weight(value, limit) > limit:
        raise Overgrown(f"a value of more than {limit} characters")
    return value


class _CodeGenerator(CodeGenerator):
    """Jinja2's, but for ``~``, whose parts are weighed before they are joined, and nothing
    computed while the template compiles but its text and constants (Jinja2 would run filters
    on constants then, outside any bound)."""

    def _output_child_to_const(self, node: nodes.Expr, frame: Frame, finalize: Any) -> str:
        if not isinstance(node, nodes.TemplateData | nodes.Const):
            raise nodes.Impossible()
        return super()._output_child_to_const(node, frame, finalize)

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:  # noqa: N802 (Jinja's name)
        if frame.eval_ctx.volatile:
            join = "(markup_join if context.eval_ctx.volatile else str_join)"
        elif frame.eval_ctx.autoescape:
            join = "markup_join"
        else:
            join = "str_join"
        self.write(f"environment.joined({join}, (")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


class Environment(ImmutableSandboxedEnvironment):
    """The sandbox, where a dot or a subscript reads data only: ``event.params.items`` is the
    parameter named ``items``, and a method (``keys``, ``['format']``) is undefined, as templates
    make no calls. Only the allowed filters (Jinja's ``FILTERS`` and the ``extra`` given) and
    tests exist, and no global. What a template makes weighs at most ``limit`` characters
    (``weight``) before it is made: a filter's arguments and result, what ``+`` and ``~`` join,
    and what is printed."""

    code_generator_class = _CodeGenerator
    intercepted_binops = frozenset({"+"})

    def __init__(
        self,
        extra: Mapping[str, Callable[..., Any]] | None = None,
        limit: int = MAX_WEIGHT,
        **options: Any,
    ) -> None:
        super().__init__(finalize=self._printable, **options)
        self.limit = limit
        found = {name: self.filters[name] for name in FILTERS} | dict(extra or {})
        self.filters = {name: _bounded_filter(f, limit) for name, f in found.items()}
        self.tests = {name: self.tests[name] for name in TESTS}
        self.globals = {}

    def _printable(self, value: Any) -> Any:
        return _weighed(value, self.limit)

    def made(self, size: int) -> None:
        """A value of ``size`` characters' weight is about to be made (a hook: a render's
        budget may count them)."""

    def joined(self, join: Callable[[Any], str], parts: tuple[Any, ...]) -> str:
        size = sum(weight(part, self.limit) for part in parts)
        if size > self.limit:
            raise Overgrown(f"~ makes a value of more than {self.limit} characters")
        self.made(size)
        return join(parts)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "+" and not (_scalar(left) and _scalar(right)):
            size = weight(left, self.limit) + weight(right, self.limit)
            if size > self.limit:
                raise Overgrown(f"+ makes a value of more than {self.limit} characters")
            self.made(size)
        return super().call_binop(context, operator, left, right)

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
    constant_literals: bool = False  # lists, tuples and dicts hold constants only


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
    if isinstance(node, nodes.Name) and node.name.startswith("_"):
        return f"{node.name!r} (line {node.lineno}): names starting with _ are not allowed"
    built = isinstance(node, nodes.List | nodes.Dict) or (
        isinstance(node, nodes.Tuple) and node.ctx == "load"
    )
    if rules.constant_literals and built:
        literal = node.find_all((nodes.Name, nodes.Getattr, nodes.Getitem, nodes.Filter))
        if next(iter(literal), None) is not None:
            return f"a list or dict (line {node.lineno}) may hold constants only in {rules.kind}"
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
