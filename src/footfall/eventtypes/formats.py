"""The ``format`` checks of type schemas, without the grammar jsonschema would load.

With the ``format-nongpl`` extra, jsonschema checks ``iri`` and ``iri-reference`` with
rfc3987-syntax, which compiles an Earley grammar when it is imported (about 4 s, on every start
of every command, since jsonschema imports it with itself) and whose parser then takes seconds
per kilobyte of input (7 s for a 5,000-character IRI: a client could stall a process). So
jsonschema is imported here with that package hidden, and the two formats are checked as RFC
3987 (section 3.1) maps an IRI to a URI: non-ASCII characters percent-encoded as UTF-8, then the
URI checked by rfc3986-validator's regular expression. This package's ``__init__`` imports this
module first, so jsonschema is never imported otherwise.
"""

from __future__ import annotations

import functools
import re
import sys
from urllib.parse import quote


def _import_jsonschema_without_rfc3987_syntax() -> None:
    if "jsonschema" in sys.modules:
        return
    hidden = "rfc3987_syntax" not in sys.modules
    if hidden:
        sys.modules["rfc3987_syntax"] = None  # type: ignore[assignment]  # "import" now fails
    try:
        import jsonschema  # noqa: F401
    finally:
        if hidden:
            del sys.modules["rfc3987_syntax"]


_import_jsonschema_without_rfc3987_syntax()

from jsonschema import FormatChecker  # noqa: E402
from jsonschema.protocols import Validator  # noqa: E402
from jsonschema.validators import (  # noqa: E402
    Draft7Validator,
    Draft201909Validator,
    Draft202012Validator,
)
from rfc3986_validator import validate_rfc3986  # noqa: E402

__all__ = ["format_checker", "is_iri", "is_iri_reference"]

_NON_ASCII = re.compile(r"[^\x00-\x7f]+")
_WITH_IRI = (Draft7Validator, Draft201909Validator, Draft202012Validator)


def _as_uri(iri: str) -> str:
    return _NON_ASCII.sub(lambda match: quote(match.group(), safe=""), iri)


def is_iri(instance: object) -> bool:
    return not isinstance(instance, str) or bool(validate_rfc3986(_as_uri(instance), "URI"))


def is_iri_reference(instance: object) -> bool:
    return not isinstance(instance, str) or bool(
        validate_rfc3986(_as_uri(instance), "URI_reference")
    )


@functools.cache
def format_checker(validator: type[Validator]) -> FormatChecker:
    """The formats of ``validator``'s draft, ``iri`` and ``iri-reference`` from draft 7 on."""
    checker = FormatChecker(())
    checker.checkers = dict(validator.FORMAT_CHECKER.checkers)
    if any(validator.FORMAT_CHECKER is draft.FORMAT_CHECKER for draft in _WITH_IRI):
        checker.checks("iri", raises=ValueError)(is_iri)
        checker.checks("iri-reference", raises=ValueError)(is_iri_reference)
    return checker
