"""Generate event v1/v2 bodies to NewEvent: decoding, eSputnik's limits, standard rules, locators."""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any, TypeVar

import msgspec

from footfall.decoding import ANY, MAX_DEPTH, decode_json, deeper_than, may_nest_deeper
from footfall.exceptions import InvalidEvent, MalformedBody, NoLocator, TooDeep
from footfall.identity.locators import locate
from footfall.identity.normalize import has_nul
from footfall.ingest.models import EventBody, Param
from footfall.ingest.standard import RULES, validate_standard
from footfall.records import NewEvent

if TYPE_CHECKING:
    from footfall.eventtypes.rules import RuleLookup

T = TypeVar("T")

MAX_TYPE_KEY = 100
MAX_KEY_VALUE = 300
MAX_PARAM_NAME = 100
FORBIDDEN = frozenset("<;\u2019\\/|\"`'^?!,>\x00")  # the spec's list, and NUL
_TRAILING_JUNK = frozenset("]} \t\r\n")

_event_decoder = msgspec.json.Decoder(EventBody)
_encoder = msgspec.json.Encoder()


def decode(
    body: bytes | str | msgspec.Raw, decoder: msgspec.json.Decoder[T], what: str = "body"
) -> T:
    """Decode JSON into a wire struct: a wrong shape is an InvalidEvent, anything else that stops
    the decoder (nesting too deep included) a MalformedBody."""

    def invalid(exc: msgspec.ValidationError) -> InvalidEvent:
        return InvalidEvent(f"invalid {what}: {exc}")

    return decode_json(body, decoder, invalid, what)


def _forbidden(value: str) -> str | None:
    if FORBIDDEN.isdisjoint(value):
        return None
    return next(char for char in value if char in FORBIDDEN)


def check_type_key(key: str) -> None:
    if not key.strip():
        raise InvalidEvent("eventTypeKey must not be empty", field="eventTypeKey")
    if len(key) > MAX_TYPE_KEY:
        raise InvalidEvent(
            f"eventTypeKey is {len(key)} characters long; the limit is {MAX_TYPE_KEY}",
            field="eventTypeKey",
        )
    char = _forbidden(key)
    if char is not None:
        raise InvalidEvent(
            f"eventTypeKey must not contain {char!r} (forbidden: < ; \u2019 \\ / | \" ` ' ^ ? ! , >)",
            field="eventTypeKey",
        )


def check_key_value(key: str, field: str = "keyValue") -> None:
    if len(key) > MAX_KEY_VALUE:
        raise InvalidEvent(
            f"{field} is {len(key)} characters long; the limit is {MAX_KEY_VALUE}", field=field
        )
    char = _forbidden(key)
    if char is not None:
        raise InvalidEvent(
            f"{field} must not contain {char!r} (forbidden: < ; \u2019 \\ / | \" ` ' ^ ? ! , >)",
            field=field,
        )


class _NotANumber(ValueError):
    """NaN, Infinity or a number beyond a double (``1e999``): not JSON, whatever JavaScript says."""


def _refuse_constant(name: str) -> Any:
    raise _NotANumber(name)


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise _NotANumber(text)
    return number


# For what msgspec refuses: JSON followed by stray brackets, read as strictly as JSON is.
_LENIENT = json.JSONDecoder(parse_constant=_refuse_constant, parse_float=_finite)


def parse_embedded(value: str, name: str) -> Any:
    """JSON held inside a string value (``"{\\"productId\\": …}"``) decoded; other strings as they are.

    A value with stray closing brackets after the JSON (as in eSputnik's own productViewed example) is
    read up to the end of its first JSON value. NaN, Infinity and out-of-range numbers are refused
    (InvalidEvent), as the JSON standard does, instead of being stored as nulls.
    """
    text = value.strip()
    if not text or text[0] not in "{[":
        return value
    try:
        return decode(text, ANY)
    except MalformedBody:
        pass
    except InvalidEvent as exc:  # a number out of range
        raise InvalidEvent(
            f"param '{name}' holds JSON that is not valid: {exc}", field=name
        ) from None
    try:
        parsed, end = _LENIENT.raw_decode(text)
    except _NotANumber as exc:
        raise InvalidEvent(
            f"param '{name}' holds JSON with {str(exc)[:40]!r}, which is not a JSON number "
            "(NaN, Infinity and numbers beyond 1.8e308 are not allowed)",
            field=name,
        ) from None
    except (ValueError, RecursionError):
        return value
    return parsed if set(text[end:]) <= _TRAILING_JUNK else value


def _v1_value(param: Param) -> str:
    value = param.value
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, bool | int | float):
        return json.dumps(value)
    raise InvalidEvent(
        f"param '{param.name}': in /api/v1/event values must be strings; send nested JSON as an "
        "escaped string, or use /api/v2/event",
        field=param.name,
    )


def normalize_params(params: list[Param], version: int, raw: str | None = None) -> list[Param]:
    """Check names and decode embedded JSON; v1 values must be strings. ``raw``, the JSON the
    params were decoded from, spares measuring their depth when it has too few brackets."""
    shallow = raw is not None and not may_nest_deeper(raw)
    seen: set[str] = set()
    for param in params:
        name = param.name
        if not name.strip():
            raise InvalidEvent("every param needs a non-empty name", field="params")
        if len(name) > MAX_PARAM_NAME:
            raise InvalidEvent(
                f"param name {name[:20]!r}… is {len(name)} characters long; the limit is "
                f"{MAX_PARAM_NAME}",
                field=name,
            )
        if name in seen:
            raise InvalidEvent(f"param '{name}' appears more than once", field=name)
        seen.add(name)
        value = _v1_value(param) if version == 1 else param.value
        measured = shallow
        if isinstance(value, str):
            measured = not may_nest_deeper(value)
            value = parse_embedded(value, name)
        if not measured and deeper_than(value):
            raise TooDeep(
                f"param '{name}' nests objects and arrays more than {MAX_DEPTH} levels deep",
                field=name,
            )
        param.value = value
    return params


def refuse_nul(raw: str) -> None:
    """PostgreSQL cannot store NUL characters in text; refuse them on every backend alike."""
    if "\\u0000" in raw and has_nul(decode(raw, ANY)):
        raise InvalidEvent("the body must not contain NUL characters (\\u0000)")


def _params_json(params: list[Param]) -> str:
    """The parsed params as stored (JSONB on PostgreSQL: no NUL, no lone surrogates)."""
    try:
        encoded = _encoder.encode(params).decode()
    except UnicodeEncodeError:
        raise InvalidEvent(
            "params contain an invalid Unicode character (a lone surrogate)"
        ) from None
    refuse_nul(encoded)
    return encoded


def storable(text: str) -> str:
    """Text both backends can store and JSON can carry: no NUL, no lone surrogate."""
    return text.replace("\x00", "\ufffd").encode("utf-8", "replace").decode("utf-8")


def json_type(value: Any) -> str:
    """The JSON type name of a decoded value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def typed_params(
    event_type_key: str,
    params: list[Param],
    version: int,
    workspace_id: int,
    rules: RuleLookup | None = None,
    raw: str | None = None,
) -> list[Param]:
    """An event's params checked as its type asks: names and embedded JSON, a standard type's
    built-in rule, then the workspace's own rules of the type (required params, JSON Schema).
    Every event stored goes through it: sent to the API, replayed, or emitted by a workflow."""
    check_type_key(event_type_key)
    params = normalize_params(params, version, raw)
    if event_type_key in RULES:
        by_name = {param.name: param.value for param in params}
        validate_standard(event_type_key, by_name)
        if event_type_key == "searchRequest" and by_name.get("isFound") is None:
            params = [p for p in params if p.name != "isFound"] + [Param("isFound", 0)]
    if rules is not None:
        type_rules = rules(workspace_id, event_type_key)
        if type_rules is not None:
            type_rules.check(event_type_key, params)
    return params


def build_event(
    body: EventBody,
    raw: str,
    *,
    version: int,
    workspace_id: int,
    occurred_us: int,
    received_us: int,
    source: str,
    rules: RuleLookup | None = None,
) -> NewEvent:
    """Validate a decoded event body and turn it into a NewEvent.

    ``rules`` gives the operator's rules of a type (required params, JSON Schema), if any.
    """
    params = typed_params(body.eventTypeKey, body.params or [], version, workspace_id, rules, raw)
    located = locate((param.name, param.value) for param in params)
    key = body.keyValue
    if isinstance(key, int):
        key = str(key)
    if key is not None and key.strip():
        check_key_value(key)
    elif located.derived_key is not None:
        key = located.derived_key[:MAX_KEY_VALUE]
    else:
        detail = "; ".join(located.problems)
        raise NoLocator(
            "keyValue is missing and no param identifies the contact (send keyValue, or one of "
            "contactId, externalCustomerId, email, phone, pushToken, or a visitor id: webId)"
            + (f": {detail}" if detail else ""),
            field="keyValue",
        )
    return NewEvent(
        workspace_id=workspace_id,
        event_type_key=body.eventTypeKey,
        key_value=key,
        params_json=_params_json(params),
        raw=raw,
        source=source,
        occurred_us=occurred_us,
        received_us=received_us,
        locators=located.locators,
        shape=tuple((param.name, json_type(param.value)) for param in params),
    )


def parse_event(
    body: bytes,
    *,
    version: int,
    workspace_id: int,
    received_us: int,
    rules: RuleLookup | None = None,
    occurred_us: int | None = None,
) -> NewEvent:
    """A live Generate event request body to a NewEvent (occurred = received, unless given)."""
    decoded: EventBody = decode(body, _event_decoder)
    try:
        raw = body.decode()
    except UnicodeDecodeError:  # pragma: no cover - msgspec already rejects invalid UTF-8
        raise MalformedBody("the body is not UTF-8") from None
    return build_event(
        decoded,
        raw,
        version=version,
        workspace_id=workspace_id,
        occurred_us=received_us if occurred_us is None else occurred_us,
        received_us=received_us,
        source="live",
        rules=rules,
    )
