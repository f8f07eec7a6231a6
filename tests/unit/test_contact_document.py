"""The contact document of the contacts API: decoding, validation and normalisation, no database."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest

from footfall.exceptions import InvalidContact, MalformedBody
from footfall.identity.contacts import (
    Channel,
    ContactBody,
    ContactInput,
    decode_contact,
    decode_contact_request,
    field_id,
    validate,
)
from footfall.identity.locators import MAX_LOCATOR, Locators

UNSET = msgspec.UNSET


def decode(**document: Any) -> ContactInput:
    return decode_contact(json.dumps(document).encode())


def refused(**document: Any) -> InvalidContact:
    with pytest.raises(InvalidContact) as caught:
        decode(**document)
    return caught.value


def email(value: Any) -> dict[str, Any]:
    return {"type": "email", "value": value}


def sms(value: Any) -> dict[str, Any]:
    return {"type": "sms", "value": value}


def test_a_full_document_is_normalised() -> None:
    doc = decode(
        externalCustomerId="  crm-1 ",
        firstName=" Ann ",
        lastName="Lee",
        channels=[email(" Ann.Lee@Example.COM "), sms("+380 (50) 123-45-67")],
        address={
            "region": " Kyiv ",
            "town": "Kyiv",
            "address": "Khreshchatyk 1",
            "postcode": "01001",
        },
        fields=[{"id": 7, "value": "gold"}, {"id": " pets ", "value": 2}],
        languageCode=" uk-UA ",
        timeZone=" Europe/Kyiv ",
    )
    assert doc == ContactInput(
        id=None,
        external_id="crm-1",
        first_name="Ann",
        last_name="Lee",
        channels=(
            Channel("email", "email", "ann.lee@example.com"),
            Channel("phone", "sms", "+380501234567"),
        ),
        address={
            "region": "Kyiv",
            "town": "Kyiv",
            "address": "Khreshchatyk 1",
            "postcode": "01001",
        },
        fields={"7": "gold", "pets": 2},
        language_code="uk-UA",
        time_zone="Europe/Kyiv",
    )


def test_left_out_fields_are_unset_and_nulls_are_none() -> None:
    left_out = decode(externalCustomerId="crm-1")
    assert left_out.first_name is UNSET
    assert left_out.last_name is UNSET
    assert left_out.channels is UNSET
    assert left_out.address is UNSET
    assert left_out.fields is UNSET
    assert left_out.language_code is UNSET
    assert left_out.time_zone is UNSET

    nulls = decode(
        externalCustomerId=None,
        firstName=None,
        lastName=None,
        channels=None,
        address=None,
        fields=None,
        languageCode=None,
        timeZone=None,
    )
    assert nulls.external_id is None
    assert nulls.first_name is None
    assert nulls.last_name is None
    assert nulls.channels == ()  # null channels: clear them all
    assert nulls.address is None
    assert nulls.fields is None
    assert nulls.language_code is None
    assert nulls.time_zone is None


def test_blank_names_and_an_empty_address_become_null() -> None:
    doc = decode(firstName="   ", lastName="", address={"region": " ", "town": None})
    assert doc.first_name is None
    assert doc.last_name is None
    assert doc.address is None
    partial = decode(address={"town": " Lviv ", "postcode": ""})
    assert partial.address == {"town": "Lviv"}


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("Foo@Example.COM", "foo@example.com"),
        ("  foo@example.com  ", "foo@example.com"),
        ("Ünï@Exämple.com", "ünï@exämple.com"),
    ],
)
def test_emails_are_lower_cased_and_trimmed(given: str, stored: str) -> None:
    assert decode(channels=[email(given)]).channels == (Channel("email", "email", stored),)


@pytest.mark.parametrize(
    "given",
    ["+380501234567", "380501234567", "+380 (50) 123-45-67", "380-50-123-45-67", 380501234567],
)
def test_phones_are_stored_in_e164(given: Any) -> None:
    assert decode(channels=[sms(given)]).channels == (Channel("phone", "sms", "+380501234567"),)


def test_channel_types_are_case_insensitive_and_map_to_identifier_kinds() -> None:
    doc = decode(
        channels=[
            {"type": " EMAIL ", "value": "a@example.com"},
            {"type": "SMS", "value": "+48601234567"},
            {"type": "webpush", "value": "wp-token"},
            {"type": "mobilepush", "value": "mp-token"},
            {"type": "Viber", "value": " viber-1 "},
            {"type": "telegram", "value": "tg-1"},
        ]
    )
    assert doc.channels == (
        Channel("email", "email", "a@example.com"),
        Channel("phone", "sms", "+48601234567"),
        Channel("pushToken", "webpush", "wp-token"),
        Channel("pushToken", "mobilepush", "mp-token"),
        Channel("viber", "viber", "viber-1"),
        Channel("telegram", "telegram", "tg-1"),
    )
    assert {c.kind for c in doc.channels} == {"email", "phone", "pushToken", "viber", "telegram"}
    assert doc.channel_types() == {"email", "sms", "webpush", "mobilepush", "viber", "telegram"}


def test_the_same_channel_twice_is_kept_once() -> None:
    doc = decode(channels=[email("a@example.com"), email("A@EXAMPLE.com")])
    assert doc.channels == (Channel("email", "email", "a@example.com"),)


def test_two_channels_of_a_type_are_allowed_and_a_third_is_not() -> None:
    two_each = decode(
        channels=[
            email("a@example.com"),
            email("b@example.com"),
            sms("+380501234567"),
            sms("+380501234568"),
        ]
    )
    assert isinstance(two_each.channels, tuple)
    assert len(two_each.channels) == 4
    error = refused(
        channels=[
            sms("+380501234567"),
            email("a@example.com"),
            sms("+380501234568"),
            sms("+380501234569"),
        ]
    )
    assert "channels[3].type" in error.field  # type: ignore[operator]
    assert "at most 2 sms channels" in str(error)


def test_an_unknown_channel_type_names_the_field_and_the_known_types() -> None:
    error = refused(channels=[email("a@example.com"), {"type": "fax", "value": "123"}])
    assert "channels[1].type" in str(error)
    assert "'fax'" in str(error)
    assert "email" in str(error) and "sms" in str(error)


@pytest.mark.parametrize(
    "channel",
    [
        email("not-an-email"),
        email("a@b"),
        email("two@@example.com"),
        sms("12"),
        sms("not a phone"),
        sms("+1"),
        email(""),
        email("   "),
        email("null"),
        sms("undefined"),
        {"type": "viber", "value": "0"},
        email(None),
        email(True),
        email({"a": 1}),
        email(["a@example.com"]),
        email("x" * (MAX_LOCATOR - 12) + "@example.com"),
        {"type": "viber", "value": "v" * (MAX_LOCATOR + 1)},
        {"type": "viber", "value": "a\x00b"},
    ],
)
def test_a_bad_channel_value_names_the_field(channel: dict[str, Any]) -> None:
    error = refused(externalCustomerId="crm-1", channels=[sms("+380501234567"), channel])
    assert "channels[1].value" in str(error)
    assert error.field == "channels[1].value"


def test_a_channel_value_at_the_length_limit_is_accepted() -> None:
    value = "v" * MAX_LOCATOR
    assert decode(channels=[{"type": "viber", "value": value}]).channels == (
        Channel("viber", "viber", value),
    )


def test_external_ids_are_strings_trimmed() -> None:
    assert decode(externalCustomerId=" crm-9 ").external_id == "crm-9"
    assert decode(externalCustomerId=42).external_id == "42"
    assert decode(externalCustomerId="x" * MAX_LOCATOR).external_id == "x" * MAX_LOCATOR


@pytest.mark.parametrize("junk", ["null", "undefined", "None", "0", " nil ", "NaN"])
def test_a_placeholder_external_id_is_refused(junk: str) -> None:
    error = refused(externalCustomerId=junk)
    assert "externalCustomerId" in str(error)
    assert "placeholder" in str(error)


@pytest.mark.parametrize("blank", ["", "   "])
def test_a_blank_external_id_is_refused_like_other_placeholders(blank: str) -> None:
    error = refused(externalCustomerId=blank)
    assert "externalCustomerId" in str(error)


@pytest.mark.parametrize("value", [True, False, [1], {"id": 1}, 1.5])
def test_an_external_id_of_the_wrong_type_names_the_field(value: Any) -> None:
    error = refused(externalCustomerId=value)
    assert "externalCustomerId" in str(error)


def test_an_external_id_over_the_locator_limit_is_refused() -> None:
    error = refused(externalCustomerId="x" * (MAX_LOCATOR + 1))
    assert "externalCustomerId" in str(error)
    assert str(MAX_LOCATOR) in str(error)


@pytest.mark.parametrize("name", ["firstName", "lastName"])
def test_names_are_limited_to_300_characters(name: str) -> None:
    accepted = decode(**{name: "  " + "é" * 300 + "  "})
    assert getattr(accepted, "first_name" if name == "firstName" else "last_name") == "é" * 300
    error = refused(**{name: "é" * 301})
    assert name in str(error)
    assert "300" in str(error)


@pytest.mark.parametrize("name", ["firstName", "lastName"])
def test_a_nul_in_a_name_is_refused(name: str) -> None:
    assert name in str(refused(**{name: "An\x00n"}))


@pytest.mark.parametrize("part", ["region", "town", "address", "postcode"])
def test_address_parts_are_limited_too(part: str) -> None:
    error = refused(address={part: "x" * 301})
    assert f"address.{part}" in str(error)


def test_custom_field_ids_are_strings_and_values_any_json() -> None:
    doc = decode(
        fields=[
            {"id": 1, "value": "one"},
            {"id": "two", "value": 2},
            {"id": "list", "value": [1, {"a": None}]},
            {"id": "none"},
        ]
    )
    assert doc.fields == {"1": "one", "two": 2, "list": [1, {"a": None}], "none": None}


def test_the_last_value_of_a_repeated_field_wins() -> None:
    assert decode(fields=[{"id": 5, "value": "a"}, {"id": "5", "value": "b"}]).fields == {"5": "b"}


@pytest.mark.parametrize("field_id", ["", "   ", "x" * 101])
def test_a_bad_custom_field_id_names_it(field_id: str) -> None:
    error = refused(fields=[{"id": "ok", "value": 1}, {"id": field_id, "value": 1}])
    assert "fields[1].id" in str(error)


def test_a_custom_field_id_of_100_characters_is_accepted() -> None:
    assert decode(fields=[{"id": "x" * 100, "value": 1}]).fields == {"x" * 100: 1}


def test_a_nul_in_a_custom_field_value_is_refused() -> None:
    assert "fields[0].value" in str(refused(fields=[{"id": "a", "value": "x\x00y"}]))


def test_at_most_500_custom_fields() -> None:
    fields = [{"id": i, "value": i} for i in range(500)]
    assert len(decode(fields=fields).fields or {}) == 500
    error = refused(fields=[*fields, {"id": 500, "value": 1}])
    assert "fields" in str(error)
    assert "500" in str(error)


@pytest.mark.parametrize("code", ["en", "uk-UA", "uk_UA", "zh-Hant-TW", "EN", "ast"])
def test_language_codes_are_accepted(code: str) -> None:
    assert decode(languageCode=f" {code} ").language_code == code


@pytest.mark.parametrize(
    "code", ["english!", "e", "", "  ", "en-", "12", "en-U", "en UA", "en\x00"]
)
def test_a_bad_language_code_names_the_field(code: str) -> None:
    error = refused(languageCode=code)
    assert "languageCode" in str(error)
    assert error.field == "languageCode"


@pytest.mark.parametrize("zone", ["Europe/Kyiv", "UTC", "America/New_York", "Asia/Kolkata"])
def test_iana_time_zones_are_accepted(zone: str) -> None:
    assert decode(timeZone=f" {zone} ").time_zone == zone


@pytest.mark.parametrize(
    "zone",
    [
        "Mars/Olympus",
        "",
        "Europe",
        "../../etc/passwd",
        "/usr/share/zoneinfo/UTC",
        "Europe/Kyiv\x00",
        "+03:00",
    ],
)
def test_a_bad_time_zone_names_the_field(zone: str) -> None:
    error = refused(timeZone=zone)
    assert "timeZone" in str(error)
    assert error.field == "timeZone"


@pytest.mark.parametrize("value", [0, -1])
def test_an_id_must_be_positive(value: int) -> None:
    assert "id must be a positive integer" in str(refused(id=value))


def test_a_positive_id_is_kept() -> None:
    assert decode(id=12, externalCustomerId="a").id == 12
    assert decode(externalCustomerId="a").id is None


@pytest.mark.parametrize(
    ("document", "path"),
    [
        ({"firstName": 5}, "$.firstName"),
        ({"channels": {"type": "email"}}, "$.channels"),
        ({"channels": [{"value": "a@example.com"}]}, "$.channels[0]"),
        ({"address": "Kyiv"}, "$.address"),
        ({"fields": [{"value": 1}]}, "$.fields[0]"),
        ({"timeZone": 3}, "$.timeZone"),
        ({"id": "7"}, "$.id"),
    ],
)
def test_a_wrong_json_type_is_invalid_and_names_the_path(
    document: dict[str, Any], path: str
) -> None:
    error = refused(**document)
    field = path.removeprefix("$.")
    assert str(error).startswith(f"{field}: ")
    assert error.field == field


@pytest.mark.parametrize("body", [b"", b"{", b'{"firstName": "a",}', b"\xff", b"{'a': 1}"])
def test_malformed_json_is_a_malformed_body(body: bytes) -> None:
    with pytest.raises(MalformedBody):
        decode_contact(body)


@pytest.mark.parametrize("body", [b"[]", b'"x"', b"null", b"5"])
def test_a_body_that_is_not_an_object_is_invalid(body: bytes) -> None:
    with pytest.raises(InvalidContact):
        decode_contact(body)


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ({"firstName": "x" * 301}, "contacts[3].firstName"),
        ({"lastName": "x" * 301}, "contacts[3].lastName"),
        ({"channels": [{"type": "fax", "value": "1"}]}, "contacts[3].channels[0].type"),
        ({"channels": [email("nope")]}, "contacts[3].channels[0].value"),
        ({"timeZone": "Mars/Olympus"}, "contacts[3].timeZone"),
        ({"languageCode": "english!"}, "contacts[3].languageCode"),
        ({"externalCustomerId": "null"}, "contacts[3].externalCustomerId"),
        ({"address": {"town": "x" * 301}}, "contacts[3].address.town"),
        ({"fields": [{"id": "", "value": 1}]}, "contacts[3].fields[0].id"),
        ({"id": 0}, "contacts[3].id"),
    ],
)
def test_validate_prefixes_fields_with_where(document: dict[str, Any], field: str) -> None:
    raw = msgspec.json.decode(json.dumps(document).encode(), type=ContactBody)
    with pytest.raises(InvalidContact) as caught:
        validate(raw, where="contacts[3].")
    assert field in str(caught.value)


def test_identifiers_and_locators_of_a_document() -> None:
    doc = decode(
        externalCustomerId="crm-1",
        channels=[
            email("b@example.com"),
            sms("+380501234567"),
            email("a@example.com"),
            {"type": "webpush", "value": "tok"},
        ],
    )
    assert doc.identifiers() == [
        ("externalCustomerId", "crm-1"),
        ("email", "b@example.com"),
        ("phone", "+380501234567"),
        ("email", "a@example.com"),
        ("pushToken", "tok"),
    ]
    assert doc.locators() == Locators(None, "crm-1", "b@example.com", "+380501234567", "tok", None)
    assert decode(firstName="x").identifiers() == []
    assert decode(firstName="x").channel_types() == set()
    assert decode(externalCustomerId=None, channels=None).identifiers() == []


# -- the body of POST /contact and PUT /contact/{id} -----------------------------------------

ESPUTNIK_CONTACT = {
    "firstName": "Ann",
    "channels": [email("Ann@Example.com")],
    "fields": [{"id": 123, "value": "gold"}],
}


def request(body: Any) -> ContactInput:
    return decode_contact_request(json.dumps(body).encode())


def test_a_request_body_may_be_bare_or_wrapped_as_esputnik_clients_send_it() -> None:
    bare = request(ESPUTNIK_CONTACT)
    assert bare.first_name == "Ann"
    assert bare.fields == {"123": "gold"}
    assert bare == decode_contact(json.dumps(ESPUTNIK_CONTACT).encode())
    wrapped = {"contact": ESPUTNIK_CONTACT, "groups": None, "formType": None}
    assert request(wrapped) == bare
    assert request({"contact": ESPUTNIK_CONTACT, "groups": [{"name": "vip"}]}) == bare


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"id": 5},
        {"groups": None, "formType": None},
        {"contact": {}, "groups": None, "formType": None},
        {"contact": {"id": 5}},
        {"first_name": "Ann", "email": "ann@example.com"},
        {"contact": {"FirstName": "Ann"}},
    ],
)
def test_a_request_naming_no_contact_field_is_refused_naming_what_is_expected(body: Any) -> None:
    with pytest.raises(InvalidContact) as caught:
        request(body)
    message = str(caught.value)
    assert "no contact field" in message
    assert "externalCustomerId, firstName, lastName, channels" in message
    assert '{"contact": {...}}' in message


@pytest.mark.parametrize(
    "body",
    [
        {"contact": ESPUTNIK_CONTACT, "firstName": "Bob"},
        {"contact": ESPUTNIK_CONTACT, "id": 5},
    ],
)
def test_a_request_both_bare_and_wrapped_is_refused(body: Any) -> None:
    with pytest.raises(InvalidContact, match="either bare or wrapped"):
        request(body)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"contact": {"channels": [email("nope")]}}, "contact.channels[0].value"),
        ({"contact": {"firstName": 5}}, "contact.firstName"),
        ({"contact": None}, "contact"),
        ({"contact": "Ann"}, "contact"),
    ],
)
def test_an_invalid_wrapped_document_names_the_field_inside_contact(body: Any, field: str) -> None:
    with pytest.raises(InvalidContact) as caught:
        request(body)
    assert str(caught.value).startswith(field)


@pytest.mark.parametrize(
    ("stored", "answered"),
    [
        ("123", 123),
        ("0", 0),
        ("-7", -7),
        ("9" * 18, int("9" * 18)),
        ("9" * 19, "9" * 19),
        ("007", "007"),
        ("-0", "-0"),
        ("+5", "+5"),
        ("1.5", "1.5"),
        ("\u0663", "\u0663"),
        ("pets", "pets"),
    ],
)
def test_stored_custom_field_ids_that_read_as_integers_are_answered_as_numbers(
    stored: str, answered: int | str
) -> None:
    assert field_id(stored) == answered
    assert type(field_id(stored)) is type(answered)
