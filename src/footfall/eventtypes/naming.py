"""The documented naming conventions: reported in the registry, never enforced at ingestion.

eSputnik recommends event names that read ObjectAction with a past-tense action, in PascalCase or
camelCase (``ProductPurchased``), and lowerCamel parameter names (``imageUrl``).
"""

from __future__ import annotations

import re

from footfall.identity.locators import ALIASES

_LETTERS = re.compile(r"[A-Za-z][A-Za-z0-9]*")
_WORDS = re.compile(r"[A-Z]+[a-z0-9]*|^[a-z][a-z0-9]*")
_LOWER_CAMEL = re.compile(r"[a-z][a-zA-Z0-9]*")


def event_name_issues(key: str) -> list[str]:
    if not _LETTERS.fullmatch(key):
        return [
            f"event type {key!r} is not PascalCase or camelCase: use letters and digits only, "
            "e.g. ProductViewed"
        ]
    if len(_WORDS.findall(key)) < 2:
        return [
            f"event type {key!r} does not read ObjectAction: name an object and a past-tense "
            "action, e.g. CartUpdated"
        ]
    return []


def param_name_issue(name: str) -> str | None:
    if name.lower() in ALIASES or _LOWER_CAMEL.fullmatch(name):
        return None  # eSputnik's own locator names (EmailAddress, ContactId…) are fine
    return f"param {name!r} is not lowerCamel, e.g. imageUrl"
