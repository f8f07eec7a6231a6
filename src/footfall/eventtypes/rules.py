"""Per-type rules an operator switches on: required parameters (as in eSputnik) and a JSON Schema.

Custom types have no rules until an operator sets some; standard types keep their built-in rules
and may get these on top.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgspec
from jsonschema import exceptions as schema_errors
from jsonschema.protocols import Validator
from jsonschema.validators import validator_for

from footfall.decoding import MAX_DEPTH, deeper_than
from footfall.eventtypes.formats import format_checker
from footfall.eventtypes.patterns import UnsupportedPattern, check_patterns, linear_time
from footfall.exceptions import InvalidQuery, ParamsMissing, SchemaViolation
from footfall.ingest.models import Param

MAX_RULE_PARAMS = 500
_json = msgspec.json.Encoder()


class ParamRule(msgspec.Struct):
    name: str
    required: bool = True


class TypeSettings(msgspec.Struct):
    """``PUT /api/v1/event-types/{key}`` and what ``GET`` shows under ``settings``."""

    validateParams: bool = False  # noqa: N815 - wire name
    params: list[ParamRule] = msgspec.field(default_factory=list)
    jsonSchema: dict[str, Any] | None = None  # noqa: N815


@dataclass(frozen=True)
class TypeRules:
    """Compiled settings of one type."""

    settings: TypeSettings
    validator: Validator | None

    def check(self, type_key: str, params: list[Param]) -> None:
        """Raise ParamsMissing or SchemaViolation for an event of this type."""
        if self.settings.validateParams:
            present = {param.name for param in params}
            required = [rule for rule in self.settings.params if rule.required]
            missing = [rule.name for rule in required if rule.name not in present]
            if missing:
                listed = _json.encode([{"name": r.name, "required": True} for r in required])
                raise ParamsMissing(
                    f"The event should have the following params: {listed.decode()}",
                    field=missing[0],
                )
        if self.validator is not None:
            instance = {param.name: param.value for param in params}
            try:
                error = schema_errors.best_match(self.validator.iter_errors(instance))
            except (RecursionError, ReferenceError, schema_errors.SchemaError) as exc:
                raise SchemaViolation(
                    f"the JSON Schema of {type_key!r} could not be applied: {exc}"[:500]
                ) from None
            except Exception as exc:  # unresolvable $ref and the like: the schema's fault
                raise SchemaViolation(
                    f"the JSON Schema of {type_key!r} could not be applied: "
                    f"{type(exc).__name__}: {exc}"[:500]
                ) from None
            if error is not None:
                where = ".".join(str(part) for part in error.absolute_path)
                raise SchemaViolation(
                    f"params of {type_key!r} do not match its JSON Schema"
                    + (f" at {where}" if where else "")
                    + f": {error.message}",
                    field=where or None,
                )


def compile_settings(settings: TypeSettings, stored: bool = False) -> TypeRules:
    """Check the settings (a JSON Schema must itself be valid, its patterns RE2) and compile
    them. Settings ``stored`` before a check existed compile anyway: a pattern RE2 cannot run
    then refuses the events of its own type, never anyone else's."""
    if len(settings.params) > MAX_RULE_PARAMS:
        raise InvalidQuery(f"at most {MAX_RULE_PARAMS} params, got {len(settings.params)}")
    names = [rule.name.strip() for rule in settings.params]
    if any(not name or len(name) > 100 for name in names):
        raise InvalidQuery("every param rule needs a name of 1 to 100 characters")
    if len(set(names)) != len(names):
        raise InvalidQuery("a param is listed twice in params")
    validator = None
    if settings.jsonSchema is not None:
        if deeper_than(settings.jsonSchema):
            raise InvalidQuery(f"jsonSchema nests more than {MAX_DEPTH} levels deep")
        cls = validator_for(settings.jsonSchema)
        try:
            cls.check_schema(settings.jsonSchema)
        except schema_errors.SchemaError as exc:
            raise InvalidQuery(f"jsonSchema is not a valid JSON Schema: {exc.message}") from None
        if not stored:
            try:
                check_patterns(settings.jsonSchema)
            except UnsupportedPattern as exc:
                raise InvalidQuery(f"jsonSchema: {exc}") from None
        validator = linear_time(cls)(settings.jsonSchema, format_checker=format_checker(cls))
        try:  # a $ref that resolves nowhere only shows when it is followed
            list(validator.iter_errors({}))
        except Exception as exc:
            raise InvalidQuery(
                f"jsonSchema cannot be applied: {type(exc).__name__}: {exc}"[:500]
            ) from None
    return TypeRules(settings, validator)


_settings_decoder = msgspec.json.Decoder(TypeSettings)


def decode_settings(body: bytes | str) -> TypeSettings:
    try:
        return _settings_decoder.decode(body)
    except msgspec.ValidationError as exc:
        raise InvalidQuery(f"invalid settings: {exc}") from None
    except msgspec.DecodeError as exc:
        raise InvalidQuery(f"the body is not valid JSON: {exc}") from None


def encode_settings(settings: TypeSettings) -> str:
    return _json.encode(settings).decode()


# Looks up the rules of (workspace id, type key); None where the type has none.
RuleLookup = Callable[[int, str], TypeRules | None]
