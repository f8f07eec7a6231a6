"""eSputnik's syntax of message templates: Apache Velocity, through ``airspeed``.

What eSputnik's templates write works as there: ``$data.get('x')`` (the triggering event's
parameters, JSON ones parsed), ``$!data.get('x')`` (nothing when missing), ``#foreach($item in
$data.get('products')) … #end``, ``$item.get(0).get('price')``, ``#if/#elseif/#else``, ``#set``
and macros. ``$event``, ``$contact`` and ``$run`` hold the same as in the native syntax.

airspeed evaluates a template with Python's own objects and ``getattr``, so a template is
checked when it is saved (``compile_velocity``): it names nothing that starts with ``_``, calls
only the methods of ``CALLS`` (reads; no ``add``, ``put`` or Python's own string methods, which
could build a string of a billion characters), and has no ``#include``, ``#parse``,
``#evaluate`` or ``#define``. Its operators take numbers (``+`` also joins strings and lists
within the bounds), ``[a..b]`` ranges hold at most ``MAX_RANGE`` numbers, and every block it
evaluates, loop turns and macro calls included, and every string it builds, is charged to the
render's ``Budget``.
"""

from __future__ import annotations

import functools
import operator
import threading
from collections.abc import Callable, Iterator
from typing import Any

import airspeed

from footfall.messages.budget import Budget, Spent, check_product
from footfall.sandbox import MAX_ITEMS, RenderFailed

__all__ = ["CALLS", "MAX_RANGE", "Refused", "compile_velocity", "render_velocity"]

MAX_RANGE = 10_000  # numbers in one [a..b]
BLOCK_STEPS = 20  # what one block evaluated is charged, in the budget's steps
CALLS = frozenset(
    {
        "get", "size", "isEmpty", "contains", "keySet", "length", "startsWith", "upper",
        "lower", "strip", "title", "capitalize", "isdigit", "endswith", "startswith",
        "toString",
    }
)  # fmt: skip
_FORBIDDEN = {
    "IncludeDirective": "#include",
    "ParseDirective": "#parse",
    "EvaluateDirective": "#evaluate",
    "DefineDefinition": "#define",
}
_budget = threading.local()  # the render in progress on this thread: its Budget


class Refused(ValueError):
    """What a Velocity template may not use, and where."""

    def __init__(self, message: str, line: int | None) -> None:
        super().__init__(message)
        self.line = line


def compile_velocity(source: str) -> airspeed.Template:
    """The template parsed and checked; ``airspeed.TemplateSyntaxError`` (with its line) or
    ``Refused`` when it cannot be used. The parsed template is bounded in place: its operators,
    ranges, strings and blocks charge the render's budget."""
    return _compiled(source)


@functools.lru_cache(maxsize=512)
def _compiled(source: str) -> airspeed.Template:
    template = airspeed.Template(source)
    try:
        template.ensure_compiled()
    except RecursionError:
        raise Refused("the template nests too deeply", None) from None
    elements = list(_elements(template.root_element))
    for element in elements:
        _check(element, source)
        _bound(element)
    for element in elements:  # these took a part's method when parsed: the bounded one now
        if isinstance(element, airspeed.ArrayLiteral):
            element.calculate = element.values.calculate
        elif isinstance(element, airspeed.ElseBlock | airspeed.ElseifBlock):
            element.evaluate = element.block.evaluate
    return template


def _elements(root: Any) -> Iterator[Any]:
    """Every element of the parsed template, without recursion."""
    stack, seen = [root], set()
    while stack:
        element = stack.pop()
        if id(element) in seen:
            continue
        seen.add(id(element))
        yield element
        for name, value in vars(element).items():
            if name == "_full_text":
                continue
            values = value if isinstance(value, list | tuple) else [value]
            stack.extend(v for v in values if isinstance(v, airspeed._Element))


def _line(element: Any, source: str) -> int:
    return source.count("\n", 0, element.start) + 1


def _check(element: Any, source: str) -> None:
    kind = type(element).__name__
    where = _line(element, source)
    if kind in _FORBIDDEN:
        raise Refused(f"{_FORBIDDEN[kind]} is not allowed", where)
    if isinstance(element, airspeed.NameOrCall):
        name = element.name
        if name.startswith("_"):
            raise Refused(f"${name}: names starting with _ are not allowed", where)
        if element.parameters is not None and name not in CALLS:
            allowed = ", ".join(sorted(CALLS))
            raise Refused(f".{name}() is not a method a template may call: {allowed}", where)
    if isinstance(element, airspeed.SetDirective) and any(t.startswith("_") for t in element.terms):
        raise Refused("names starting with _ are not allowed", where)


def _bound(element: Any) -> None:
    """Make ``element`` charge the render's budget (an attribute of the instance shadows the
    class's method)."""
    if isinstance(element, airspeed.BinaryOperator):
        element.apply_to = _bounded_operator(element.apply_to)
    elif isinstance(element, airspeed.Range):
        element.calculate = _bounded_range(element.calculate)
    elif isinstance(element, airspeed.InterpolatedStringLiteral):
        element.calculate = _bounded_string(element)
    elif isinstance(element, airspeed.Block):
        element.evaluate = _charged(element.evaluate)


def _spend() -> Budget:
    budget = getattr(_budget, "current", None)
    if budget is None:  # rendered outside render_velocity: nothing to charge, so refused
        raise Spent("a Velocity template renders only through render_velocity")
    assert isinstance(budget, Budget)
    return budget


def _charged(evaluate: Callable[..., Any]) -> Callable[..., Any]:
    def charged(stream: Any, namespace: Any, loader: Any) -> Any:
        _spend().charge(BLOCK_STEPS)
        return evaluate(stream, namespace, loader)

    return charged


_ARITHMETIC = {operator.mul, operator.mod, operator.floordiv, operator.sub}


def _bounded_operator(apply: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    def bounded(left: Any, right: Any) -> Any:
        if apply in _ARITHMETIC and not (_is_number(left) and _is_number(right)):
            raise RenderFailed("*, /, % and - take numbers only")
        if apply is operator.mul:
            check_product(left, right)
        if apply is operator.add and not (_is_number(left) and _is_number(right)):
            if isinstance(left, str) != isinstance(right, str):  # Velocity: "a" + 1 is "a1"
                left, right = str(left), str(right)
            size = _size(left) + _size(right)
            limit = MAX_ITEMS if isinstance(left, list) else _spend().output
            if size > limit:
                raise Spent(f"+ makes a value of more than {limit} characters or items")
        try:
            return apply(left, right)
        except ZeroDivisionError:
            raise RenderFailed("division by zero") from None

    return bounded


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _size(value: Any) -> int:
    return len(value) if isinstance(value, str | list | tuple | dict) else 0


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
        return output.getvalue()

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
