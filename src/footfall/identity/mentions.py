"""Whether a stored body names a person: their identifiers found anywhere in it, compared normalised.

Erasure uses it on events and failed events of other contacts (and of no contact). A body names
the person when any string or number in it (JSON inside strings included, at any depth) is one of
the person's identifiers: an e-mail address compared in canonical form, also inside free text; a
phone number in any common format (``+44 20 7946 0958``, ``0044…``, ``(020) 7946-0958``); other
identifiers (external ids, push tokens, anonymous ids) as the whole value.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import msgspec
import phonenumbers

from footfall.decoding import MAX_DEPTH
from footfall.identity.locators import EMAIL, PHONE
from footfall.identity.normalize import normalize_email

_EMAIL_TOKEN = re.compile(r"[^\s\"'<>()\[\]{},;:]+@[^\s\"'<>()\[\]{},;:]+")
# A run of digits with the separators people write phone numbers with.
_PHONE_RUN = re.compile(r"\+?\d[\d\s().\-/]{4,40}\d")
_NOT_DIGIT = re.compile(r"\D+")
_ESCAPABLE = re.compile(r'[^\x20-\x7e]|["\\/]')
_JSON = msgspec.json.Decoder()


@dataclass(frozen=True)
class Phone:
    """A stored phone number (E.164) and the digit strings that write it."""

    e164: str
    national: str  # the national significant number
    forms: frozenset[str]  # the digits of every way of writing it

    @classmethod
    def of(cls, e164: str) -> Phone:
        """International with or without + or 00 (and the UK's ``+44 (0)``), or national with
        or without a trunk 0."""
        digits = e164.lstrip("+")
        try:
            national = str(phonenumbers.national_significant_number(phonenumbers.parse(e164)))
        except phonenumbers.NumberParseException:
            national = digits
        country = digits.removesuffix(national)
        forms = {digits, "00" + digits, national, "0" + national, f"{country}0{national}"}
        return cls(e164, national, frozenset(forms))

    def written_as(self, digits: str) -> bool:
        return digits in self.forms


@dataclass(frozen=True)
class Person:
    """The identifiers of a person about to be erased, normalised."""

    emails: frozenset[str]
    phones: tuple[Phone, ...]
    others: frozenset[str]

    @classmethod
    def of(cls, identifiers: Iterable[tuple[str, str]]) -> Person:
        """From (kind, value) pairs as contact_identifiers stores them."""
        pairs = list(identifiers)
        emails = frozenset(value.lower() for kind, value in pairs if kind == EMAIL)
        phones = tuple(Phone.of(value) for kind, value in pairs if kind == PHONE)
        others = frozenset(value for kind, value in pairs if kind not in (EMAIL, PHONE))
        return cls(emails, phones, others)

    @property
    def empty(self) -> bool:
        return not (self.emails or self.phones or self.others)

    def search_terms(self) -> list[str]:
        """Lower-case fragments at least one of which every body naming the person contains,
        however the client escaped its JSON: a coarse filter before :meth:`named_in`."""
        return sorted({_unescaped_part(value.lower()) for value in (*self.emails, *self.others)})

    def phone_digits(self) -> list[str]:
        """Digit strings, one of which every body naming a phone holds in order (with anything
        between the digits)."""
        return sorted({phone.national for phone in self.phones})

    def named_in(self, raw: str, key_value: str | None = None) -> bool:
        """Whether the stored body (JSON text, or any text when it is not JSON) or its key
        names the person."""
        if key_value is not None and self._names(key_value):
            return True
        try:
            document = _JSON.decode(raw)
        except msgspec.DecodeError:
            return self._names(raw) or any(value in raw for value in self.others)
        return any(self._names(leaf) for leaf in _leaves(document))

    def _names(self, value: str | int | float) -> bool:
        if isinstance(value, int | float):
            value = str(value)
        text = value.strip()
        if text in self.others:
            return True
        if (
            self.emails
            and "@" in text
            and any(_email_in(token, self.emails) for token in _EMAIL_TOKEN.findall(text))
        ):
            return True
        if self.phones:
            for run in _PHONE_RUN.findall(text):
                digits = _NOT_DIGIT.sub("", run)
                if any(phone.written_as(digits) for phone in self.phones):
                    return True
        return False


def _email_in(token: str, emails: frozenset[str]) -> bool:
    if token.lower() in emails:
        return True
    normal = normalize_email(token.strip(".")) if len(token) <= 320 else None
    return normal is not None and normal in emails


def _unescaped_part(text: str) -> str:
    """The longest part of ``text`` that JSON encoders never escape (printable ASCII but for
    the quote, the backslash and the slash)."""
    return max(_ESCAPABLE.split(text), key=len)


def _leaves(document: Any) -> Iterator[str | int | float]:
    """Every string, number and key in a decoded document, strings holding JSON opened up to
    the depth ingestion allows."""
    pending: list[tuple[Any, int]] = [(document, 0)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, str):
            yield item
            inner = _inner_json(item) if depth < MAX_DEPTH else None
            if inner is not None:
                pending.append((inner, depth + 1))
        elif isinstance(item, dict):
            pending.extend((key, depth) for key in item)
            pending.extend((value, depth + 1) for value in item.values())
        elif isinstance(item, list):
            pending.extend((value, depth + 1) for value in item)
        elif isinstance(item, int | float) and not isinstance(item, bool):
            yield item


def _inner_json(text: str) -> Any:
    stripped = text.strip()
    if not stripped or stripped[0] not in '[{"':
        return None
    try:
        return _JSON.decode(stripped)
    except msgspec.DecodeError:
        return None
