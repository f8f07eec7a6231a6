"""Finding a person's identifiers in stored bodies, in every form clients write them."""

from __future__ import annotations

import json
import re

import pytest

from footfall.identity.mentions import Person

ERIN = Person.of(
    [
        ("email", "erin.ödegaard@example.com"),
        ("phone", "+442079460958"),
        ("externalCustomerId", "crm/42"),
        ("anonymousId", "cookie-7"),
    ]
)


def body(**params: object) -> str:
    return json.dumps(
        {"eventTypeKey": "t", "params": [{"name": n, "value": v} for n, v in params.items()]}
    )


NAMING = [
    body(email="Erin.Ödegaard@Example.COM"),
    body(profile=json.dumps({"email": "erin.ödegaard@example.com"})),
    body(deep=json.dumps({"a": [json.dumps({"contact": {"phone": "+44 20 7946 0958"}})]})),
    body(note="write to erin.ödegaard@example.com, she said"),
    body(phone="+44 20 7946-0958"),
    body(phone="+44 (0)20 7946 0958"),
    body(phone="0044 20 7946 0958"),
    body(phone="020 7946 0958"),
    body(phone=442079460958),
    body(customer="crm/42"),
    json.dumps({"eventTypeKey": "t", "keyValue": "cookie-7", "params": []}),
    '{"truncated": "erin.ödegaard@example.com", "more',
]

NOT_NAMING = [
    body(email="erin.odegaard@example.com"),
    body(note="erin.ödegaard@example.company"),
    body(phone="+44 20 7946 0959"),
    body(order="2079460958123"),
    body(customer="crm/421"),
    body(note="cookie-77"),
]


@pytest.mark.parametrize("raw", NAMING)
def test_a_body_naming_the_person_in_any_form_is_found(raw: str) -> None:
    assert ERIN.named_in(raw)


@pytest.mark.parametrize("raw", NOT_NAMING)
def test_a_body_naming_someone_else_is_not(raw: str) -> None:
    assert not ERIN.named_in(raw)


def test_the_key_is_checked_in_any_phone_format() -> None:
    assert ERIN.named_in(body(what="nothing"), key_value="+44 20 7946 0958")
    assert not ERIN.named_in(body(what="nothing"), key_value="+44 20 7946 0000")


@pytest.mark.parametrize("raw", NAMING)
@pytest.mark.parametrize("encode", ["plain", "ascii", "slashes"])
def test_every_naming_body_passes_the_coarse_database_filter(raw: str, encode: str) -> None:
    """The SQL filter must never drop a body that names the person, however it was escaped."""
    if encode == "ascii":
        raw = raw.encode("ascii", "backslashreplace").decode().replace("\\x", "\\u00")
    if encode == "slashes":
        raw = raw.replace("/", "\\/")
    lowered = raw.lower()
    in_order = [re.compile(".*".join(d), re.DOTALL) for d in ERIN.phone_digits()]
    assert any(term in lowered for term in ERIN.search_terms()) or any(
        digits.search(raw) for digits in in_order
    )


def test_nobody_names_a_person_without_identifiers() -> None:
    assert Person.of([]).empty
    assert not Person.of([]).named_in(body(email="a@b.c"))
