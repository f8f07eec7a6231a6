from __future__ import annotations

import pytest

from footfall.exceptions import InvalidEvent
from footfall.identity.locators import Locators, locate
from footfall.identity.normalize import is_junk, normalize_email, normalize_phone


def test_priority_and_aliases_are_case_insensitive() -> None:
    located = locate(
        [
            ("PushToken", "tok-1"),
            ("SMS", "+380501234567"),
            ("EmailAddress", "Foo@Example.COM"),
            ("ExternalCustomerId", "ext-9"),
        ]
    )
    assert located.derived_key == "ext-9"
    assert located.locators == Locators(None, "ext-9", "foo@example.com", "+380501234567", "tok-1")


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("contactId", "contact_id"),
        ("Contact_id", "contact_id"),
        ("UserEmail", "email"),
        ("ContactEmail", "email"),
        ("PhoneNumber", "phone"),
        ("MobPushToken", "push_token"),
    ],
)
def test_each_alias_is_a_locator(name: str, kind: str) -> None:
    value = {"contact_id": "42", "email": "a@b.co", "phone": "380501234567"}.get(kind, "tok")
    located = locate([(name, value)])
    assert getattr(located.locators, kind) is not None
    assert located.derived_key == value


def test_contact_id_wins_the_derived_key() -> None:
    assert locate([("email", "a@b.co"), ("contactId", 7)]).derived_key == "7"


@pytest.mark.parametrize("junk", ["", "  ", "null", "undefined", "NULL", None, "0", 0])
def test_junk_values_identify_nobody(junk: object) -> None:
    located = locate([("externalCustomerId", junk)])
    assert located.locators.empty
    assert located.derived_key is None


def test_invalid_email_is_reported_not_used() -> None:
    located = locate([("email", "not-an-email")])
    assert located.locators.email is None
    assert located.derived_key is None
    assert "not a valid e-mail" in located.problems[0]


def test_contact_id_must_be_a_positive_integer() -> None:
    with pytest.raises(InvalidEvent, match="contactId"):
        locate([("contactId", "abc")])


def test_phone_normalisation_to_e164() -> None:
    assert normalize_phone("380501234567") == "+380501234567"
    assert normalize_phone("+380 50 123 45 67") == "+380501234567"
    assert normalize_phone("+1 (650) 253-0000") == "+16502530000"
    assert normalize_phone("abc") is None
    assert normalize_phone("") is None


def test_email_normalisation_is_case_insensitive() -> None:
    assert normalize_email(" Foo.Bar@Example.COM ") == "foo.bar@example.com"
    assert normalize_email("foo@") is None


def test_is_junk() -> None:
    assert is_junk("undefined") and is_junk(" null ") and not is_junk("0x")
