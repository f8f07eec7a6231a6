"""Wire shapes of the event API (msgspec structs: unknown fields are ignored)."""

from __future__ import annotations

from typing import Any

import msgspec


class Param(msgspec.Struct):
    name: str
    value: Any


class EventBody(msgspec.Struct):
    """Generate event v1/v2: ``{eventTypeKey, keyValue, params}``."""

    eventTypeKey: str  # noqa: N815 - wire name
    keyValue: str | int | None = None  # noqa: N815
    params: list[Param] | None = None


class PastEventBody(EventBody):
    occurred: str | None = None


class PastEventsBody(msgspec.Struct):
    events: list[msgspec.Raw]


class OrdersBody(msgspec.Struct):
    orders: list[msgspec.Raw]
