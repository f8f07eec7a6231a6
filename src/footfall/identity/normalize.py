"""E-mail and phone normalisation with well-kept libraries, cached because the same people come back;
and the NUL check of what is stored."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import phonenumbers
from email_validator import EmailNotValidError, validate_email

JUNK_VALUES = frozenset({"", "0", "null", "undefined", "none", "nil", "nan"})


def is_junk(value: str) -> bool:
    """Placeholders that front-end code sends for 'unknown' and that must never identify anyone."""
    return value.strip().lower() in JUNK_VALUES


def has_nul(value: Any) -> bool:
    """A NUL anywhere in decoded JSON, keys included: PostgreSQL stores it in neither text nor
    JSON, so neither backend takes it. A loop, not recursion, so that a value nested as deep as
    the decoder allows is checked like any other."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            pending += item.keys()
            pending += item.values()
        elif isinstance(item, list):
            pending += item
    return False


@lru_cache(maxsize=65536)
def normalize_email(value: str) -> str | None:
    """The address lower-cased in canonical form, or None when it is not an e-mail address."""
    try:
        result = validate_email(value.strip(), check_deliverability=False)
    except EmailNotValidError:
        return None
    return result.normalized.lower()


@lru_cache(maxsize=65536)
def normalize_phone(value: str) -> str | None:
    """E.164 form of a phone number given in international format (the leading + is optional)."""
    text = value.strip()
    if not text:
        return None
    if not text.startswith("+"):
        text = "+" + text
    try:
        number = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))
