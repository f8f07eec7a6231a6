"""The contact document of the contacts API (eSputnik's shape), validated and normalised.

A field left out of a request leaves the stored value alone; ``null`` clears it. Channels are
replaced per type: sending ``email`` channels replaces the contact's e-mail addresses and leaves
its phone numbers alone.
"""

from __future__ import annotations

import re
import zoneinfo
from dataclasses import dataclass
from typing import Any

import msgspec

from footfall.decoding import MAX_DEPTH, decode_json, deeper_than
from footfall.exceptions import InvalidContact
from footfall.identity.locators import (
    EMAIL,
    EXTERNAL_ID,
    MAX_LOCATOR,
    PHONE,
    PUSH_TOKEN,
    Locators,
)
from footfall.identity.normalize import has_nul, is_junk, normalize_email, normalize_phone

UNSET = msgspec.UNSET
MAX_NAME = 300
MAX_CHANNELS_PER_TYPE = 2
MAX_FIELDS = 500

# Channel type -> the identifier kind it is stored under (what finds a contact).
CHANNEL_KINDS: dict[str, str] = {
    "email": EMAIL,
    "sms": PHONE,
    "mobilepush": PUSH_TOKEN,
    "webpush": PUSH_TOKEN,
    "viber": "viber",
    "telegram": "telegram",
    "appinbox": "appinbox",
    "widget": "widget",
    "inapp": "inapp",
}
# How a stored identifier is shown as a channel when no client named its type.
DEFAULT_CHANNEL = {EMAIL: "email", PHONE: "sms", PUSH_TOKEN: "mobilepush"}


def channel_type(kind: str, channel: str | None) -> str:
    """The channel type of a stored identifier (its kind for ids that are not channels)."""
    return channel or DEFAULT_CHANNEL.get(kind, kind)


_LANGUAGE = re.compile(r"[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*")


class ChannelBody(msgspec.Struct):
    type: str
    value: Any


class FieldBody(msgspec.Struct):
    id: int | str
    value: Any = None


class AddressBody(msgspec.Struct):
    region: str | None = None
    town: str | None = None
    address: str | None = None
    postcode: str | None = None


class ContactBody(msgspec.Struct):
    """``POST /contact``, ``PUT /contact/{id}`` and each item of ``POST /contacts``."""

    id: int | None = None
    externalCustomerId: str | int | msgspec.UnsetType | None = UNSET  # noqa: N815 - wire name
    firstName: str | msgspec.UnsetType | None = UNSET  # noqa: N815
    lastName: str | msgspec.UnsetType | None = UNSET  # noqa: N815
    channels: list[ChannelBody] | msgspec.UnsetType | None = UNSET
    address: AddressBody | msgspec.UnsetType | None = UNSET
    fields: list[FieldBody] | msgspec.UnsetType | None = UNSET
    languageCode: str | msgspec.UnsetType | None = UNSET  # noqa: N815
    timeZone: str | msgspec.UnsetType | None = UNSET  # noqa: N815


class ContactRequest(ContactBody):
    """``POST /contact`` and ``PUT /contact/{id}``: the document bare, or wrapped in ``contact``
    as eSputnik's own clients send it (``{"contact": {...}, "groups": null, "formType": null}``;
    ``groups`` and ``formType`` are ignored)."""

    contact: ContactBody | msgspec.UnsetType = UNSET


# What a document may change: every field but the id.
CONTENT = tuple(name for name in ContactBody.__struct_fields__ if name != "id")


@dataclass(frozen=True, slots=True)
class Channel:
    kind: str  # identifier kind: email, phone, pushToken, viber…
    type: str  # channel type as the client named it
    value: str


@dataclass(frozen=True, slots=True)
class ContactInput:
    """A validated contact document; UNSET where the request left a field out."""

    id: int | None
    external_id: str | msgspec.UnsetType | None
    first_name: str | msgspec.UnsetType | None
    last_name: str | msgspec.UnsetType | None
    channels: tuple[Channel, ...] | msgspec.UnsetType
    address: dict[str, str] | msgspec.UnsetType | None
    fields: dict[str, Any] | msgspec.UnsetType | None
    language_code: str | msgspec.UnsetType | None
    time_zone: str | msgspec.UnsetType | None

    def locators(self) -> Locators:
        """The first value of each kind, in the order the ingestion rules look them up."""
        first: dict[str, str] = {}
        for channel in self.channels if isinstance(self.channels, tuple) else ():
            first.setdefault(channel.kind, channel.value)
        external = self.external_id if isinstance(self.external_id, str) else None
        return Locators(
            None, external, first.get(EMAIL), first.get(PHONE), first.get(PUSH_TOKEN), None
        )

    def identifiers(self) -> list[tuple[str, str]]:
        """Every (kind, value) this document claims: the externalCustomerId, then the channels."""
        pairs = [(EXTERNAL_ID, self.external_id)] if isinstance(self.external_id, str) else []
        if isinstance(self.channels, tuple):
            pairs += [(c.kind, c.value) for c in self.channels]
        return pairs

    def channel_types(self) -> set[str]:
        return {c.type for c in self.channels} if isinstance(self.channels, tuple) else set()


_decoder = msgspec.json.Decoder(ContactBody)
_request_decoder = msgspec.json.Decoder(ContactRequest)
_INTEGER = re.compile(r"0|-?[1-9][0-9]{0,17}")


def invalid_shape(exc: msgspec.ValidationError, where: str = "") -> InvalidContact:
    """msgspec's message with its ``$.path`` spelt as the field: ``contacts[1].firstName``."""
    text = str(exc)
    path = text.rpartition(" - at `")[2].rstrip("`") if " - at `" in text else "$"
    field = where + path.removeprefix("$").removeprefix(".")
    reason = text.partition(" - at `")[0]
    return InvalidContact(f"{field.rstrip('.') or 'the contact'}: {reason}", field=field or None)


def decode_contact(body: bytes | msgspec.Raw, where: str = "") -> ContactInput:
    """One contact document (``where`` is its place in a bulk request: ``contacts[3].``)."""

    def invalid(exc: msgspec.ValidationError) -> InvalidContact:
        return invalid_shape(exc, where)

    return validate(decode_json(body, _decoder, invalid, where.rstrip(".") or "body"), where)


def decode_contact_request(body: bytes) -> ContactInput:
    """The body of a single contact route, bare or wrapped; one that names no field the contact
    has is refused, so a request Footfall did not understand is never answered "updated"."""
    request = decode_json(body, _request_decoder, invalid_shape, "body")
    document: ContactBody
    if request.contact is UNSET:
        document, where = request, ""
    elif request.id is None and all(getattr(request, name) is UNSET for name in CONTENT):
        document, where = request.contact, "contact."
    else:
        raise InvalidContact(
            "send the contact's fields either bare or wrapped in contact, not both",
            field="contact",
        )
    if all(getattr(document, name) is UNSET for name in CONTENT):
        raise InvalidContact(
            f"{where.rstrip('.') or 'the body'} names no contact field: expected one of "
            f'{", ".join(CONTENT)}, bare or wrapped as {{"contact": {{...}}}}'
        )
    return validate(document, where)


def field_id(name: str) -> int | str:
    """A stored custom field id as clients sent it: ids are kept as text (JSON object keys), and
    eSputnik's are numbers, so one that reads as a 64-bit integer is answered as that number."""
    return int(name) if _INTEGER.fullmatch(name) else name


def validate(raw: ContactBody, where: str = "") -> ContactInput:
    """Check and normalise a decoded document; errors name the offending field."""
    return ContactInput(
        id=_id(raw.id, where),
        external_id=_external_id(raw.externalCustomerId, where),
        first_name=_text(raw.firstName, f"{where}firstName", MAX_NAME),
        last_name=_text(raw.lastName, f"{where}lastName", MAX_NAME),
        channels=_channels(raw.channels, where),
        address=_address(raw.address, where),
        fields=_fields(raw.fields, where),
        language_code=_language(raw.languageCode, f"{where}languageCode"),
        time_zone=_time_zone(raw.timeZone, f"{where}timeZone"),
    )


def _id(value: int | None, where: str) -> int | None:
    if value is not None and not 0 < value < 2**63:
        raise InvalidContact(f"{where}id must be a positive integer, got {value}", field="id")
    return value


def _text(value: str | msgspec.UnsetType | None, field: str, limit: int) -> Any:
    if not isinstance(value, str):
        return value
    text = value.strip()
    if len(text) > limit:
        raise InvalidContact(f"{field} is longer than {limit} characters", field=field)
    if "\x00" in text:
        raise InvalidContact(f"{field} contains a NUL character", field=field)
    return text or None


def _external_id(value: str | int | msgspec.UnsetType | None, where: str) -> Any:
    field = f"{where}externalCustomerId"
    if isinstance(value, bool):
        raise InvalidContact(f"{field} must be a string, got {value}", field=field)
    if isinstance(value, int):
        value = str(value)
    if isinstance(value, str) and is_junk(value):
        raise InvalidContact(
            f"{field} {value!r} is a placeholder, not an id (send null to remove it)", field=field
        )
    return _text(value, field, MAX_LOCATOR)


def _channels(raw: list[ChannelBody] | msgspec.UnsetType | None, where: str) -> Any:
    if raw is UNSET:
        return UNSET
    channels: list[Channel] = []
    per_type: dict[str, int] = {}
    for index, item in enumerate(raw or []):
        field = f"{where}channels[{index}]"
        channel_type = item.type.strip().lower()
        kind = CHANNEL_KINDS.get(channel_type)
        if kind is None:
            known = ", ".join(CHANNEL_KINDS)
            raise InvalidContact(
                f"{field}.type must be one of {known}, got {item.type!r}", field=f"{field}.type"
            )
        value = _channel_value(kind, item.value, f"{field}.value")
        if any(c.kind == kind and c.value == value for c in channels):
            continue  # the same address twice, perhaps in another spelling
        per_type[channel_type] = per_type.get(channel_type, 0) + 1
        if per_type[channel_type] > MAX_CHANNELS_PER_TYPE:
            raise InvalidContact(
                f"{field}.type: a contact has at most {MAX_CHANNELS_PER_TYPE} {channel_type} "
                "channels",
                field=f"{field}.type",
            )
        channels.append(Channel(kind, channel_type, value))
    return tuple(channels)


def _channel_value(kind: str, value: Any, field: str) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or is_junk(value):
        raise InvalidContact(f"{field} must be a non-empty string, got {value!r}", field=field)
    text = value.strip()
    if len(text) > MAX_LOCATOR or "\x00" in text:
        raise InvalidContact(f"{field} is longer than {MAX_LOCATOR} characters", field=field)
    if kind == EMAIL:
        email = normalize_email(text)
        if email is None:
            raise InvalidContact(f"{field} {text!r} is not a valid e-mail address", field=field)
        return email
    if kind == PHONE:
        phone = normalize_phone(text)
        if phone is None:
            raise InvalidContact(
                f"{field} {text!r} is not a valid international phone number", field=field
            )
        return phone
    return text


def _address(raw: AddressBody | msgspec.UnsetType | None, where: str) -> Any:
    if not isinstance(raw, AddressBody):
        return raw
    parts = {}
    for name in ("region", "town", "address", "postcode"):
        text = _text(getattr(raw, name), f"{where}address.{name}", MAX_NAME)
        if text:
            parts[name] = text
    return parts or None


def _fields(raw: list[FieldBody] | msgspec.UnsetType | None, where: str) -> Any:
    if not isinstance(raw, list):
        return raw
    if len(raw) > MAX_FIELDS:
        raise InvalidContact(f"{where}fields has more than {MAX_FIELDS} items", field="fields")
    values: dict[str, Any] = {}
    for index, item in enumerate(raw):
        name = str(item.id).strip()
        if not name or len(name) > 100:
            raise InvalidContact(
                f"{where}fields[{index}].id must be 1 to 100 characters",
                field=f"fields[{index}].id",
            )
        if deeper_than(item.value):
            raise InvalidContact(
                f"{where}fields[{index}].value nests objects and arrays more than {MAX_DEPTH} "
                "levels deep",
                field=f"fields[{index}].value",
            )
        for part, value in (("id", name), ("value", item.value)):
            if has_nul(value):
                raise InvalidContact(
                    f"{where}fields[{index}].{part} contains a NUL character",
                    field=f"fields[{index}].{part}",
                )
        values[name] = item.value
    return values


MAX_FIELD_BYTES = 65_536  # a custom field's value, as JSON, when one field is set alone


def checked_field(name: str, value: Any) -> Any:
    """One field set alone (a workflow's setField), checked as the contact API checks it: the
    named ones (firstName, lastName, languageCode, timeZone) as text, a custom one by its name,
    depth, size and characters; the value to store, or InvalidContact."""
    named = {
        "firstName": lambda v: _text(v, "firstName", MAX_NAME),
        "lastName": lambda v: _text(v, "lastName", MAX_NAME),
        "languageCode": lambda v: _language(v, "languageCode"),
        "timeZone": lambda v: _time_zone(v, "timeZone"),
    }
    if name in named:
        if value is not None and not isinstance(value, str):
            raise InvalidContact(f"{name} takes text, not {type(value).__name__}", field=name)
        value = named[name](value)
        try:
            msgspec.json.encode(value)
        except UnicodeEncodeError:
            raise InvalidContact(f"{name} is not valid text", field=name) from None
        return value
    if not name.strip() or len(name) > 100 or has_nul(name):
        raise InvalidContact("a field's name must be 1 to 100 characters", field=name)
    if deeper_than(value):
        raise InvalidContact(f"{name} nests more than {MAX_DEPTH} levels deep", field=name)
    if has_nul(value):
        raise InvalidContact(f"{name} contains a NUL character", field=name)
    try:
        size = len(msgspec.json.encode(value))
    except (TypeError, UnicodeEncodeError):
        raise InvalidContact(f"{name} is not a JSON value of valid text", field=name) from None
    if size > MAX_FIELD_BYTES:
        raise InvalidContact(
            f"{name} is {size} bytes of JSON; at most {MAX_FIELD_BYTES}", field=name
        )
    return value


def _language(value: str | msgspec.UnsetType | None, field: str) -> Any:
    if isinstance(value, str) and not _LANGUAGE.fullmatch(value.strip()):
        raise InvalidContact(
            f"{field} must be a language code such as 'en' or 'uk-UA', got {value!r}", field=field
        )
    return value.strip() if isinstance(value, str) else value


def _time_zone(value: str | msgspec.UnsetType | None, field: str) -> Any:
    if not isinstance(value, str):
        return value
    try:
        zoneinfo.ZoneInfo(value.strip())
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        raise InvalidContact(
            f"{field} must be an IANA time zone such as 'Europe/Kyiv', got {value!r}", field=field
        ) from None
    return value.strip()
