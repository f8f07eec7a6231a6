"""The condition language of workflow definitions: which events start a workflow, which way a
run branches. Pure: ``parse_condition`` refuses a bad document at the exact field, ``evaluate``
never raises, whatever shape the data has (it comes from clients).

Form: groups ``{"all": [...]}``, ``{"any": [...]}``, ``{"not": c}``; a leaf reads the event's
params, ``{"param": "products[*].price", "op": "greater", "value": 10}``, or a contact field,
``{"contact": "address.city", ...}``. A path is names joined by dots, ``[N]`` and ``[*]``.

Reading: a path yields the values it reaches. ``[*]`` fans out over an array (not an object); a
missing key, an index out of range or a step into a scalar yields nothing; only the first
MAX_VALUES values count. A positive operator holds when any reached value satisfies it, and each
``not…`` operator is its exact negation (``notEquals``: no reached value equals). ``isSet``: some
reached value is not null. ``notEmpty``: some reached value is not null, "", whitespace only,
``[]`` or ``{}``; ``isEmpty`` is its negation, so it also holds when nothing is reached ("" is
set and empty).

Equality (``equals``, ``oneOf``, ``contains`` on arrays): scalars only, strings case-sensitive.
A number equals a string that spells the same number (``0`` equals "0", "42.50" equals 42.5, and
``1.0`` equals ``1``), but two strings compare as text ("1.0" is not "1"). A boolean equals
"true"/"false" and no number. A string spells a number when it is a sign, digits, a fraction
and an exponent of at most 4 digits, some optional, in at most 100 characters: "007", "-3",
"1e3"; not " 42", "1,5", ".5", "NaN".

Order (``greater``, ``greaterOrEqual``, ``less``, ``lessOrEqual``): against a number (or a string
that spells one), reached numbers and numeric strings compare numerically; against an ISO 8601
date, reached strings that are ISO dates compare as instants (a date alone is midnight UTC, a
time without an offset is UTC). Anything else satisfies none of the four, which is why
``not greater`` differs from ``lessOrEqual``.

Text (``contains``, ``startsWith``, ``endsWith``, ``matches``): a reached string, or a number as
its shortest JSON text (42.50 reads "42.5"); booleans, null, arrays and objects are not text,
except that ``contains`` on an array looks for an element equal to the value. Substrings and
RE2 searches (not full matches: anchor with ``^``/``$``) look at the first MAX_TEXT characters.

Cost: parsing bounds a condition (depth, leaves, lengths); evaluation goes no deeper into the
data than the path's steps, each step handles at most MAX_VALUES values, and RE2 is linear.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from itertools import islice
from typing import Any

from footfall.eventtypes.patterns import UnsupportedPattern, compile_pattern
from footfall.exceptions import InvalidWorkflow
from footfall.ingest.dates import parse_iso
from footfall.workflows.paths import MAX_VALUES, Path, parse_path

__all__ = [
    "MAX_VALUES",
    "OPERATORS",
    "AllOf",
    "AnyOf",
    "Condition",
    "Facts",
    "Happened",
    "Leaf",
    "Not",
    "Path",
    "describe",
    "evaluate",
    "happened_types",
    "parse_condition",
    "parse_path",
    "paths",
]

MAX_DEPTH = 8  # groups nested in one another
MAX_LEAVES = 64  # leaves in one condition
MAX_STRING = 1_000  # characters of a string value
MAX_PATTERN = 500  # characters of a regular expression
MAX_CHOICES = 1_000  # values of oneOf
MAX_TEXT = 65_536  # characters of one string that contains and matches look at
MAX_EVENT_TYPE = 100  # characters of an event type key in a happened leaf

OPERATORS = (
    "equals", "notEquals", "greater", "greaterOrEqual", "less", "lessOrEqual", "isSet", "notSet",
    "isEmpty", "notEmpty", "contains", "notContains", "startsWith", "notStartsWith", "endsWith",
    "notEndsWith", "oneOf", "notOneOf", "matches", "notMatches",
)  # fmt: skip

Scalar = str | int | float | bool | None

_NUMERIC = re.compile(r"[+-]?\d+(?:\.\d+)?(?:[eE][+-]?\d{1,4})?")
_WORDS = {"true": True, "false": False}


# Values as the operators see them


def _spelled_number(text: str) -> Decimal | None:
    return Decimal(text) if len(text) <= 100 and _NUMERIC.fullmatch(text) else None


def _json_number(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, int):
        return Decimal(value)
    return Decimal(repr(value)) if math.isfinite(value) else None  # repr: 0.1 is "0.1"


def _number(value: Any) -> Decimal | None:
    return _spelled_number(value) if isinstance(value, str) else _json_number(value)


def _moment(value: Any) -> datetime | None:
    return parse_iso(value) if isinstance(value, str) and len(value) <= 64 else None


def _text(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else None
    try:
        return str(value)
    except ValueError:  # an integer too long for Python to print
        return None


def _texts(values: list[Any]) -> Iterator[str]:
    return (text for text in map(_text, values) if text is not None)


def _blank(value: Any) -> bool:
    if isinstance(value, str):
        return value == "" or value.isspace()
    if isinstance(value, list | tuple | Mapping):
        return len(value) == 0
    return value is None


# Operands: a leaf's value, parsed once into what its operator needs


@dataclass(frozen=True, slots=True)
class Choices:
    """Scalars to compare with by the equality rule, indexed: oneOf's 1,000 cost what one does."""

    written: Scalar | tuple[Scalar, ...]
    strings: frozenset[str]
    numbers: frozenset[Decimal]  # written as numbers
    spelled: frozenset[Decimal]  # written as strings that spell a number
    booleans: frozenset[bool]  # written as booleans or as "true"/"false"
    null: bool

    def holds(self, value: Any) -> bool:
        """Whether ``value`` equals one of the choices."""
        if value is None:
            return self.null
        if isinstance(value, bool):
            return value in self.booleans
        if isinstance(value, str):
            return (
                value in self.strings
                or (bool(self.numbers) and _spelled_number(value) in self.numbers)
                or _WORDS.get(value) in self.booleans
            )
        number = _json_number(value)
        return number is not None and (number in self.numbers or number in self.spelled)


def _choices(written: Scalar | tuple[Scalar, ...]) -> Choices:
    items = written if isinstance(written, tuple) else (written,)
    strings = [item for item in items if isinstance(item, str)]
    return Choices(
        written,
        strings=frozenset(strings),
        numbers=frozenset(n for n in map(_json_number, items) if n is not None),
        spelled=frozenset(n for n in map(_spelled_number, strings) if n is not None),
        booleans=frozenset(
            [item for item in items if isinstance(item, bool)]
            + [_WORDS[item] for item in strings if item in _WORDS]
        ),
        null=None in items,
    )


@dataclass(frozen=True, slots=True)
class Bound:
    """What the order operators compare with: a number, or an instant."""

    written: int | float | str
    number: Decimal | None
    moment: datetime | None

    def compare(self, value: Any) -> int | None:
        """-1, 0 or 1 as ``value`` is below, at or above the bound; None when incomparable."""
        if self.number is not None:
            number = _number(value)
            return None if number is None else (number > self.number) - (number < self.number)
        moment = _moment(value)
        if moment is None or self.moment is None:
            return None
        return (moment > self.moment) - (moment < self.moment)


@dataclass(frozen=True, slots=True)
class Needle:
    """What contains, startsWith and endsWith look for: as text, and as an array's element."""

    written: str | int | float
    text: str
    element: Choices


@dataclass(frozen=True, slots=True)
class Pattern:
    """An RE2 pattern, compiled once when the condition is parsed."""

    written: str
    regex: Any = field(compare=False, repr=False)

    def search(self, text: str) -> bool:
        try:
            return self.regex.search(text) is not None
        except UnicodeEncodeError:  # a lone surrogate, as JSON's "\ud800" gives
            return self.regex.search(text.encode("utf-8", "replace").decode()) is not None


Operand = Choices | Bound | Needle | Pattern


# Operators: a parser of the value (None: takes none) and the positive test


def _equal_any(reached: list[Any], choices: Choices) -> bool:
    return any(choices.holds(value) for value in reached)


def _ordered(relation: Callable[[int], bool]) -> Callable[[list[Any], Bound], bool]:
    def test(reached: list[Any], bound: Bound) -> bool:
        signs = (bound.compare(value) for value in reached)
        return any(sign is not None and relation(sign) for sign in signs)

    return test


def _set_any(reached: list[Any], _: None) -> bool:
    return any(value is not None for value in reached)


def _filled_any(reached: list[Any], _: None) -> bool:
    return not all(_blank(value) for value in reached)


def _contained(value: Any, needle: Needle) -> bool:
    if isinstance(value, list | tuple):
        return any(needle.element.holds(item) for item in islice(value, MAX_VALUES))
    text = _text(value)
    return text is not None and text.find(needle.text, 0, MAX_TEXT) >= 0


def _contains_any(reached: list[Any], needle: Needle) -> bool:
    return any(_contained(value, needle) for value in reached)


def _starts_any(reached: list[Any], needle: Needle) -> bool:
    return any(text.startswith(needle.text) for text in _texts(reached))


def _ends_any(reached: list[Any], needle: Needle) -> bool:
    return any(text.endswith(needle.text) for text in _texts(reached))


def _matches_any(reached: list[Any], pattern: Pattern) -> bool:
    return any(pattern.search(text[:MAX_TEXT]) for text in _texts(reached))


def _refused(at: str, message: str) -> InvalidWorkflow:
    named = at if len(at) <= 200 else f"{at[:200]}…"  # a client's key may be any length
    return InvalidWorkflow(f"{named or 'the condition'} {message}", field=at)


def _string(value: str, at: str, limit: int = MAX_STRING) -> str:
    if len(value) > limit:
        raise _refused(at, f"is {len(value)} characters long; the limit is {limit}")
    return value


def _finite(value: int | float, at: str) -> int | float:
    if isinstance(value, float) and not math.isfinite(value):
        raise _refused(at, "must be a finite number")
    return value


def _scalar(value: Any, at: str) -> Scalar:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return _string(value, at)
    if isinstance(value, int | float):
        return _finite(value, at)
    raise _refused(
        at,
        "must be a string, number, boolean or null (to test an array's elements, "
        'use "contains" or a [*] path)',
    )


def _one_choice(value: Any, at: str) -> Choices:
    return _choices(_scalar(value, at))


def _choice_list(value: Any, at: str) -> Choices:
    if not isinstance(value, list) or not value:
        raise _refused(at, "must be a non-empty list of strings, numbers, booleans or null")
    if len(value) > MAX_CHOICES:
        raise _refused(at, f"has {len(value)} values; the limit is {MAX_CHOICES}")
    return _choices(tuple(_scalar(item, f"{at}[{i}]") for i, item in enumerate(value)))


def _bound(value: Any, at: str) -> Bound:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return Bound(value, _json_number(_finite(value, at)), None)
    if isinstance(value, str):
        number, moment = _spelled_number(_string(value, at)), _moment(value)
        if number is not None or moment is not None:
            return Bound(value, number, moment)
    raise _refused(
        at,
        'must be a number, a string that spells one ("42.50") or an ISO 8601 date '
        '("2024-05-01", "2024-05-01T10:00:00Z")',
    )


def _text_needle(value: Any, at: str) -> Needle:
    if not isinstance(value, str):
        raise _refused(at, "must be a string")
    return Needle(value, _string(value, at), _choices(value))


def _contains_needle(value: Any, at: str) -> Needle:
    if isinstance(value, int | float) and not isinstance(value, bool):
        text = _text(_finite(value, at))
        if text is not None:
            return Needle(value, text, _choices(value))
    if not isinstance(value, str):
        raise _refused(at, "must be a string or a number")
    return _text_needle(value, at)


def _pattern(value: Any, at: str) -> Pattern:
    if not isinstance(value, str):
        raise _refused(at, "must be a string: a regular expression in RE2 syntax")
    _string(value, at, MAX_PATTERN)
    try:
        value.encode()
        return Pattern(value, compile_pattern(value))
    except UnicodeEncodeError:
        raise _refused(at, "is not valid Unicode (it has a lone surrogate)") from None
    except UnsupportedPattern as exc:
        raise InvalidWorkflow(f"{at}: {exc.message}", field=at) from None


@dataclass(frozen=True, slots=True)
class _Operator:
    operand: Callable[[Any, str], Operand] | None
    test: Callable[[list[Any], Any], bool]


_POSITIVE = {
    "equals": _Operator(_one_choice, _equal_any),
    "oneOf": _Operator(_choice_list, _equal_any),
    "greater": _Operator(_bound, _ordered(lambda sign: sign > 0)),
    "greaterOrEqual": _Operator(_bound, _ordered(lambda sign: sign >= 0)),
    "less": _Operator(_bound, _ordered(lambda sign: sign < 0)),
    "lessOrEqual": _Operator(_bound, _ordered(lambda sign: sign <= 0)),
    "isSet": _Operator(None, _set_any),
    "notEmpty": _Operator(None, _filled_any),
    "contains": _Operator(_contains_needle, _contains_any),
    "startsWith": _Operator(_text_needle, _starts_any),
    "endsWith": _Operator(_text_needle, _ends_any),
    "matches": _Operator(_pattern, _matches_any),
}
_NEGATION_OF = {
    "notEquals": "equals",
    "notOneOf": "oneOf",
    "notSet": "isSet",
    "isEmpty": "notEmpty",
    "notContains": "contains",
    "notStartsWith": "startsWith",
    "notEndsWith": "endsWith",
    "notMatches": "matches",
}


def _operator(op: str) -> _Operator:
    return _POSITIVE[_NEGATION_OF.get(op, op)]


# The tree


@dataclass(frozen=True, slots=True)
class Facts:
    """What a condition reads: the event's params and the contact's fields."""

    params: Any  # usually a dict; anything a client sent
    contact: Mapping[str, Any]  # fields by name, empty when the contact is unknown
    happened: Mapping[str, Sequence[Any]] = field(default_factory=dict)  # type → params, since


class Condition:
    """A parsed condition: AllOf, AnyOf, Not or Leaf (immutable)."""

    __slots__ = ()

    def holds(self, facts: Facts) -> bool:
        raise NotImplementedError

    def describe(self) -> Any:
        raise NotImplementedError

    def leaves(self) -> Iterator[Leaf]:
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class AllOf(Condition):
    conditions: tuple[Condition, ...]

    def holds(self, facts: Facts) -> bool:
        return all(condition.holds(facts) for condition in self.conditions)

    def describe(self) -> Any:
        return {"all": [condition.describe() for condition in self.conditions]}

    def leaves(self) -> Iterator[Leaf]:
        for condition in self.conditions:
            yield from condition.leaves()


@dataclass(frozen=True, slots=True)
class AnyOf(Condition):
    conditions: tuple[Condition, ...]

    def holds(self, facts: Facts) -> bool:
        return any(condition.holds(facts) for condition in self.conditions)

    def describe(self) -> Any:
        return {"any": [condition.describe() for condition in self.conditions]}

    def leaves(self) -> Iterator[Leaf]:
        for condition in self.conditions:
            yield from condition.leaves()


@dataclass(frozen=True, slots=True)
class Not(Condition):
    condition: Condition

    def holds(self, facts: Facts) -> bool:
        return not self.condition.holds(facts)

    def describe(self) -> Any:
        return {"not": self.condition.describe()}

    def leaves(self) -> Iterator[Leaf]:
        return self.condition.leaves()


@dataclass(frozen=True, slots=True)
class Leaf(Condition):
    """One test: ``source`` is "param" (the event's params) or "contact" (its fields)."""

    source: str
    path: Path
    op: str
    operand: Operand | None

    def holds(self, facts: Facts) -> bool:
        reached = self.path.values(facts.params if self.source == "param" else facts.contact)
        return _operator(self.op).test(reached, self.operand) != (self.op in _NEGATION_OF)

    def describe(self) -> Any:
        described: dict[str, Any] = {self.source: self.path.text, "op": self.op}
        if self.operand is not None:
            written = self.operand.written
            described["value"] = list(written) if isinstance(written, tuple) else written
        return described

    def leaves(self) -> Iterator[Leaf]:
        yield self


@dataclass(frozen=True, slots=True)
class Happened(Condition):
    """An event of ``event_type`` happened to the run's contact since the run started (one whose
    params satisfy ``where``, when given). Only in a condition block."""

    event_type: str
    where: Condition | None

    def holds(self, facts: Facts) -> bool:
        found = facts.happened.get(self.event_type, ())
        if self.where is None:
            return bool(found)
        where = self.where
        return any(where.holds(Facts(params, facts.contact)) for params in found)

    def describe(self) -> Any:
        described: dict[str, Any] = {"happened": self.event_type}
        if self.where is not None:
            described["where"] = self.where.describe()
        return described

    def leaves(self) -> Iterator[Leaf]:
        return iter(())  # its condition reads another event's params, not this run's


def happened_types(condition: Condition) -> frozenset[str]:
    """The event types ``happened`` leaves of the condition ask about."""
    if isinstance(condition, Happened):
        return frozenset({condition.event_type})
    if isinstance(condition, AllOf | AnyOf):
        return frozenset().union(*(happened_types(c) for c in condition.conditions))
    if isinstance(condition, Not):
        return happened_types(condition.condition)
    return frozenset()


def evaluate(condition: Condition, facts: Facts) -> bool:
    """Whether the facts satisfy the condition; never raises, whatever the data."""
    return condition.holds(facts)


def describe(condition: Condition) -> Any:
    """The condition back in its JSON form."""
    return condition.describe()


def paths(condition: Condition) -> tuple[Path, ...]:
    """The params paths the condition reads, each once, in document order."""
    found = (leaf.path for leaf in condition.leaves() if leaf.source == "param")
    return tuple(dict.fromkeys(found))


# Parsing

_GROUPS = ("all", "any", "not")
_LEAF_KEYS = ("param", "contact", "op", "value")
_SHAPES = (
    'a condition is {"param": path, "op": operator, "value": value} (or "contact" for a '
    'contact field), or a group {"all": [...]}, {"any": [...]} or {"not": condition}'
)


def parse_condition(value: Any, at: str, *, since_start: bool = False) -> Condition:
    """The parsed condition; InvalidWorkflow whose ``field`` is the problem's place under ``at``.
    ``since_start``: it may ask what happened since the run started (a condition block)."""
    return _Parser(since_start).condition(value, at, depth=0)


def _under(at: str, key: str) -> str:
    return f"{at}.{key}" if at else key


class _Parser:
    """Parses one condition, counting its leaves."""

    def __init__(self, since_start: bool = False) -> None:
        self.leaves = 0
        self.since_start = since_start

    def condition(self, value: Any, at: str, depth: int) -> Condition:
        if not isinstance(value, dict):
            raise _refused(at, f"must be an object: {_SHAPES}")
        if any(key in value for key in _GROUPS):
            return self.group(value, at, depth + 1)
        if "happened" in value:
            return self.happened(value, at, depth + 1)
        return self.leaf(value, at)

    def happened(self, value: dict[str, Any], at: str, depth: int) -> Condition:
        if not self.since_start:
            raise _refused(
                _under(at, "happened"),
                "is only allowed in a condition block (what happened since the run started)",
            )
        for key in value:
            if key not in ("happened", "where"):
                raise _refused(_under(at, str(key)), 'is not a known key: {"happened", "where"}')
        kind = value["happened"]
        if not isinstance(kind, str) or not 0 < len(kind) <= MAX_EVENT_TYPE:
            raise _refused(_under(at, "happened"), "must be an event type key")
        self.leaves += 1
        if self.leaves > MAX_LEAVES:
            raise _refused(at, f"is one leaf too many: a condition has at most {MAX_LEAVES}")
        where = None
        if "where" in value:
            inner = _Parser()  # the event's params and the contact; no nested happened
            inner.leaves = self.leaves
            where = inner.condition(value["where"], _under(at, "where"), depth)
            self.leaves = inner.leaves
        return Happened(kind, where)

    def group(self, value: dict[str, Any], at: str, depth: int) -> Condition:
        kind = next(key for key in value if key in _GROUPS)
        extra = next((key for key in value if key != kind), None)
        if extra is not None:
            raise _refused(_under(at, str(extra)), f"is not allowed next to {kind}: {_SHAPES}")
        if depth > MAX_DEPTH:
            raise _refused(at, f"nests groups {depth} deep; the limit is {MAX_DEPTH}")
        content = value[kind]
        if kind == "not":
            return Not(self.condition(content, _under(at, "not"), depth))
        return self.members(kind, content, _under(at, kind), depth)

    def members(self, kind: str, content: Any, at: str, depth: int) -> Condition:
        if not isinstance(content, list) or not content:
            raise _refused(at, "must be a non-empty list of conditions")
        if len(content) > MAX_LEAVES:
            raise _refused(at, f"has {len(content)} conditions; the limit is {MAX_LEAVES}")
        parsed = tuple(self.condition(item, f"{at}[{i}]", depth) for i, item in enumerate(content))
        return AllOf(parsed) if kind == "all" else AnyOf(parsed)

    def leaf(self, value: dict[str, Any], at: str) -> Leaf:
        for key in value:
            if key not in _LEAF_KEYS:
                raise _refused(_under(at, str(key)), f"is not a known key: {_SHAPES}")
        self.leaves += 1
        if self.leaves > MAX_LEAVES:
            raise _refused(at, f"is one leaf too many: a condition has at most {MAX_LEAVES}")
        source = _source(value, at)
        path = parse_path(value[source], _under(at, source))
        op = _op(value, at)
        return Leaf(source, path, op, _operand(op, value, at))


def _source(value: dict[str, Any], at: str) -> str:
    present = [key for key in ("param", "contact") if key in value]
    if len(present) != 1:
        problem = "has both param and contact" if present else "has neither param nor contact"
        raise _refused(at, f"{problem}: {_SHAPES}")
    return present[0]


def _op(value: dict[str, Any], at: str) -> str:
    op = value.get("op")
    if not isinstance(op, str) or op not in OPERATORS:
        shown = "missing" if "op" not in value else f"{str(op)[:50]!r}, not an operator"
        raise _refused(_under(at, "op"), f"is {shown}; operators: {', '.join(OPERATORS)}")
    return op


def _operand(op: str, value: dict[str, Any], at: str) -> Operand | None:
    parse = _operator(op).operand
    where = _under(at, "value")
    if parse is None:
        if "value" in value:
            raise _refused(where, f"is not allowed: {op} takes no value")
        return None
    if "value" not in value:
        raise _refused(where, f"is missing: {op} needs a value")
    return parse(value["value"], where)
