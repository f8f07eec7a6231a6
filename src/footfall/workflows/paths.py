"""Paths into JSON values, as workflow documents write them: names joined by dots, ``[N]`` for an
array's element and ``[*]`` for all of them (``products[*].productId``). A path yields the values
it reaches: a missing key, an index out of range or a step into a scalar yields nothing, ``[*]``
fans out over an array (not an object), and at most MAX_VALUES values are kept at each step, so
reading costs no more than the path's steps allow, whatever the data.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from footfall.exceptions import InvalidWorkflow

__all__ = ["MAX_VALUES", "Each", "Index", "Key", "Path", "parse_path"]

MAX_PATH = 200  # characters of a path
MAX_STEPS = 16  # names, indexes and wildcards of a path
MAX_VALUES = 10_000  # values a path yields, elements contains scans in one array

_NAME = re.compile(r"[^.\[\]]+")
_NEXT = re.compile(r"\.([^.\[\]]+)|\[(\*|\d{1,9})\]")


@dataclass(frozen=True, slots=True)
class Key:
    name: str


@dataclass(frozen=True, slots=True)
class Index:
    position: int


@dataclass(frozen=True, slots=True)
class Each:
    """``[*]``: every element of an array."""


Step = Key | Index | Each


@dataclass(frozen=True, slots=True)
class Path:
    """A parsed path such as ``products[*].productId``."""

    text: str
    steps: tuple[Step, ...]

    def values(self, data: Any) -> list[Any]:
        """What the path reaches in ``data``, in document order, at most MAX_VALUES."""
        reached = [data]
        for step in self.steps:
            reached = _advance(reached, step)
        return reached

    def __str__(self) -> str:
        return self.text


def _advance(values: list[Any], step: Step) -> list[Any]:
    reached: list[Any] = []
    for value in values:
        if isinstance(step, Key):
            if isinstance(value, Mapping) and step.name in value:
                reached.append(value[step.name])
        elif isinstance(value, list | tuple):
            if isinstance(step, Each):
                reached.extend(value[: MAX_VALUES - len(reached)])
            elif step.position < len(value):
                reached.append(value[step.position])
        if len(reached) >= MAX_VALUES:
            break
    return reached


def parse_path(text: object, at: str) -> Path:
    """A path: dot-separated names, ``[N]`` and ``[*]``; InvalidWorkflow at ``at``."""
    if not isinstance(text, str) or not text:
        raise _bad_path(at, "must be a non-empty string")
    if len(text) > MAX_PATH:
        raise _bad_path(at, f"is {len(text)} characters long; the limit is {MAX_PATH}")
    first = _NAME.match(text)
    if first is None:
        raise _bad_path(at, f"{text!r} must start with a name")
    steps: list[Step] = [Key(first.group())]
    position = first.end()
    while position < len(text):
        match = _NEXT.match(text, position)
        if match is None:
            raise _bad_path(at, f"{text!r} is not a path (at character {position + 1})")
        steps.append(_step_of(match))
        position = match.end()
    if len(steps) > MAX_STEPS:
        raise _bad_path(at, f"has {len(steps)} steps; the limit is {MAX_STEPS}")
    return Path(text, tuple(steps))


def _step_of(match: re.Match[str]) -> Step:
    name, index = match.group(1), match.group(2)
    if name is not None:
        return Key(name)
    return Each() if index == "*" else Index(int(index))


def _bad_path(at: str, problem: str) -> InvalidWorkflow:
    return InvalidWorkflow(
        f"{at} {problem}; a path is names joined by dots, with [N] for an array's element and "
        '[*] for all of them, e.g. "product.price" or "products[*].productId"',
        field=at,
    )
