"""The native syntax of message templates: Jinja2 in Footfall's sandbox (``footfall.sandbox``).

A message template reads ``event`` (``event.params.products``, ``event.type``...), ``contact``
(its fields and channels) and ``run``, like a workflow block's values, and may also loop
(``{% for item in event.params.products %}``), set names, and multiply or divide numbers. It
makes no calls: data is read, never a method, and there are no macros, includes or imports. Its
filters are Jinja2's safe ones and ``money``, ``date`` (in the contact's time zone) and ``url``.
HTML parts are escaped automatically. Each render runs under a ``Budget``.
"""

from __future__ import annotations

import functools
import math
import threading
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import jinja2
from babel import Locale, UnknownLocaleError
from babel.dates import format_datetime
from babel.numbers import format_currency, format_decimal
from jinja2 import nodes

from footfall import sandbox
from footfall.messages.budget import MAX_OUTPUT, Budget, check_product, traced
from footfall.sandbox import ARGUMENTS, FILTERS, RenderFailed, text
from footfall.zones import zone_for

__all__ = ["NATIVE_FILTERS", "compile_native", "render_native"]

_render = threading.local()  # the render in progress on this thread: ``zone``, for ``date``
MAX_NODES = 5_000  # syntax nodes of one part (about 0.02 ms each to compile)


def _known_locale(value: Any) -> bool:
    if not isinstance(value, str) or len(value) > 20:
        return False
    try:
        Locale.parse(value.replace("-", "_"))
    except (ValueError, UnknownLocaleError):
        return False
    return True


_LOCALE: sandbox.ArgumentRule = "a locale Babel knows (en, uk, pt_BR...)", _known_locale
_ARGUMENTS = ARGUMENTS | {
    "money": (("currency", None), ("locale", _LOCALE)),  # the currency may come from the event
    "date": (("format", text(100)), ("locale", _LOCALE)),
}
NATIVE_FILTERS = FILTERS | {"money", "date", "url"}
_ALLOWED = (
    nodes.Template, nodes.Output, nodes.TemplateData, nodes.Name, nodes.Getattr, nodes.Getitem,
    nodes.Slice, nodes.Const, nodes.List, nodes.Tuple, nodes.Dict, nodes.Pair, nodes.Keyword,
    nodes.Concat, nodes.CondExpr, nodes.Compare, nodes.Operand, nodes.And, nodes.Or, nodes.Not,
    nodes.Neg, nodes.Pos, nodes.Add, nodes.Sub, nodes.Div, nodes.FloorDiv, nodes.Mul, nodes.Mod,
    nodes.If, nodes.Filter, nodes.Test, nodes.For, nodes.Assign,
)  # fmt: skip
_RULES = sandbox.Rules(
    "a message template",
    _ALLOWED,
    None,  # loop variables and names set are read too; an unknown name renders as nothing
    NATIVE_FILTERS,
    _ARGUMENTS,
    max_names=MAX_NODES,
    max_filters=MAX_NODES,
    max_nodes=MAX_NODES,
    constant_literals=True,  # [a, a, a] nested ten deep would print a billion characters
)


def _number(value: Any) -> float | int:
    if isinstance(value, bool):
        raise RenderFailed(f"{value!r} is not a number")
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise RenderFailed(f"{value!r} is not a number")
        return value
    try:
        number = float(str(value))
    except ValueError:
        raise RenderFailed(f"{str(value)[:50]!r} is not a number") from None
    if not math.isfinite(number):
        raise RenderFailed(f"{str(value)[:50]!r} is not a number")
    return number


def money(value: Any, currency: Any = None, locale: str = "en") -> str:
    """An amount with two decimals, in ``currency`` (an ISO 4217 code) when one is given."""
    amount = _number(value)
    if currency is None or currency == "":
        return format_decimal(amount, format="#,##0.00", locale=_locale(locale))
    if not isinstance(currency, str) or not (currency.isascii() and currency.isalpha()):
        raise RenderFailed(f"{str(currency)[:20]!r} is not a currency code")
    if len(currency) != 3:
        raise RenderFailed(f"{currency[:20]!r} is not a currency code")
    return format_currency(amount, currency.upper(), locale=_locale(locale))


@jinja2.pass_context  # never computed when the template compiles: the zone is the render's
def date(_context: Any, value: Any, format: str = "medium", locale: str = "en") -> str:
    """A moment (ISO 8601 text, or seconds since 1970) in the time zone of the render (the
    contact's, else the workspace's), as Babel's ``short``/``medium``/``long``/``full`` or a
    pattern (``dd.MM.yyyy HH:mm``)."""
    moment = _moment(value)
    zone = zone_for(getattr(_render, "zone", None), "UTC")
    return format_datetime(moment, format, tzinfo=zone, locale=_locale(locale))


def _locale(name: str) -> str:
    return name.replace("-", "_")


def _moment(value: Any) -> datetime:
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError):
            raise RenderFailed(f"{value!r} is not a moment") from None
    if isinstance(value, str) and len(value) <= 64:
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            pass
        else:
            return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    raise RenderFailed(f"{str(value)[:50]!r} is not a moment (ISO 8601 or seconds since 1970)")


def url(value: Any) -> str:
    """``value`` when it is an http(s) URL, else nothing: an ``href`` never gets a
    ``javascript:`` or ``data:`` link from an event."""
    if not isinstance(value, str) or sandbox.control(value):
        return ""
    try:
        parts = urlsplit(value.strip())
    except ValueError:
        return ""
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return ""
    return value.strip()


class _Environment(sandbox.Environment):
    """The sandbox with the message filters; ``*``, ``%`` and ``//`` on numbers only (a string
    repeated or formatted a billion times is one operation the budget cannot stop)."""

    intercepted_binops = frozenset({"+", "*", "%", "//"})

    def made(self, size: int) -> None:
        budget = getattr(_render, "budget", None)
        if budget is not None:
            budget.made(size)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "+":
            return super().call_binop(context, operator, left, right)
        a, b = _number(left), _number(right)
        try:
            if operator == "*":
                check_product(a, b)
                return a * b
            if operator == "%":
                return a % b
            return a // b
        except ZeroDivisionError:
            raise RenderFailed(f"{operator} by zero") from None


def _environment(autoescape: bool) -> _Environment:
    return _Environment(
        {"money": money, "date": date, "url": url},
        MAX_OUTPUT,
        undefined=jinja2.ChainableUndefined,
        autoescape=autoescape,
        cache_size=0,
        optimized=False,
    )


_ENVIRONMENTS = {True: _environment(True), False: _environment(False)}


def compile_native(source: str, html: bool) -> jinja2.Template:
    """The template compiled; ``jinja2.TemplateSyntaxError`` (with its line) or ``ValueError``
    (what it may not use) when it is refused."""
    environment = _ENVIRONMENTS[html]
    refused = sandbox.refusal(environment.parse(source), _RULES)
    if refused is not None:
        raise ValueError(refused)
    if len(source) > 16 * 1024:  # a large part is compiled each time: the cache stays small
        return _ENVIRONMENTS[html].from_string(source)
    return _compiled(source, html)


@functools.lru_cache(maxsize=64)
def _compiled(source: str, html: bool) -> jinja2.Template:
    return _ENVIRONMENTS[html].from_string(source)


def render_native(
    template: jinja2.Template, data: dict[str, Any], zone: str, budget: Budget
) -> str:
    """The template rendered from ``data`` within ``budget``, dates shown in ``zone``."""

    def render() -> str:
        size, chunks = 0, []
        for chunk in template.generate(**data):
            size += len(chunk)
            budget.written(size)
            chunks.append(chunk)
        return "".join(chunks)

    _render.zone, _render.budget = zone, budget
    try:
        return traced(budget, render)
    finally:
        _render.zone, _render.budget = None, None
