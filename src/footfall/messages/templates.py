"""Message templates' parts (a subject, an HTML or a text body): checked and compiled when a
template is saved, so that an error is reported then, with its line, and rendered for each
message from its data, within a budget. Two syntaxes: ``native`` (Jinja2 in Footfall's sandbox,
``messages.native``) and ``velocity`` (eSputnik's, ``messages.velocity``). Pure: no I/O.

What a part reads: ``event`` (``id``, ``type``, ``keyValue``, ``occurred``, ``params``: the
triggering event's parameters, JSON ones parsed), ``contact`` (its fields and channels) and
``run`` (``id``, ``workflowId``, ``block``); in Velocity also ``$data``, the event's parameters,
as eSputnik's templates read them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import airspeed
import jinja2

from footfall import sandbox
from footfall.exceptions import InvalidTemplate
from footfall.messages.budget import Budget, Spent
from footfall.messages.native import compile_native, render_native
from footfall.messages.velocity import Refused, compile_velocity, render_velocity
from footfall.sandbox import RenderFailed

__all__ = [
    "MAX_SOURCE",
    "NATIVE",
    "SYNTAXES",
    "VELOCITY",
    "Part",
    "RenderData",
    "RenderFailed",
    "compile_part",
    "render_part",
]

NATIVE = "native"
VELOCITY = "velocity"
SYNTAXES = (NATIVE, VELOCITY)
MAX_SOURCE = 256 * 1024  # characters of one part


@dataclass(frozen=True, slots=True)
class Part:
    """One part of a template, checked and compiled."""

    field: str  # "subject", "html", "text"
    syntax: str
    html: bool  # escaped as HTML (native syntax)
    compiled: Any  # jinja2.Template or airspeed.Template


@dataclass(frozen=True, slots=True)
class RenderData:
    """What one message's parts are rendered from."""

    event: Mapping[str, Any] | None = None  # id, type, keyValue, occurred, params
    contact: Mapping[str, Any] = field(default_factory=dict)
    run: Mapping[str, Any] = field(default_factory=dict)
    zone: str = "UTC"  # dates are shown in it: the contact's time zone, else the workspace's


def compile_part(source: str, syntax: str, field: str, *, html: bool = False) -> Part:
    """``source`` checked and compiled as the ``field`` part; InvalidTemplate naming the part
    and the line when it is refused."""
    if syntax not in SYNTAXES:
        raise InvalidTemplate(
            f"syntax must be one of {', '.join(SYNTAXES)}, not {str(syntax)[:40]!r}",
            field="syntax",
        )
    if len(source) > MAX_SOURCE:
        raise InvalidTemplate(
            f"{field} is {len(source)} characters long; the limit is {MAX_SOURCE}", field=field
        )
    if "\x00" in source:
        raise InvalidTemplate(f"{field} holds a NUL character", field=field)
    if syntax == NATIVE:
        return Part(field, syntax, html, _native(source, field, html))
    return Part(field, syntax, html, _velocity(source, field))


def _native(source: str, field: str, html: bool) -> jinja2.Template:
    try:
        return compile_native(source, html)
    except jinja2.TemplateSyntaxError as exc:
        raise _invalid(field, exc.lineno, exc.message or "syntax error") from None
    except RecursionError:
        raise _invalid(field, None, "the template nests too deeply") from None
    except Exception as exc:  # what it may not use; Python's compiler on a huge literal
        raise _invalid(field, None, str(exc).split(";")[0][:300]) from None


def _velocity(source: str, field: str) -> airspeed.Template:
    try:
        return compile_velocity(source)
    except airspeed.TemplateSyntaxError as exc:
        reason = str(exc).split(": ", 1)[-1]
        raise _invalid(field, exc.line, reason) from None
    except Refused as exc:
        raise _invalid(field, exc.line, str(exc)) from None
    except RecursionError:
        raise _invalid(field, None, "the template nests too deeply") from None
    except Exception as exc:  # a literal Python cannot read (an integer of 5,000 digits)
        raise _invalid(field, None, f"{type(exc).__name__}: {str(exc)[:200]}") from None


def _invalid(field: str, line: int | None, reason: str) -> InvalidTemplate:
    where = f"{field}, line {line}" if line is not None else field
    return InvalidTemplate(f"{where}: {reason}", field=field, line=line)


def render_part(part: Part, data: RenderData, budget: Budget | None = None) -> str:
    """The part rendered from ``data``; RenderFailed naming the part when it cannot be (a
    filter given what it cannot take, a bound passed)."""
    budget = budget or Budget()
    try:
        if part.syntax == NATIVE:
            return render_native(part.compiled, _context(data), data.zone, budget)
        return render_velocity(part.compiled, _namespace(data), budget)
    except Spent as exc:
        raise RenderFailed(f"{part.field}: {exc}") from None
    except RenderFailed as exc:
        raise RenderFailed(f"{part.field}: {exc}") from None
    except sandbox.Overgrown as exc:
        raise RenderFailed(f"{part.field}: {exc}") from None
    except RecursionError:
        raise RenderFailed(f"{part.field}: the template recurses too deeply") from None
    except Exception as exc:  # a sandbox refusal, a filter's error
        raise RenderFailed(f"{part.field}: {type(exc).__name__}: {str(exc)[:300]}") from None


def _context(data: RenderData) -> dict[str, Any]:
    return {
        "event": _copy(data.event or {}),
        "contact": _copy(data.contact),
        "run": _copy(data.run),
    }


def _namespace(data: RenderData) -> dict[str, Any]:
    """Velocity's names: copies, so that ``#set($data.x = …)`` changes this render only."""
    event = _copy(data.event or {})
    params = event.get("params")
    return {
        "data": params if isinstance(params, dict) else {},
        "event": event,
        "contact": _copy(data.contact),
        "run": _copy(data.run),
    }


def _copy(value: Any) -> Any:
    """A copy of JSON data (stored data nests a bounded number of levels)."""
    if isinstance(value, Mapping):
        return {key: _copy(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_copy(item) for item in value]
    return value
