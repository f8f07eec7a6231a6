"""E-mail and phone normalisation with well-kept libraries, cached because the same people come back."""

from __future__ import annotations

from functools import lru_cache

import phonenumbers
from email_validator import EmailNotValidError, validate_email

JUNK_VALUES = frozenset({"", "0", "null", "undefined", "none", "nil", "nan"})


def is_junk(value: str) -> bool:
    """Placeholders that front-end code sends for 'unknown' and that must never identify anyone."""
    return value.strip().lower() in JUNK_VALUES


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
