"""Query parameters every route family shares (integers, times, limits, cursors), the one paging
helper of the paged listings, and the body reader of the JSON calls."""

from __future__ import annotations

import base64
import contextlib
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Annotated, TypeVar

import msgspec
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from footfall.exceptions import InvalidQuery
from footfall.ingest.dates import LATEST, parse_iso, to_us
from footfall.web.asgi import read_body
from footfall.web.services import services

__all__ = [
    "MAX_ID",
    "NEXT_BEFORE",
    "NEXT_CURSOR",
    "PAGE_BEFORE",
    "PAGE_CURSOR",
    "Id",
    "Params",
    "decode_cursor",
    "decode_key_cursor",
    "encode_cursor",
    "encode_key_cursor",
    "integer",
    "limit",
    "moment",
    "page",
    "request_body",
    "text",
    "truth",
    "whole_number",
]

T = TypeVar("T")
Params = Mapping[str, str]
MAX_ID = 2**63 - 1
MAX_DIGITS = len(str(MAX_ID))
Id = Annotated[int, msgspec.Meta(ge=1, le=MAX_ID)]  # a row id, as documented
# Listings by row id page by ``before``: the id of the last row, in this header.
NEXT_BEFORE = "X-Next-Before"
PAGE_BEFORE = "pass as before for the next page; absent on the last page"
# Other listings page by an opaque ``cursor``, given out in this header.
NEXT_CURSOR = "X-Next-Cursor"
PAGE_CURSOR = "pass as cursor for the next page; absent on the last page"


def text(params: Params, name: str) -> str | None:
    """A text filter, None when empty. NUL is refused: PostgreSQL cannot compare it, so neither
    backend accepts it."""
    value = params.get(name)
    if not value:
        return None
    if "\x00" in value:
        raise InvalidQuery(f"{name} must not contain a NUL character")
    return value


def whole_number(given: str, name: str, least: int = 0) -> int:
    """Decimal digits as an integer from ``least`` up to what the database's 64-bit columns hold.

    The length is checked before ``int()``: past about 4,300 digits Python refuses to convert
    (a ValueError, which would be a 500), and past 19 no value fits anyway.
    """
    digits = given.isascii() and given.isdigit() and len(given) <= MAX_DIGITS
    if not digits or not least <= int(given) <= MAX_ID:
        shown = repr(given) if len(given) <= 40 else f"{given[:20]!r}… ({len(given)} characters)"
        raise InvalidQuery(f"{name} must be an integer from {least} to {MAX_ID}, got {shown}")
    return int(given)


def integer(params: Params, name: str, default: int | None = None) -> int | None:
    """A non-negative integer query parameter that fits the database's 64-bit columns."""
    given = params.get(name)
    if given is None or given == "":
        return default
    return whole_number(given, name)


def limit(params: Params, name: str, default: int, most: int, least: int = 1) -> int:
    value = integer(params, name, default)
    assert value is not None
    if not least <= value <= most:
        raise InvalidQuery(f"{name} must be between {least} and {most}, got {value}")
    return value


def moment(params: Params, name: str) -> int | None:
    """A time bound in microseconds; a plain date as ``to`` includes that whole day."""
    given = params.get(name)
    if given is None or given == "":
        return None
    parsed = parse_iso(given)
    if parsed is None:
        raise InvalidQuery(f"{name} must be an ISO 8601 date or date-time, got {given!r}")
    if name == "to" and len(given) == len("YYYY-MM-DD"):
        if parsed >= LATEST:
            return MAX_ID
        return to_us(parsed + timedelta(days=1)) - 1
    return to_us(parsed)


def truth(params: Params, name: str, default: bool | None = None) -> bool | None:
    """``true``/``false`` (also ``1``/``0``); empty or absent is ``default``."""
    given = (params.get(name) or "").strip().lower()
    if given == "":
        return default
    if given not in ("true", "false", "1", "0"):
        raise InvalidQuery(f"{name} must be true or false, got {given!r}")
    return given in ("true", "1")


def encode_cursor(occurred_us: int, event_id: int) -> str:
    return base64.urlsafe_b64encode(f"{occurred_us}:{event_id}".encode()).decode()


def decode_cursor(text: str) -> tuple[int, int]:
    """The (occurred_us, id) position an ``X-Next-Cursor`` header gave out."""
    try:
        occurred, _, event_id = base64.urlsafe_b64decode(text.encode()).decode().partition(":")
        position = int(occurred), int(event_id)
    except ValueError:  # binascii.Error and UnicodeError (a lone surrogate, say) among them
        position = (-1, -1)
    if not all(0 <= part <= MAX_ID for part in position):
        raise InvalidQuery(f"cursor {text!r} is not a cursor this API returned")
    return position


def encode_key_cursor(key: str) -> str:
    """The position after ``key`` in a listing by key (any text: a header carries it as base64)."""
    return base64.urlsafe_b64encode(key.encode()).decode()


def decode_key_cursor(text: str) -> str:
    """The key an ``X-Next-Cursor`` header of a listing by key gave out."""
    key = ""
    if len(text) <= 1000:
        with contextlib.suppress(ValueError):  # binascii.Error and UnicodeError among them
            key = base64.urlsafe_b64decode(text.encode()).decode()
    if not key or "\x00" in key:
        shown = repr(text) if len(text) <= 40 else f"{text[:20]!r}… ({len(text)} characters)"
        raise InvalidQuery(f"cursor {shown} is not a cursor this API returned")
    return key


async def page(
    fetch: Callable[[int], list[T]], size: int, header: str, mark: Callable[[T], str]
) -> tuple[list[T], dict[str, str]]:
    """One page, newest first, and the header that asks for the next one, if there is one.

    ``fetch(n)`` reads up to n rows (in a thread): one row more than asked says there is more.
    """
    rows = await run_in_threadpool(fetch, size + 1)
    if len(rows) <= size:
        return rows, {}
    rows = rows[:size]
    return rows, {header: mark(rows[-1])}


async def request_body(request: Request) -> bytes:
    """The body of a JSON API call, up to the batch body limit (413 beyond)."""
    settings = services(request).settings
    headers = dict(request.scope["headers"])
    return await read_body(request.receive, headers, settings.max_batch_body_bytes)
