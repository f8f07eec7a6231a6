"""eSputnik's syntax of message templates: Apache Velocity, parsed by ``airspeed``.

What eSputnik's templates write works as there: ``$data.get('x')`` (the triggering event's
parameters, JSON ones parsed), ``$!data.get('x')`` (nothing when missing), ``#foreach($item in
$data.get('products')) … #end``, ``$item.get(0).get('price')``, ``#if/#elseif/#else``, ``#set``
and macros. ``$event``, ``$contact`` and ``$run`` hold the same as in the native syntax.

airspeed would evaluate a template with Python's own objects and ``getattr``; here it only
parses. When a template is saved (``compile_velocity``) every element of the parsed template is
reached (those kept only as a bound method included), checked and bounded in place:

- a name (``$x.name``) reads an object's key, never an attribute, and a call runs one of the
  methods of ``METHODS`` for the value's type (Velocity's ``get``, ``size``, ``isEmpty``,
  ``keySet``, ``length``…), written here, never a value the data or the template holds; a call
  to another name, a name starting with ``_``, and ``#include``, ``#parse``, ``#evaluate`` and
  ``#define`` are refused when the template is saved;
- every value a reference, a literal or an operator makes weighs at most the render's output
  bound (``sandbox.weight``) before it is printed, compared or joined; ``*``, ``/``, ``%`` and
  ``-`` take numbers, products 512 bits at most; ``[a..b]`` holds at most ``MAX_RANGE`` numbers;
- every block evaluated (loop turns and macro calls included) is charged to the render's
  ``Budget``.
"""

from __future__ import annotations

import bisect
import functools
import operator
import threading
from collections.abc import Callable, Iterator
from typing import Any

import airspeed

from footfall.messages.budget import Budget, Spent, check_product
from footfall.sandbox import RenderFailed, weight

__all__ = ["CALLS", "MAX_MARKS", "MAX_RANGE", "Refused", "compile_velocity", "render_velocity"]

MAX_RANGE = 10_000  # numbers in one [a..b]
MAX_MARKS = 20_000  # $ and # in one part: what parsing it costs (about 0.02 ms each)
MAX_SIGNS = 20_000  # + - * / % , in one part: the terms of expressions, parsed one by one
MAX_OPERATORS = 64  # in one expression (airspeed evaluates one in time squared to their number)
BLOCK_STEPS = 20  # what one block evaluated is charged, in the budget's steps
_budget = threading.local()  # the render in progress on this thread: its Budget


def _item(value: Any, key: Any) -> Any:
    try:
        return value[key]
    except (KeyError, IndexError, TypeError):
        return None


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise RenderFailed(f"{str(value)[:40]!r} is not text")
    return value


def _substring(value: str, start: Any, end: Any = None) -> str:
    if not isinstance(start, int) or not isinstance(end, int | None):
        raise RenderFailed("substring takes whole numbers")
    return value[start:end]


_MAPS: dict[str, Callable[..., Any]] = {
    "get": _item,
    "size": len,
    "isEmpty": lambda d: not d,
    "keySet": lambda d: list(d),
    "values": lambda d: list(d.values()),
    "containsKey": lambda d, key: _hashable(key) and key in d,
    "toString": lambda d: _printed(d),
}
_LISTS: dict[str, Callable[..., Any]] = {
    "get": _item,
    "size": len,
    "isEmpty": lambda s: not s,
    "contains": lambda s, value: value in s,
    "toString": lambda s: _printed(s),
}
_TEXTS: dict[str, Callable[..., Any]] = {
    "length": len,
    "size": len,
    "isEmpty": lambda s: not s,
    "contains": lambda s, part: _text(part) in s,
    "startsWith": lambda s, part: s.startswith(_text(part)),
    "startswith": lambda s, part: s.startswith(_text(part)),
    "endsWith": lambda s, part: s.endswith(_text(part)),
    "endswith": lambda s, part: s.endswith(_text(part)),
    "equals": lambda s, other: s == other,
    "indexOf": lambda s, part: s.find(_text(part)),
    "substring": _substring,
    "toUpperCase": str.upper,
    "toLowerCase": str.lower,
    "upper": str.upper,
    "lower": str.lower,
    "trim": str.strip,
    "strip": str.strip,
    "title": str.title,
    "capitalize": str.capitalize,
    "isdigit": str.isdigit,
    "toString": str,
}
METHODS: dict[type, dict[str, Callable[..., Any]]] = {
    dict: _MAPS,
    list: _LISTS,
    range: _LISTS,
    str: _TEXTS,
}
CALLS = frozenset(name for table in METHODS.values() for name in table)
_FORBIDDEN = {
    "IncludeDirective": "#include",
    "ParseDirective": "#parse",
    "EvaluateDirective": "#evaluate",
    "DefineDefinition": "#define",
    "UserDefinedDirective": "a user-defined directive",
}
_KNOWN = frozenset(
    {
        "TemplateBody", "Block", "Text", "FallthroughHashText", "IntegerLiteral",
        "FloatingPointLiteral", "BooleanLiteral", "NullLiteral", "StringLiteral",
        "InterpolatedStringLiteral", "Range", "ValueList", "ArrayLiteral", "DictionaryLiteral",
        "Value", "NameOrCall", "SubExpression", "VariableExpression", "ParameterList",
        "ArrayIndex", "AlternateValue", "FormalReference", "Comment", "BinaryOperator",
        "UnaryOperatorValue", "Expression", "ParenthesizedExpression", "Condition", "End",
        "ElseBlock", "ElseifBlock", "IfDirective", "MacroDefinition", "MacroCall",
        "StopDirective", "SetDirective", "ForeachDirective",
    }
)  # fmt: skip


def _hashable(value: Any) -> bool:
    return isinstance(value, str | int | float | bool) or value is None


def _printed(value: Any) -> str:
    _within(value)
    return str(value)


class Refused(ValueError):
    """What a Velocity template may not use, and where."""

    def __init__(self, message: str, line: int | None) -> None:
        super().__init__(message)
        self.line = line


def compile_velocity(source: str) -> airspeed.Template:
    """The template parsed, checked and bounded; ``airspeed.TemplateSyntaxError`` (with its
    line) or ``Refused`` when it cannot be used."""
    marks = source.count("$") + source.count("#")
    if marks > MAX_MARKS:
        raise Refused(f"the template has {marks} $ and # signs; the limit is {MAX_MARKS}", None)
    signs = sum(source.count(sign) for sign in "+-*/%,")
    if signs > MAX_SIGNS:
        raise Refused(
            f"the template has {signs} of + - * / % and ,; the limit is {MAX_SIGNS}", None
        )
    if len(source) > 16 * 1024:  # a large part is compiled each time: the cache stays small
        return _compile(source)
    return _cached(source)


@functools.lru_cache(maxsize=32)
def _cached(source: str) -> airspeed.Template:
    return _compile(source)


def _compile(source: str) -> airspeed.Template:
    template = airspeed.Template(source)
    try:
        template.ensure_compiled()
    except RecursionError:
        raise Refused("the template nests too deeply", None) from None
    lines = _Lines(source)
    elements = list(_elements(template.root_element))
    for element in elements:
        _check(element, lines)
    for element in elements:
        _bound(element)
    for element in elements:  # these took a part's method when parsed: the bounded one now
        _realias(element)
    return template


class _Lines:
    """Line numbers of offsets in the source, found when a refusal needs one."""

    def __init__(self, source: str) -> None:
        self._source = source
        self._starts: list[int] | None = None

    def of(self, element: Any) -> int:
        if self._starts is None:
            self._starts = [i for i, c in enumerate(self._source) if c == "\n"]
        return bisect.bisect_left(self._starts, element.start) + 1


def _elements(root: Any) -> Iterator[Any]:
    """Every element of the parsed template, those kept in a dictionary or only as a bound
    method too, without recursion."""
    stack, seen = [root], set()
    while stack:
        element = stack.pop()
        if id(element) in seen:
            continue
        seen.add(id(element))
        yield element
        for name, value in vars(element).items():
            if name != "_full_text":
                stack.extend(_parts(value))


def _parts(value: Any) -> list[Any]:
    if isinstance(value, airspeed._Element):
        return [value]
    if isinstance(value, list | tuple):
        return [item for v in value for item in _parts(v)]
    if isinstance(value, dict):
        return [item for pair in value.items() for v in pair for item in _parts(v)]
    owner = getattr(value, "__self__", None)  # a bound method: its element
    return [owner] if isinstance(owner, airspeed._Element) else []


def _check(element: Any, lines: _Lines) -> None:
    kind = type(element).__name__
    if kind in _FORBIDDEN:
        raise Refused(f"{_FORBIDDEN[kind]} is not allowed", lines.of(element))
    if kind not in _KNOWN:
        raise Refused(f"{kind} is not supported", lines.of(element))
    if isinstance(element, airspeed.NameOrCall):
        name = element.name
        if name.startswith("_"):
            raise Refused(f"${name}: names starting with _ are not allowed", lines.of(element))
        if element.parameters is not None and name not in CALLS:
            allowed = ", ".join(sorted(CALLS))
            raise Refused(
                f".{name}() is not a method a template may call: {allowed}", lines.of(element)
            )
    if isinstance(element, airspeed.Expression) and len(element.expression) > 2 * MAX_OPERATORS:
        raise Refused(f"an expression has more than {MAX_OPERATORS} operators", lines.of(element))
    if isinstance(element, airspeed.SetDirective) and any(t.startswith("_") for t in element.terms):
        raise Refused("names starting with _ are not allowed", lines.of(element))


def _bound(element: Any) -> None:
    """Make ``element`` safe and charge the render's budget (an attribute of the instance
    shadows the class's method)."""
    if isinstance(element, airspeed.NameOrCall):
        element.calculate = _name_or_call(element)
    elif isinstance(element, airspeed.VariableExpression):
        element.calculate = _weighed(element.calculate)
    elif isinstance(element, airspeed.BinaryOperator):
        element.apply_to = _bounded_operator(element.apply_to)
    elif isinstance(element, airspeed.Range):
        element.calculate = _bounded_range(element.calculate)
    elif isinstance(element, airspeed.InterpolatedStringLiteral):
        element.calculate = _bounded_string(element)
    elif isinstance(element, airspeed.DictionaryLiteral):
        element.calculate = _weighed(element.calculate)
    elif isinstance(element, airspeed.Block):
        element.evaluate = _charged(element.evaluate)


def _realias(element: Any) -> None:
    if isinstance(element, airspeed.ArrayLiteral):
        element.calculate = _weighed(element.values.calculate)
    elif isinstance(element, airspeed.ElseBlock | airspeed.ElseifBlock):
        element.evaluate = element.block.evaluate
    elif (
        isinstance(element, airspeed.FormalReference | airspeed.AlternateValue)
        and element.expression is not None
    ):
        element.calculate = element.expression.calculate


def _name_or_call(element: Any) -> Callable[..., Any]:
    """What ``$x.name``, ``$x.name(…)`` and ``$x.name[…]`` read: a key of a map (the namespace
    too), or one of METHODS for the value's type; never an attribute, never a value called."""
    name, parameters, index = element.name, element.parameters, element.index

    def calculate(current: Any, loader: Any, top: Any) -> Any:
        if parameters is not None:
            method = METHODS.get(type(current) if not isinstance(current, dict) else dict, {})
            found = method.get(name)
            if found is None:
                return None
            return found(current, *parameters.calculate(top, loader))
        result = _item(current, name) if isinstance(current, dict) else None
        if index is not None and result is not None:
            result = _item(result, index.calculate(top, loader))
        return result

    return calculate


def _spend() -> Budget:
    budget = getattr(_budget, "current", None)
    if budget is None:  # rendered outside render_velocity: nothing to charge, so refused
        raise Spent("a Velocity template renders only through render_velocity")
    assert isinstance(budget, Budget)
    return budget


def _within(value: Any) -> Any:
    """``value`` when it weighs at most the output bound (it may then be printed); weighing
    is charged to the budget (a step per 32 characters)."""
    if isinstance(value, int | float | bool | None):
        return value
    budget = _spend()
    found = weight(value, budget.output)
    budget.charge(found // 32)
    if found > budget.output:
        raise Spent(f"a value of more than {budget.output} characters")
    return value


def _weighed(calculate: Callable[..., Any]) -> Callable[..., Any]:
    def weighed(*args: Any) -> Any:
        return _within(calculate(*args))

    return weighed


def _charged(evaluate: Callable[..., Any]) -> Callable[..., Any]:
    def charged(stream: Any, namespace: Any, loader: Any) -> Any:
        _spend().charge(BLOCK_STEPS)
        return evaluate(stream, namespace, loader)

    return charged


_ARITHMETIC = {operator.mul, operator.mod, operator.floordiv, operator.sub}


def _bounded_operator(apply: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    def bounded(left: Any, right: Any) -> Any:
        numbers = _is_number(left) and _is_number(right)
        if apply in _ARITHMETIC and not numbers:
            raise RenderFailed("*, /, % and - take numbers only")
        if apply is operator.mul:
            check_product(left, right)
        if apply is operator.add and not numbers:
            if isinstance(left, str) != isinstance(right, str):  # Velocity: "a" + 1 is "a1"
                left, right = _printed(left), _printed(right)
            limit = _spend().output
            found = weight(left, limit) + weight(right, limit)
            _spend().charge(found // 32)
            if found > limit:
                raise Spent(f"+ makes a value of more than {limit} characters")
            _spend().made(found)
        try:
            return apply(left, right)
        except ZeroDivisionError:
            raise RenderFailed("division by zero") from None

    return bounded


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _bounded_range(calculate: Callable[..., Any]) -> Callable[..., Any]:
    def bounded(namespace: Any, loader: Any) -> Any:
        numbers = calculate(namespace, loader)
        if len(numbers) > MAX_RANGE:
            raise Spent(f"a range holds more than {MAX_RANGE} numbers")
        return numbers

    return bounded


class _Stream:
    """Output that refuses to grow beyond the render's bound (``write`` and ``getvalue`` are
    all airspeed uses of a stream; ``stop`` is set by ``#stop``)."""

    def __init__(self, budget: Budget) -> None:
        self._budget = budget
        self._parts: list[str] = []
        self._size = 0
        self.stop = False

    def write(self, text: str) -> None:
        if self.stop:
            return
        self._size += len(text)
        self._budget.written(self._size)
        self._parts.append(text)

    def getvalue(self) -> str:
        return "".join(self._parts)


def _bounded_string(element: Any) -> Callable[..., Any]:
    def calculate(namespace: Any, loader: Any) -> str:
        output = _Stream(_spend())
        element.block.evaluate(output, namespace, loader)
        made = output.getvalue()
        _spend().made(len(made))
        return made

    return calculate


def render_velocity(template: airspeed.Template, namespace: dict[str, Any], budget: Budget) -> str:
    """The template merged with ``namespace`` within ``budget``; ``RenderFailed`` with the
    cause of an execution error."""
    output = _Stream(budget)
    _budget.current = budget
    try:
        template.merge_to(namespace, output, airspeed.NullLoader())
    except airspeed.TemplateExecutionError as exc:
        cause = exc.__cause__
        while isinstance(cause, airspeed.TemplateExecutionError):
            cause = cause.__cause__
        if isinstance(cause, RenderFailed):
            raise cause from None
        if isinstance(cause, RecursionError):
            raise RenderFailed(
                "the template recurses too deeply (a macro that calls itself)"
            ) from None
        reason = f"{type(cause).__name__}: {cause}" if cause is not None else str(exc)
        raise RenderFailed(reason[:300]) from None
    finally:
        _budget.current = None
    return output.getvalue()
