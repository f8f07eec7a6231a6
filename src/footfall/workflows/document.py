"""The shape of a workflow document: a start, optional stop conditions, blocks and the edges
between them. msgspec checks the shape (types, required and unknown fields); the rules between
fields are checked in ``definitions``.
"""

from __future__ import annotations

from typing import Any

import msgspec

__all__ = [
    "BRANCHES",
    "OPTIONAL_BRANCHES",
    "AnyBlock",
    "Block",
    "ConditionBlock",
    "ContactDate",
    "Document",
    "Edge",
    "Emit",
    "End",
    "Goal",
    "Hours",
    "Http",
    "HttpAuth",
    "SetField",
    "Split",
    "Start",
    "Stop",
    "Timer",
    "Until",
    "WaitEvent",
]


class _Shape(msgspec.Struct, rename="camel", forbid_unknown_fields=True, kw_only=True):
    pass


class ContactDate(_Shape, kw_only=True):
    """Start on a date held by a contact field (a birthday): ``daysBefore`` it, at ``at`` in the
    contact's time zone (the workspace's when the contact has none)."""

    field: str
    days_before: int = 0
    at: str = "09:00"


class Start(_Shape, kw_only=True):
    """What starts a run: an event of type ``event`` matching ``when``, or a contact date."""

    event: str | None = None
    when: Any = None
    contact_date: ContactDate | None = None
    repeat: str = "everyTime"  # everyTime, oncePerContact, oncePerPeriod (with ``period``)
    period: str | None = None
    not_while_active: bool = False  # no new run for a contact while one of its runs is active


class Stop(_Shape, kw_only=True):
    """Events that end a run: of these types, for the run's contact, and (with ``matchParam``)
    carrying the starting event's value at that path (at ``stopParam`` in the stop event, when it
    is named differently there); ``lookBack`` also counts such events that came before the start."""

    events: list[str]
    match_param: str | None = None
    stop_param: str | None = None
    look_back: str | None = None


class Hours(_Shape, kw_only=True):
    """A daily window of local time; ``to`` before ``from`` spans midnight."""

    from_: str = msgspec.field(name="from")
    to: str


class Until(_Shape, kw_only=True):
    """The next ``time`` of day (on one of ``weekdays``, when given: "mon" … "sun")."""

    time: str
    weekdays: list[str] | None = None


class HttpAuth(_Shape, kw_only=True):
    username: str | None = None
    password: str | None = None
    bearer: str | None = None


class Block(_Shape, tag_field="type", kw_only=True):
    id: str


class Timer(Block, tag="timer", kw_only=True):
    """Wait ``delay``, then (optionally) until a time of day, a date in an event parameter, or a
    date in a contact field."""

    delay: str | None = None
    until: Until | None = None
    until_param: str | None = None
    until_contact: str | None = None
    offset: str | None = None  # before the date of untilParam/untilContact
    time_zone: str = "contact"  # contact (else the workspace's) or workspace


class WaitEvent(Block, tag="waitEvent", kw_only=True):
    """Wait for an event of type ``event`` for this run's contact (matching ``when`` and, with
    ``matchParam``, the starting event's value there), up to ``timeout``."""

    event: str
    when: Any = None
    match_param: str | None = None
    timeout: str


class ConditionBlock(Block, tag="condition", kw_only=True):
    when: Any


class Split(Block, tag="split", kw_only=True):
    """Random but fixed per contact: each branch (a name) taken in proportion to its weight."""

    weights: dict[str, int]


class Goal(Block, tag="goal", kw_only=True):
    """Counts a conversion when an event of type ``event`` comes within ``within``; runs on."""

    event: str
    when: Any = None
    match_param: str | None = None
    within: str


class Http(Block, tag="http", kw_only=True):
    url: str
    method: str = "POST"
    headers: dict[str, str] = msgspec.field(default_factory=dict)
    body: Any = None
    auth: HttpAuth | None = None
    timeout: str = "10s"
    retries: int = 3
    allowed_hours: Hours | bool | None = None  # a window of its own, or false: any time


class Emit(Block, tag="emit", kw_only=True):
    """Record an event for the run's contact (its key defaults to the starting event's)."""

    event: str
    key_value: str | None = None
    params: Any = None
    allowed_hours: Hours | bool | None = None


class SetField(Block, tag="setField", kw_only=True):
    field: str
    value: Any
    allowed_hours: Hours | bool | None = None


class End(Block, tag="end", kw_only=True):
    pass


AnyBlock = Timer | WaitEvent | ConditionBlock | Split | Goal | Http | Emit | SetField | End


class Edge(_Shape, kw_only=True):
    """From ``from`` ("start" or a block's id), on its branch ``on``, to the block ``to``."""

    from_: str = msgspec.field(name="from")
    to: str
    on: str = "next"


class Document(_Shape, kw_only=True):
    name: str
    description: str = ""
    start: Start
    stop: Stop | None = None
    blocks: list[AnyBlock]
    edges: list[Edge]


# Each block type's branches, in the order they are described; "start" has one, "next".
BRANCHES: dict[type[Block], tuple[str, ...]] = {
    Timer: ("next",),
    WaitEvent: ("event", "timeout"),
    ConditionBlock: ("yes", "no"),
    Goal: ("next",),
    Http: ("next", "failed"),
    Emit: ("next",),
    SetField: ("next",),
    End: (),
}
OPTIONAL_BRANCHES = frozenset({"failed"})  # without its edge, a failed request fails the run
