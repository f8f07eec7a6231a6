"""The subscription document: what is accepted, and each refusal naming its field."""

from __future__ import annotations

from typing import Any

import pytest

from footfall.exceptions import InvalidWebhook
from footfall.records import WebhookSpec
from footfall.webhooks.specs import parse_spec

URL = "https://hooks.example.com/in"


def test_defaults_and_a_full_document() -> None:
    assert parse_spec({"url": URL}) == WebhookSpec(URL)
    full = parse_spec(
        {
            "url": URL,
            "eventTypes": ["cartUpdated", "cartUpdated", "orderCREATED"],
            "streams": ["identity", "events"],
            "batchSize": 1000,
            "basicAuth": {"username": "shop", "password": "p:ss"},
        }
    )
    assert full.event_types == ("cartUpdated", "orderCREATED")  # duplicates dropped
    assert full.streams == ("events", "identity")
    assert (full.batch_size, full.basic_username, full.basic_password) == (1000, "shop", "p:ss")


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ([], "body"),
        ({}, "url"),
        ({"url": " "}, "url"),
        ({"url": URL, "extra": 1}, "extra"),
        ({"url": URL, "eventTypes": "cartUpdated"}, "eventTypes"),
        ({"url": URL, "eventTypes": ["a\x00"]}, "eventTypes"),
        ({"url": URL, "eventTypes": ["a/b"]}, "eventTypes"),
        ({"url": URL, "eventTypes": ["x" * 101]}, "eventTypes"),
        ({"url": URL, "eventTypes": [f"t{n}" for n in range(201)]}, "eventTypes"),
        ({"url": URL, "streams": []}, "streams"),
        ({"url": URL, "streams": ["orders"]}, "streams"),
        ({"url": URL, "batchSize": 0}, "batchSize"),
        ({"url": URL, "batchSize": 1001}, "batchSize"),
        ({"url": URL, "batchSize": True}, "batchSize"),
        ({"url": URL, "batchSize": "10"}, "batchSize"),
        ({"url": URL, "basicAuth": "shop:pw"}, "basicAuth"),
        ({"url": URL, "basicAuth": {"username": "a", "password": "b", "x": 1}}, "basicAuth"),
        ({"url": URL, "basicAuth": {"username": "a\x00", "password": "b"}}, "basicAuth.username"),
        ({"url": URL, "basicAuth": {"username": "a:b", "password": "b"}}, "basicAuth.username"),
        ({"url": URL, "basicAuth": {"username": "a", "password": "b\r\n"}}, "basicAuth.password"),
        ({"url": URL, "basicAuth": {"username": "a", "password": "x" * 201}}, "basicAuth.password"),
    ],
)
def test_each_refusal_names_its_field(document: Any, field: str) -> None:
    with pytest.raises(InvalidWebhook) as refused:
        parse_spec(document)
    assert refused.value.field == field


def test_a_refused_event_type_key_is_quoted_short() -> None:
    with pytest.raises(InvalidWebhook) as raised:
        parse_spec({"url": "https://hooks.example.com/", "eventTypes": ["a/" * 50_000]})
    assert raised.value.field == "eventTypes"
    assert len(raised.value.message) < 400 and "100000 characters" in raised.value.message
