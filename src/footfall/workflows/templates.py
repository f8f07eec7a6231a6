"""Templated values of workflow blocks (an HTTP block's URL, headers and body, an emitted event's
params, a contact field's new value): Jinja2 in its sandbox, checked when a workflow is saved.

A template reads ``event`` (the run's starting event: ``event.params.products[0].price``),
``contact`` (its fields) and ``run`` (its id). The sandbox keeps templates away from Python's
internals; syntax errors are reported with their line when the document is saved.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

from footfall.exceptions import InvalidWorkflow

__all__ = ["MAX_TEMPLATE", "check_json_template", "check_template"]

MAX_TEMPLATE = 10_000  # characters in one templated string

_ENVIRONMENT = ImmutableSandboxedEnvironment(undefined=jinja2.StrictUndefined, autoescape=False)


def check_template(text: str, field: str) -> None:
    """InvalidWorkflow at ``field`` unless ``text`` is a template Jinja2 can compile."""
    if len(text) > MAX_TEMPLATE:
        raise InvalidWorkflow(
            f"{field} is {len(text)} characters long; the limit is {MAX_TEMPLATE}", field=field
        )
    if _control(text):
        raise InvalidWorkflow(f"{field} holds a control character", field=field)
    try:
        _ENVIRONMENT.parse(text)
    except jinja2.TemplateSyntaxError as exc:
        raise InvalidWorkflow(
            f"{field}: template error on line {exc.lineno}: {exc.message}", field=field
        ) from None
    except RecursionError:
        raise InvalidWorkflow(f"{field}: the template nests too deeply", field=field) from None


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
