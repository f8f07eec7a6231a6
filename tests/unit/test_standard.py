"""The built-in rules of the seed's standard event types."""

from __future__ import annotations

from typing import Any

import pytest

from footfall.exceptions import InvalidEvent
from footfall.ingest.standard import validate_standard

VALID: dict[str, dict[str, Any]] = {
    "pageViewed": {"page": {"location": "https://example.com"}},
    "productViewed": {"product": {"productId": "WS01", "price": 45.5, "isInStock": 1}},
    "productCategoryViewed": {"category": {"productCategoryId": "Mugs"}},
    "cartUpdated": {
        "recycleStateId": "d59c6e6d",
        "products": [{"productId": "WS01", "quantity": 1, "price": 45.5}],
    },
    "productImpressions": {"recomVariantId": "r554v778", "products": [{"productId": "WS01"}]},
    "productAddedToWishlist": {"product": {"productId": "WS01", "price": 10}},
    "searchRequest": {"search": "mug", "isFound": 1},
}


@pytest.mark.parametrize("event_type", sorted(VALID))
def test_valid_examples_pass(event_type: str) -> None:
    validate_standard(event_type, VALID[event_type])


@pytest.mark.parametrize(
    ("event_type", "params", "field"),
    [
        ("pageViewed", {}, "page"),
        ("pageViewed", {"page": {}}, "page.location"),
        ("pageViewed", {"page": "https://e.com"}, "page"),
        ("productViewed", {"product": {"price": 1}}, "product.productId"),
        ("productViewed", {"product": {"productId": "1"}}, "product.price"),
        ("productViewed", {"product": {"productId": "1", "price": "45.5"}}, "product.price"),
        (
            "productViewed",
            {"product": {"productId": "1", "price": 1, "isInStock": 2}},
            "product.isInStock",
        ),
        ("productCategoryViewed", {"category": {}}, "category.productCategoryId"),
        ("cartUpdated", {"products": []}, "recycleStateId"),
        (
            "cartUpdated",
            {"recycleStateId": "r", "products": [{"quantity": 1, "price": 1}]},
            "products[0].productId",
        ),
        (
            "cartUpdated",
            {"recycleStateId": "r", "products": [{"productId": "1", "price": 1}]},
            "products[0].quantity",
        ),
        (
            "cartUpdated",
            {"recycleStateId": "r", "products": [{"productId": "1", "quantity": 1}]},
            "products[0].price",
        ),
        ("cartUpdated", {"recycleStateId": "r", "products": {}}, "products"),
        ("productImpressions", {"products": [{"productId": "1"}]}, "recomVariantId"),
        (
            "productImpressions",
            {"recomVariantId": "554-778", "products": [{"productId": "1"}]},
            "recomVariantId",
        ),
        (
            "productImpressions",
            {"recomVariantId": "r1v2", "products": [{}]},
            "products[0].productId",
        ),
        ("productAddedToWishlist", {"product": {"productId": "1"}}, "product.price"),
        ("searchRequest", {}, "search"),
        ("searchRequest", {"search": "x", "isFound": 2}, "isFound"),
    ],
)
def test_each_violation_names_its_field(
    event_type: str, params: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidEvent) as caught:
        validate_standard(event_type, params)
    assert caught.value.field == field
    assert field in str(caught.value)


def test_empty_cart_and_custom_types_are_valid() -> None:
    validate_standard("cartUpdated", {"recycleStateId": "r", "products": []})
    validate_standard("cartUpdated", {"recycleStateId": "r"})
    validate_standard("somethingCustom", {})
