"""A workflow document checked from its shape to its graph; every refusal names the field.

``parse_definition`` is pure: the API and ``footfall workflows apply`` call it before storing.
A refusal's ``field`` is the place in the document (``blocks[2].delay``, ``edges[4].to``,
``start.when.all[0].op``) and its message names the block by its id.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, get_args

import msgspec

from footfall.decoding import deeper_than
from footfall.exceptions import InvalidEvent, InvalidWorkflow
from footfall.ingest.events import MAX_PARAM_NAME, check_type_key
from footfall.workflows.conditions import parse_condition, parse_path
from footfall.workflows.document import (
    AnyBlock,
    Block,
    ConditionBlock,
    Document,
    Emit,
    Goal,
    Hours,
    Http,
    SetField,
    Split,
    Start,
    Stop,
    Timer,
    WaitEvent,
)
from footfall.workflows.durations import parse_duration, parse_time_of_day
from footfall.workflows.graph import START, check_graph
from footfall.workflows.templates import check_json_template, check_template

__all__ = ["Definition", "Limits", "canonical", "parse_definition"]

BLOCK_ID = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")
REPEATS = ("everyTime", "oncePerContact", "oncePerPeriod")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
TIME_ZONES = ("contact", "workspace")
MAX_NAME = 200
MAX_DEPTH = 32  # objects and arrays in a document, conditions and templated bodies included
MAX_DESCRIPTION = 2000
MAX_STOP_EVENTS = 20
MAX_SPLIT_BRANCHES = 10
MAX_HEADERS = 30
MAX_RETRIES = 10
MAX_HTTP_TIMEOUT = 30
MAX_PATTERNS = 20  # regular expressions in one document
MAX_TEMPLATED = 65_536  # characters of templated values in one document
MAX_TEMPLATES = 500  # distinct templated strings (holding a "{") in one document, each compiled
MAX_EMIT_PARAMS = 100  # params of an emitted event
TEMPLATED = ("url", "headers", "body", "auth", "keyValue", "params", "value")
FORBIDDEN_HEADERS = frozenset(
    {"host", "content-length", "transfer-encoding", "connection", "idempotency-key"}
)
RESERVED = {"sendMessage": "the send-message block comes with messages; it is not available yet"}


@dataclass(frozen=True, slots=True)
class Limits:
    """Per-workspace bounds a document must keep (FOOTFALL_WORKFLOW_MAX_BLOCKS)."""

    max_blocks: int = 50


@dataclass(frozen=True, slots=True)
class Definition:
    """A checked document: ``source`` as it was given (what is stored and exported)."""

    document: Document
    source: dict[str, Any]

    @property
    def name(self) -> str:
        return self.document.name

    @property
    def start_event(self) -> str | None:
        return self.document.start.event


def canonical(source: Any) -> bytes:
    """The document's JSON with sorted keys: equal documents, equal bytes."""
    return msgspec.json.encode(source, order="sorted")


def parse_definition(source: Any, limits: Limits = Limits()) -> Definition:
    """The definition ``source`` describes; InvalidWorkflow pointing at the problem otherwise
    (its message starts with the field when it does not name it already)."""
    try:
        return _parse(source, limits)
    except InvalidWorkflow as exc:
        if exc.field and exc.field != "body" and exc.field not in exc.message:
            raise InvalidWorkflow(f"{exc.field}: {exc.message}", field=exc.field) from None
        raise


def _parse(source: Any, limits: Limits) -> Definition:
    _precheck(source, limits)
    try:
        document = msgspec.convert(source, Document)
    except msgspec.ValidationError as exc:
        raise _shape_error(exc, source) from None
    _check_name(document)
    _check_start(document.start)
    if document.stop is not None:
        _check_stop(document.stop)
        if document.start.event is None and document.stop.match_param is not None:
            raise InvalidWorkflow(
                "stop.matchParam: a workflow started by a contact date has no starting event "
                "to match",
                field="stop.matchParam",
            )
    for index, block in enumerate(document.blocks):
        _check_block(block, f"blocks[{index}]")
        _check_against_start(document, block, f"blocks[{index}]")
    check_graph(document)
    return Definition(document, source)


# -- before the shape: what must hold for the rest to be checked at a bounded cost --------------


def _precheck(source: Any, limits: Limits) -> None:
    if not isinstance(source, dict):
        raise InvalidWorkflow("a workflow must be a JSON object", field="body")
    if deeper_than(source, MAX_DEPTH):
        raise InvalidWorkflow(
            f"the document nests objects and arrays more than {MAX_DEPTH} levels deep",
            field="body",
        )
    blocks = source.get("blocks")
    if not isinstance(blocks, list) or not blocks:
        raise InvalidWorkflow("blocks must be a non-empty list of blocks", field="blocks")
    if len(blocks) > limits.max_blocks:
        raise InvalidWorkflow(
            f"a workflow has at most {limits.max_blocks} blocks (FOOTFALL_WORKFLOW_MAX_BLOCKS); "
            f"this one has {len(blocks)}",
            field="blocks",
        )
    edges = source.get("edges")
    if isinstance(edges, list) and len(edges) > (MAX_SPLIT_BRANCHES + 1) * len(blocks):
        raise InvalidWorkflow("more edges than the blocks have branches", field="edges")
    for index, block in enumerate(blocks):
        kind = block.get("type") if isinstance(block, dict) else None
        if isinstance(kind, str) and kind in RESERVED:
            raise InvalidWorkflow(
                f"blocks[{index}].type: {RESERVED[kind]}", field=f"blocks[{index}].type"
            )
    patterns = sum(1 for _ in _pattern_leaves(source))
    if patterns > MAX_PATTERNS:
        raise InvalidWorkflow(
            f"a workflow has at most {MAX_PATTERNS} matches/notMatches conditions (each regular "
            f"expression costs its compilation); this one has {patterns}",
            field="body",
        )
    templated = sum(len(text) for text in _block_strings(blocks))
    if templated > MAX_TEMPLATED:
        raise InvalidWorkflow(
            f"the blocks' templated values hold {templated} characters in all; the limit is "
            f"{MAX_TEMPLATED}",
            field="blocks",
        )
    templates = len({text for text in _block_strings(blocks) if "{" in text})
    if templates > MAX_TEMPLATES:
        raise InvalidWorkflow(
            f"the blocks hold {templates} different templated strings; the limit is "
            f"{MAX_TEMPLATES} (each is compiled, when saved and by every worker)",
            field="blocks",
        )


def _pattern_leaves(value: Any) -> Iterator[Any]:
    """Every condition leaf of a document that runs a regular expression (depth is bounded)."""
    if isinstance(value, dict):
        if value.get("op") in ("matches", "notMatches"):
            yield value
        for item in value.values():
            yield from _pattern_leaves(item)
    elif isinstance(value, list):
        for item in value:
            yield from _pattern_leaves(item)


def _block_strings(blocks: list[Any]) -> Iterator[str]:
    """The strings (keys too) of the blocks' templated fields, as given."""
    for block in blocks:
        if not isinstance(block, dict):
            continue
        for name in TEMPLATED:
            yield from _strings_of(block.get(name))


def _strings_of(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from _strings_of(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings_of(item)


_AT = re.compile(r" - at `\$(.*)`$")
_FIELD = re.compile(r"field `([^`]+)`")


def _shape_error(exc: msgspec.ValidationError, source: dict[str, Any]) -> InvalidWorkflow:
    """msgspec's message with its ``$.a.b`` location turned into the field, and the block named."""
    text = str(exc)
    found = _AT.search(text)
    where = found.group(1).lstrip(".") if found else ""
    message = _AT.sub("", text)
    named = _FIELD.search(message)
    if named and ("missing required" in message or "unknown field" in message):
        where = f"{where}.{named.group(1)}" if where else named.group(1)
    where = where.replace("[...]", "")  # a value of a map, whose key msgspec does not say
    if re.fullmatch(r"blocks\[\d+\]\.type", where) and message.startswith("Invalid value"):
        message = f"{message}: unknown block type; the types are {', '.join(_block_types())}"
    block = re.match(r"blocks\[(\d+)\]", where)
    if block:
        index = int(block.group(1))
        message = f"{_named(source['blocks'][index], index)}: {message}"
    return InvalidWorkflow(f"{message} (at {where or 'the document'})", field=where or "body")


def _block_types() -> list[str]:
    return [str(kind.__struct_config__.tag) for kind in get_args(AnyBlock)]


def _named(block: Any, index: int) -> str:
    found = block.get("id") if isinstance(block, dict) else None
    return f'block "{found}"' if isinstance(found, str) else f"blocks[{index}]"


# -- fields ----------------------------------------------------------------------------------


def _check_name(document: Document) -> None:
    if not document.name.strip() or len(document.name) > MAX_NAME or _control(document.name):
        raise InvalidWorkflow(
            f"name must be 1 to {MAX_NAME} characters, without control characters", field="name"
        )
    if document.name.isdigit():
        raise InvalidWorkflow(
            "name cannot be only digits: the command line would read it as an id", field="name"
        )
    if len(document.description) > MAX_DESCRIPTION:
        raise InvalidWorkflow(
            f"description is at most {MAX_DESCRIPTION} characters", field="description"
        )


def _check_start(start: Start) -> None:
    if (start.event is None) == (start.contact_date is None):
        raise InvalidWorkflow(
            "start needs exactly one of event (an event type key) and contactDate", field="start"
        )
    if start.event is not None:
        _check_type(start.event, "start.event")
    if start.when is not None:
        parse_condition(start.when, "start.when")
    if start.contact_date is not None:
        if start.when is not None and _reads_params(start.when):
            raise InvalidWorkflow(
                "a contactDate start has no event: its conditions may test contact fields only",
                field="start.when",
            )
        _check_name_text(start.contact_date.field, "start.contactDate.field")
        if not 0 <= start.contact_date.days_before <= 366:
            raise InvalidWorkflow(
                "start.contactDate.daysBefore must be from 0 to 366",
                field="start.contactDate.daysBefore",
            )
        parse_time_of_day(start.contact_date.at, "start.contactDate.at")
    _check_repeat(start)


def _reads_params(when: Any) -> bool:
    """Whether a condition's JSON tests an event parameter anywhere."""
    if isinstance(when, dict):
        return "param" in when or any(_reads_params(v) for v in when.values())
    if isinstance(when, list):
        return any(_reads_params(item) for item in when)
    return False


def _check_against_start(document: Document, block: Block, at: str) -> None:
    """What a block may read of the starting event, and may not emit."""
    start = document.start
    if start.event is None:  # a contact date starts it: there is no starting event to read
        reading = {
            "untilParam": getattr(block, "until_param", None),
            "matchParam": getattr(block, "match_param", None),
        }
        for name, value in reading.items():
            if value is not None:
                raise InvalidWorkflow(
                    f"{at}.{name}: a workflow started by a contact date has no starting event "
                    "to read",
                    field=f"{at}.{name}",
                )
    if isinstance(block, Emit):
        if block.event == start.event:
            raise InvalidWorkflow(
                f"{at}.event: emitting the event that starts this workflow would start it again",
                field=f"{at}.event",
            )
        if block.params is not None and not isinstance(block.params, dict):
            raise InvalidWorkflow(
                f"{at}.params must be an object of parameters", field=f"{at}.params"
            )


def _check_repeat(start: Start) -> None:
    if start.repeat not in REPEATS:
        raise InvalidWorkflow(
            f"start.repeat must be one of {', '.join(REPEATS)}", field="start.repeat"
        )
    if start.repeat == "oncePerPeriod":
        if start.period is None:
            raise InvalidWorkflow(
                'start.period is required with repeat "oncePerPeriod" (e.g. "7d")',
                field="start.period",
            )
        parse_duration(start.period, "start.period", least_seconds=60)
    elif start.period is not None:
        raise InvalidWorkflow(
            'start.period goes with repeat "oncePerPeriod" only', field="start.period"
        )


def _check_stop(stop: Stop) -> None:
    if not stop.events or len(stop.events) > MAX_STOP_EVENTS:
        raise InvalidWorkflow(
            f"stop.events must list 1 to {MAX_STOP_EVENTS} event types", field="stop.events"
        )
    for index, key in enumerate(stop.events):
        _check_type(key, f"stop.events[{index}]")
    if stop.match_param is not None:
        parse_path(stop.match_param, "stop.matchParam")
    if stop.stop_param is not None:
        if stop.match_param is None:
            raise InvalidWorkflow(
                "stop.stopParam names matchParam's counterpart: give matchParam too",
                field="stop.stopParam",
            )
        parse_path(stop.stop_param, "stop.stopParam")
    if stop.look_back is not None:
        parse_duration(stop.look_back, "stop.lookBack")


def _check_block(block: Block, at: str) -> None:
    if not BLOCK_ID.fullmatch(block.id) or block.id == START:
        raise InvalidWorkflow(
            f"{at}.id {block.id[:70]!r} must start with a letter and hold only letters, digits, "
            f"_ and - (at most 64), and cannot be {START!r}",
            field=f"{at}.id",
        )
    for field, check in _CHECKS.get(type(block), ()):
        check(getattr(block, field), f"{at}.{_camel(field)}", block)
    whole = _WHOLE.get(type(block))
    if whole is not None:
        whole(block, at)


def _camel(name: str) -> str:
    head, *rest = name.rstrip("_").split("_")
    return head + "".join(part.title() for part in rest)


def _check_type(key: Any, field: str, _block: Any = None) -> None:
    try:
        check_type_key(key)
    except InvalidEvent as exc:
        raise InvalidWorkflow(f"{field}: {exc.message}", field=field) from None
    if _control(key):
        raise InvalidWorkflow(f"{field} holds a control character", field=field)


def _check_name_text(value: Any, field: str, _block: Any = None) -> None:
    if not value or len(value) > MAX_NAME or _control(value):
        raise InvalidWorkflow(f"{field} must be a name of 1 to {MAX_NAME} characters", field=field)


def _optional(check: Any) -> Any:
    def checked(value: Any, field: str, block: Any) -> None:
        if value is not None:
            check(value, field, block)

    return checked


def _condition(value: Any, field: str, _block: Any = None) -> None:
    parse_condition(value, field)


def _since_condition(value: Any, field: str, _block: Any = None) -> None:
    parse_condition(value, field, since_start=True)


def _path(value: Any, field: str, _block: Any = None) -> None:
    parse_path(value, field)


def _duration(value: Any, field: str, _block: Any = None) -> None:
    parse_duration(value, field)


def _template(value: Any, field: str, _block: Any = None) -> None:
    check_json_template(value, field)


def _emit_params(value: Any, field: str, _block: Any = None) -> None:
    """Param names written out, as the event API takes them: a templated name would let each
    run record a new one."""
    if isinstance(value, dict):
        if len(value) > MAX_EMIT_PARAMS:
            raise InvalidWorkflow(f"{field}: at most {MAX_EMIT_PARAMS} params", field=field)
        for name in value:
            if "{" in name:
                raise InvalidWorkflow(
                    f"{field}: the param name {name[:70]!r} is written out, not templated",
                    field=field,
                )
            if not name.strip() or len(name) > MAX_PARAM_NAME:
                raise InvalidWorkflow(
                    f"{field}: a param name is 1 to {MAX_PARAM_NAME} characters, not blank",
                    field=field,
                )
    check_json_template(value, field)


def _timer(block: Timer, at: str) -> None:
    targets = [block.until, block.until_param, block.until_contact]
    chosen = sum(target is not None for target in targets)
    if chosen > 1:
        raise InvalidWorkflow(
            f'block "{block.id}": a timer waits until one of until, untilParam and untilContact',
            field=at,
        )
    if block.delay is None and chosen == 0:
        raise InvalidWorkflow(
            f'block "{block.id}": a timer needs a delay, or until, untilParam or untilContact',
            field=at,
        )
    if block.offset is not None and block.until_param is None and block.until_contact is None:
        raise InvalidWorkflow(
            f'block "{block.id}": offset goes with untilParam or untilContact',
            field=f"{at}.offset",
        )
    if block.time_zone not in TIME_ZONES:
        raise InvalidWorkflow(
            f"{at}.timeZone must be one of {', '.join(TIME_ZONES)}", field=f"{at}.timeZone"
        )


def _until(value: Any, field: str, _block: Any = None) -> None:
    parse_time_of_day(value.time, f"{field}.time")
    days = value.weekdays
    if days is not None and (not days or any(day not in WEEKDAYS for day in days)):
        raise InvalidWorkflow(
            f"{field}.weekdays must list some of {', '.join(WEEKDAYS)}", field=f"{field}.weekdays"
        )


def _hours(value: Any, field: str, _block: Any = None) -> None:
    if isinstance(value, Hours):
        parse_time_of_day(value.from_, f"{field}.from")
        parse_time_of_day(value.to, f"{field}.to")
        if value.from_ == value.to:
            raise InvalidWorkflow(f"{field}: from and to must differ", field=field)
    elif value is True:
        raise InvalidWorkflow(
            f'{field} is a window {{"from": "09:00", "to": "21:00"}}, or false for any time',
            field=field,
        )


def _weights(value: dict[str, int], field: str, _block: Any = None) -> None:
    if not 2 <= len(value) <= MAX_SPLIT_BRANCHES:
        raise InvalidWorkflow(f"{field} must name 2 to {MAX_SPLIT_BRANCHES} branches", field=field)
    for name, weight in value.items():
        if not BLOCK_ID.fullmatch(name):
            raise InvalidWorkflow(
                f"{field}: branch name {name[:70]!r} must start with a letter and hold only "
                "letters, digits, _ and -",
                field=field,
            )
        if not 1 <= weight <= 1000:
            raise InvalidWorkflow(
                f"{field}.{name} must be a weight from 1 to 1000", field=f"{field}.{name}"
            )


def _http(block: Http, at: str) -> None:
    check_template(block.url, f"{at}.url")
    if not block.url.lower().startswith(("http://", "https://")):
        raise InvalidWorkflow(
            f"{at}.url must start with http:// or https:// (the rest may be templated)",
            field=f"{at}.url",
        )
    host = block.url.split("://", 1)[1].split("/", 1)[0]
    if not host or "{" in host:
        raise InvalidWorkflow(
            f"{at}.url: the scheme and host are written out up to the first / after :// (a "
            "template there would let whoever sends events choose where the request and its "
            "credentials go)",
            field=f"{at}.url",
        )
    if block.method not in METHODS:
        raise InvalidWorkflow(
            f"{at}.method must be one of {', '.join(METHODS)}", field=f"{at}.method"
        )
    if len(block.headers) > MAX_HEADERS:
        raise InvalidWorkflow(f"{at}.headers: at most {MAX_HEADERS}", field=f"{at}.headers")
    for name, value in block.headers.items():
        if not re.fullmatch(r"[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}", name):
            raise InvalidWorkflow(
                f"{at}.headers: {name[:70]!r} is not a header name", field=f"{at}.headers"
            )
        if name.lower() in FORBIDDEN_HEADERS:
            raise InvalidWorkflow(
                f"{at}.headers: {name} is set by Footfall, not by a workflow",
                field=f"{at}.headers",
            )
        check_template(value, f"{at}.headers.{name}")
        if "\n" in value or "\r" in value:
            raise InvalidWorkflow(
                f"{at}.headers.{name} cannot hold a line break", field=f"{at}.headers.{name}"
            )
    if block.method == "GET" and block.body is not None:
        raise InvalidWorkflow(f"{at}.body: a GET request has no body", field=f"{at}.body")
    parse_duration(block.timeout, f"{at}.timeout", most_seconds=MAX_HTTP_TIMEOUT)
    if not 0 <= block.retries <= MAX_RETRIES:
        raise InvalidWorkflow(
            f"{at}.retries must be from 0 to {MAX_RETRIES}", field=f"{at}.retries"
        )
    _auth(block, at)


def _auth(block: Http, at: str) -> None:
    auth = block.auth
    if auth is None:
        return
    basic = auth.username is not None or auth.password is not None
    if basic == (auth.bearer is not None) or (basic and auth.username is None):
        raise InvalidWorkflow(
            f'{at}.auth is {{"username", "password"}} (Basic) or {{"bearer"}}', field=f"{at}.auth"
        )
    for name in ("username", "password", "bearer"):
        value = getattr(auth, name)
        if value is not None:
            check_template(value, f"{at}.auth.{name}")
            if "\n" in value or "\r" in value:
                raise InvalidWorkflow(
                    f"{at}.auth.{name} cannot hold a line break", field=f"{at}.auth.{name}"
                )


_CHECKS: dict[type[Block], tuple[tuple[str, Any], ...]] = {
    Timer: (
        ("delay", _optional(_duration)),
        ("until", _optional(_until)),
        ("until_param", _optional(_path)),
        ("until_contact", _optional(_check_name_text)),
        ("offset", _optional(_duration)),
    ),
    WaitEvent: (
        ("event", _check_type),
        ("when", _optional(_condition)),
        ("match_param", _optional(_path)),
        ("timeout", _duration),
    ),
    ConditionBlock: (("when", _since_condition),),
    Split: (("weights", _weights),),
    Goal: (
        ("event", _check_type),
        ("when", _optional(_condition)),
        ("match_param", _optional(_path)),
        ("within", _duration),
    ),
    Http: (
        ("body", _optional(_template)),
        ("allowed_hours", _optional(_hours)),
    ),
    Emit: (
        ("event", _check_type),
        ("key_value", _optional(_template)),
        ("params", _optional(_emit_params)),
        ("allowed_hours", _optional(_hours)),
    ),
    SetField: (
        ("field", _check_name_text),
        ("value", _template),
        ("allowed_hours", _optional(_hours)),
    ),
}


_WHOLE: dict[type[Block], Any] = {Timer: _timer, Http: _http}


def _control(text: str) -> bool:
    return any(ord(c) < 32 or ord(c) == 127 for c in text)


def event_types(definition: Definition) -> Iterable[str]:
    """Every event type the definition listens for: its start, stops, waits and goals."""
    document = definition.document
    if document.start.event is not None:
        yield document.start.event
    if document.stop is not None:
        yield from document.stop.events
    for block in document.blocks:
        if isinstance(block, WaitEvent | Goal):
            yield block.event
