"""JSON from clients decoded into wire structs, every way it can fail turned into a FootfallError.

msgspec stops at Python's recursion limit on a body nested about 1,000 deep: that is the client's
malformed input, refused like any other (a 400, and a failed-event log entry where the route keeps
one), not a server error.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import msgspec

from footfall.exceptions import FootfallError, MalformedBody

__all__ = ["ANY", "MAX_DEPTH", "Refusal", "decode_json", "deeper_than", "may_nest_deeper"]

# How deeply a stored JSON value may nest (objects and arrays): far beyond any real payload, far
# below what any reader's recursion would trip over.
MAX_DEPTH = 64

T = TypeVar("T")
# The error for a body that is JSON but not the shape asked for (InvalidEvent, InvalidContact…).
Refusal = Callable[[msgspec.ValidationError], FootfallError]
ANY: msgspec.json.Decoder[Any] = msgspec.json.Decoder()


def decode_json(
    body: bytes | str | msgspec.Raw, decoder: msgspec.json.Decoder[T], invalid: Refusal, what: str
) -> T:
    """``body`` decoded; ``invalid`` names the refusal of a wrong shape, ``what`` the thing
    decoded in the message of malformed JSON (``body``, ``order``, ``contacts[3]``)."""
    try:
        return decoder.decode(body)
    except msgspec.ValidationError as exc:  # a subclass of DecodeError: first
        raise invalid(exc) from None
    except msgspec.DecodeError as exc:
        raise MalformedBody(f"malformed JSON in {what}: {exc}") from None
    except RecursionError:
        raise MalformedBody(f"malformed JSON in {what}: it is nested too deeply") from None


def deeper_than(value: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether objects and arrays in ``value`` nest more than ``limit`` levels (a scalar is level
    0); iterative, so any depth is measured without recursion."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list | tuple):
            children = item
        else:
            continue
        if level + 1 > limit:
            return True
        stack.extend((child, level + 1) for child in children)
    return False


def may_nest_deeper(text: str, limit: int = MAX_DEPTH) -> bool:
    """Whether JSON ``text`` could nest more than ``limit`` levels: False, at the speed of two
    counts, when it has no more opening brackets than that (a level needs one each; brackets
    inside strings only count against it)."""
    return text.count("{") + text.count("[") > limit
