"""Locators: the event parameters that say who an event is about, in eSputnik's priority order."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NamedTuple

from footfall.exceptions import InvalidEvent
from footfall.identity.normalize import is_junk, normalize_email, normalize_phone

CONTACT_ID = "contactId"
EXTERNAL_ID = "externalCustomerId"
EMAIL = "email"
PHONE = "phone"
PUSH_TOKEN = "pushToken"
# A web cookie or device id: it ties events to an anonymous visitor until a real locator shows up.
ANONYMOUS_ID = "anonymousId"

PRIORITY = (CONTACT_ID, EXTERNAL_ID, EMAIL, PHONE, PUSH_TOKEN, ANONYMOUS_ID)

# Parameter names (lower-cased) that carry a locator, with the aliases eSputnik documents.
ALIASES: dict[str, str] = {
    "contactid": CONTACT_ID,
    "contact_id": CONTACT_ID,
    "externalcustomerid": EXTERNAL_ID,
    "external_customer_id": EXTERNAL_ID,
    "email": EMAIL,
    "emailaddress": EMAIL,
    "useremail": EMAIL,
    "user_email": EMAIL,
    "contactemail": EMAIL,
    "phone": PHONE,
    "sms": PHONE,
    "phonenumber": PHONE,
    "user_phone": PHONE,
    "pushtoken": PUSH_TOKEN,
    "mobpushtoken": PUSH_TOKEN,
    "webpushtoken": PUSH_TOKEN,
    "anonymousid": ANONYMOUS_ID,
    "anonymous_id": ANONYMOUS_ID,
    "visitorid": ANONYMOUS_ID,
    "visitor_id": ANONYMOUS_ID,
    "deviceid": ANONYMOUS_ID,
    "device_id": ANONYMOUS_ID,
    "webid": ANONYMOUS_ID,
}


class Locators(NamedTuple):
    """Normalised identifiers of one event's contact; None where absent or unusable.

    A named tuple rather than a frozen dataclass: one is built per event on the hot path.
    """

    contact_id: int | None = None
    external_id: str | None = None
    email: str | None = None
    phone: str | None = None
    push_token: str | None = None
    anonymous_id: str | None = None

    def identifiers(self) -> list[tuple[str, str]]:
        """(kind, value) pairs in priority order, contact id excluded."""
        pairs = []
        if self.external_id is not None:
            pairs.append((EXTERNAL_ID, self.external_id))
        if self.email is not None:
            pairs.append((EMAIL, self.email))
        if self.phone is not None:
            pairs.append((PHONE, self.phone))
        if self.push_token is not None:
            pairs.append((PUSH_TOKEN, self.push_token))
        if self.anonymous_id is not None:
            pairs.append((ANONYMOUS_ID, self.anonymous_id))
        return pairs

    @property
    def empty(self) -> bool:
        return self.contact_id is None and not self.identifiers()


class Located(NamedTuple):
    """The locators of an event, the key derived from them, and why any value was unusable."""

    locators: Locators
    derived_key: str | None
    problems: tuple[str, ...]


def _text(value: Any) -> str | None:
    if isinstance(value, str):
        return None if is_junk(value) else value.strip()
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return None if value == 0 else str(value)
    return None


_MAX_ID = 2**63 - 1
MAX_LOCATOR = 1000  # longer values cannot be indexed, and identify nobody


def _contact_id(text: str) -> int | None:
    if not (text.isascii() and text.isdigit()) or not 0 < int(text) <= _MAX_ID:
        raise InvalidEvent(f"contactId must be a positive integer, got {text!r}", field="contactId")
    return int(text)


def locate(params: Iterable[tuple[str, Any]]) -> Located:
    """Read the locators out of (name, value) params; names match case-insensitively."""
    raw: dict[str, str] = {}
    for name, value in params:
        kind = ALIASES.get(name.lower())
        if kind is None or kind in raw:
            continue
        text = _text(value)
        if text:
            raw[kind] = text
    problems: list[str] = []
    for kind in [kind for kind, text in raw.items() if len(text) > MAX_LOCATOR]:
        problems.append(f"{kind} is longer than {MAX_LOCATOR} characters")
        del raw[kind]
    email = phone = None
    if EMAIL in raw:
        email = normalize_email(raw[EMAIL])
        if email is None:
            problems.append(f"email {raw[EMAIL]!r} is not a valid e-mail address")
            del raw[EMAIL]
    if PHONE in raw:
        phone = normalize_phone(raw[PHONE])
        if phone is None:
            problems.append(f"phone {raw[PHONE]!r} is not a valid international phone number")
            del raw[PHONE]
    contact_id = _contact_id(raw[CONTACT_ID]) if CONTACT_ID in raw else None
    locators = Locators(
        contact_id,
        raw.get(EXTERNAL_ID),
        email,
        phone,
        raw.get(PUSH_TOKEN),
        raw.get(ANONYMOUS_ID),
    )
    derived = next((raw[kind] for kind in PRIORITY if kind in raw), None)
    return Located(locators, derived, tuple(problems))
