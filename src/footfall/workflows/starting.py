"""Whether an event starts a run of a workflow, and whether an event stops one: pure rules over
what the store found (the contact's fields, its earlier runs, the events before the start).

Only events as they happen start, stop or wake runs: live ones, and orders dated within a day of
their arrival (the engine also takes an order event that changes its order's status as news,
whatever its date). Past events, replayed failures, imports and a sync of old orders never do,
since a reminder about last year's cart helps nobody.

A stop event matches a run when it is of one of the stop types, for the run's contact, and, with
``matchParam``, carries one of the values the starting event had there (values that spell the
same number match: 42, "42" and "42.0"; other text compares exactly). ``match_keys`` turns those values into text the
store can index, so a run is found by its key without reading every run of the contact.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from footfall.ingest.dates import moment_of, to_us
from footfall.workflows.conditions import Facts, evaluate
from footfall.workflows.durations import parse_duration
from footfall.workflows.paths import Path
from footfall.workflows.plan import Plan

__all__ = [
    "FRESH_ORDER_US",
    "STARTING_SOURCES",
    "Decision",
    "Earlier",
    "happening",
    "match_keys",
    "may_start",
    "may_start_on_date",
    "redundant",
    "stops",
]

STARTING_SOURCES = frozenset({"live", "order", "workflow"})  # "workflow": emitted by a run
FRESH_ORDER_US = 24 * 3_600_000_000  # an order dated longer before it arrived is a sync of history
MAX_KEY = 300  # characters of a value used as a match key; longer ones are cut
MAX_KEYS = 20  # match keys kept per run or per event
_NUMERIC = re.compile(r"[+-]?\d+(?:\.\d+)?(?:[eE][+-]?\d{1,4})?")


@dataclass(frozen=True, slots=True)
class Earlier:
    """What the store knows of the contact's runs of this workflow."""

    last_start_us: int | None = None  # its latest run's start, if any
    active: int = 0  # its runs still going (running or waiting)


@dataclass(frozen=True, slots=True)
class Decision:
    start: bool
    reason: str  # why not (or "started")


def happening(source: str, occurred_us: int, received_us: int) -> bool:
    """Whether an event is news (it may start, stop or wake runs), not history."""
    if source == "order":
        return received_us - occurred_us <= FRESH_ORDER_US
    return source in STARTING_SOURCES


def may_start(
    plan: Plan,
    *,
    event_type: str,
    source: str,
    params: Any,
    contact: Mapping[str, Any],
    earlier: Earlier,
    now_us: int,
    occurred_us: int | None = None,
) -> Decision:
    """Whether this event starts a run for its contact (which the caller has found);
    ``occurred_us`` None: the event occurred as it arrived (``now_us``)."""
    start = plan.definition.document.start
    if start.event != event_type:
        return Decision(False, "another event type")
    if source not in STARTING_SOURCES:
        return Decision(False, f"{source} events never start runs")
    if not happening(source, now_us if occurred_us is None else occurred_us, now_us):
        return Decision(False, "an order dated more than a day before it arrived")
    if plan.start_when is not None and not evaluate(plan.start_when, Facts(params, contact)):
        return Decision(False, "the start conditions do not hold")
    if start.not_while_active and earlier.active:
        return Decision(False, "a run for this contact is active")
    return _repeat(plan, earlier, now_us)


def _repeat(plan: Plan, earlier: Earlier, now_us: int) -> Decision:
    start = plan.definition.document.start
    if earlier.last_start_us is None or start.repeat == "everyTime":
        return Decision(True, "started")
    if start.repeat == "oncePerContact":
        return Decision(False, "it starts once per contact")
    assert start.period is not None  # checked with the document
    period = parse_duration(start.period, "start.period", least_seconds=60)
    last = moment_of(earlier.last_start_us)
    next_allowed = to_us(period.after(last))
    if now_us < next_allowed:
        return Decision(False, f"it starts at most once per {period} for a contact")
    return Decision(True, "started")


def redundant(plan: Plan, started: list[tuple[int, int]]) -> list[int]:
    """Of one workflow's runs going for one contact (``(started_us, run id)``, as a merge of two
    contacts leaves them), the ids its start's policy would not have let start: all but the
    earliest under notWhileActive or oncePerContact, and under oncePerPeriod each one started
    within the period after the one kept before it."""
    start = plan.definition.document.start
    ordered = sorted(started)
    if start.not_while_active or start.repeat == "oncePerContact":
        return [run for _, run in ordered[1:]]
    if start.repeat != "oncePerPeriod" or start.period is None:
        return []
    period = parse_duration(start.period, "start.period", least_seconds=60)
    kept, extra = ordered[0][0], []
    for at, run in ordered[1:]:
        if at < to_us(period.after(moment_of(kept))):
            extra.append(run)
        else:
            kept = at
    return extra


def stops(plan: Plan, *, event_type: str, params: Any, run_keys: Iterable[str] | None) -> bool:
    """Whether an event of the run's contact stops the run (``run_keys``: the run's match keys,
    None when the workflow matches by contact alone)."""
    if event_type not in plan.stop_events:
        return False
    if plan.stop_path is None or run_keys is None:
        return True
    return bool(set(run_keys) & set(match_keys(plan.stop_path, params)))


def match_keys(path: Path, params: Any) -> list[str]:
    """The values ``path`` reaches in ``params`` as comparable text: a number (or a string that
    spells one) as its normalised digits, other scalars as themselves; objects and arrays have
    none. At most MAX_KEYS, each at most MAX_KEY characters."""
    keys: list[str] = []
    for value in path.values(params):
        key = _key(value)
        if key is not None and key not in keys:
            keys.append(key[:MAX_KEY])
        if len(keys) >= MAX_KEYS:
            break
    return keys


def _key(value: Any) -> str | None:
    if isinstance(value, bool):
        return f"b:{str(value).lower()}"
    if isinstance(value, int | float):
        return _number_key(repr(value)) if math.isfinite(value) else None
    if isinstance(value, str):
        if value in ("true", "false"):
            return f"b:{value}"
        return _number_key(value) or f"s:{value}"
    return None


def _number_key(text: str) -> str | None:
    """``n:`` and the number's canonical digits when ``text`` spells a number as the conditions
    read one (a sign, digits, a fraction, an exponent of at most 4 digits: "007", "-3", "1e3")."""
    if len(text) > 100 or _NUMERIC.fullmatch(text) is None:
        return None
    number = Decimal(text)
    return "n:0" if number == 0 else f"n:{number.normalize()}"


def may_start_on_date(
    plan: Plan, *, contact: Mapping[str, Any], earlier: Earlier, now_us: int
) -> Decision:
    """Whether a contact whose date falls due at ``now_us`` starts a run of a workflow started
    by a contact date: its conditions (on contact fields), notWhileActive, the repeat policy."""
    if plan.definition.document.start.contact_date is None:
        return Decision(False, "it starts on an event")
    if plan.start_when is not None and not evaluate(plan.start_when, Facts(None, contact)):
        return Decision(False, "the start conditions do not hold")
    if plan.definition.document.start.not_while_active and earlier.active:
        return Decision(False, "a run for this contact is active")
    return _repeat(plan, earlier, now_us)
