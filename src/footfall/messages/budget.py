"""What one render of a message template may spend: CPU time, steps and characters written.

Template code is a program its author wrote, run for every message, so each render is bounded
however the template and its data are made: loops nested over a large list, a macro that calls
itself, output that doubles. ``Budget`` is the account of one render; the engines charge it
(Jinja2 through a trace function on the rendering thread that counts the Python lines the
template runs; Velocity at every block it evaluates and every string it builds) and it raises
``Spent`` when a bound is passed. ``Spent`` is a ``BaseException``, so that no ``except
Exception`` in an engine or a filter can swallow it.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from types import FrameType
from typing import Any, TypeVar

__all__ = [
    "MAX_BITS",
    "MAX_CPU_SECONDS",
    "MAX_MADE",
    "MAX_OUTPUT",
    "MAX_STEPS",
    "Budget",
    "Spent",
    "check_product",
    "traced",
]

T = TypeVar("T")
MAX_STEPS = 2_000_000  # Python lines (Jinja2) or blocks x 20 (Velocity) one render may run
MAX_CPU_SECONDS = 1.0  # of this thread's CPU time, one render
MAX_OUTPUT = 1_048_576  # characters one part renders to, or one string a template builds
MAX_MADE = 8 * 1_048_576  # characters of all the values one render makes (joins, strings...)
MAX_BITS = 512  # of an integer a multiplication makes (a number squared in a loop grows forever)
_CLOCK_EVERY = 1_000  # steps between two readings of the CPU clock


class Spent(BaseException):
    """A render passed one of its bounds (the message says which)."""


class Budget:
    """One render's account: ``charge`` for each step, ``written`` for each string made."""

    def __init__(
        self,
        steps: int = MAX_STEPS,
        cpu_seconds: float = MAX_CPU_SECONDS,
        output: int = MAX_OUTPUT,
    ) -> None:
        self.left = steps
        self.output = output
        self.made_left = MAX_MADE
        self._until = time.thread_time() + cpu_seconds
        self._clock_in = _CLOCK_EVERY

    def charge(self, steps: int = 1) -> None:
        self.left -= steps
        if self.left < 0:
            raise Spent("the template runs too many steps (a loop or a macro that does not end)")
        self._clock_in -= steps
        if self._clock_in <= 0:
            self._clock_in = _CLOCK_EVERY
            if time.thread_time() > self._until:
                raise Spent("the template takes too long to render")

    def made(self, size: int) -> None:
        """A value of ``size`` characters was made: what a render keeps is bounded in all."""
        self.made_left -= size
        if self.made_left < 0:
            raise Spent(f"the template makes more than {MAX_MADE} characters of values")

    def written(self, size: int) -> None:
        """A string of ``size`` characters was made: refused beyond ``output``."""
        if size > self.output:
            raise Spent(f"the template renders more than {self.output} characters")


def check_product(left: float, right: float) -> None:
    """Spent when ``left * right`` would be an integer of more than MAX_BITS bits."""
    if _bits(left) + _bits(right) > MAX_BITS:
        raise Spent(f"a product of more than {MAX_BITS} bits")


def _bits(number: float) -> int:
    return number.bit_length() if isinstance(number, int) else 0


def traced(budget: Budget, render: Callable[[], T]) -> T:
    """``render()`` with every Python line it runs on this thread charged to ``budget``."""

    def line(frame: FrameType, event: str, arg: Any) -> Any:
        if event == "line":
            budget.charge()
        return line

    def call(frame: FrameType, event: str, arg: Any) -> Any:
        budget.charge()
        return line

    previous = sys.gettrace()
    sys.settrace(call)
    try:
        return render()
    finally:
        sys.settrace(previous)
