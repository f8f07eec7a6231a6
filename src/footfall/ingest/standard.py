"""Required parameters of the standard e-commerce event types (the seed document, spec §3.1).

Each rule reads the already-parsed parameter values (JSON inside strings is decoded first) and raises
InvalidEvent naming exactly what is missing or wrong. Every other event type is free-form.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from footfall.exceptions import InvalidEvent

Rule = Callable[[str, Mapping[str, Any]], None]

_RECOM_VARIANT = re.compile(r"r\d+v\d+")


def _describe(value: Any) -> str:
    kind = {str: "a string", bool: "a boolean", dict: "an object", list: "an array"}.get(
        type(value), "null" if value is None else type(value).__name__
    )
    return f"{kind} ({value!r})" if isinstance(value, str | bool | int | float) else kind


def _required(event: str, params: Mapping[str, Any], name: str) -> Any:
    if name not in params:
        raise InvalidEvent(f"{event}: required parameter '{name}' is missing", field=name)
    return params[name]


def _object(event: str, value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidEvent(
            f"{event}: '{where}' must be a JSON object, got {_describe(value)}", field=where
        )
    return value


def _list(event: str, value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise InvalidEvent(
            f"{event}: '{where}' must be a JSON array, got {_describe(value)}", field=where
        )
    return value


def _field(event: str, obj: Mapping[str, Any], where: str, name: str) -> Any:
    if name not in obj or obj[name] is None:
        path = f"{where}.{name}"
        raise InvalidEvent(f"{event}: required field '{path}' is missing", field=path)
    return obj[name]


def _identifier(event: str, obj: Mapping[str, Any], where: str, name: str) -> None:
    value = _field(event, obj, where, name)
    ok = (isinstance(value, str) and value.strip() != "") or (
        isinstance(value, int) and not isinstance(value, bool)
    )
    if not ok:
        path = f"{where}.{name}"
        raise InvalidEvent(
            f"{event}: '{path}' must be a non-empty string, got {_describe(value)}", field=path
        )


def _number(event: str, obj: Mapping[str, Any], where: str, name: str) -> None:
    value = _field(event, obj, where, name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        path = f"{where}.{name}"
        raise InvalidEvent(
            f"{event}: '{path}' must be a number, got {_describe(value)}", field=path
        )


def _zero_or_one(event: str, value: Any, where: str) -> None:
    if value not in (0, 1, "0", "1") or isinstance(value, bool):
        raise InvalidEvent(
            f"{event}: '{where}' must be 0 or 1, got {_describe(value)}", field=where
        )


def _optional_in_stock(event: str, obj: Mapping[str, Any], where: str) -> None:
    if obj.get("isInStock") is not None:
        _zero_or_one(event, obj["isInStock"], f"{where}.isInStock")


def _product(event: str, params: Mapping[str, Any]) -> None:
    product = _object(event, _required(event, params, "product"), "product")
    _identifier(event, product, "product", "productId")
    _number(event, product, "product", "price")
    _optional_in_stock(event, product, "product")


def page_viewed(event: str, params: Mapping[str, Any]) -> None:
    page = _object(event, _required(event, params, "page"), "page")
    _identifier(event, page, "page", "location")


def category_viewed(event: str, params: Mapping[str, Any]) -> None:
    category = _object(event, _required(event, params, "category"), "category")
    _identifier(event, category, "category", "productCategoryId")


def cart_updated(event: str, params: Mapping[str, Any]) -> None:
    recycle = _required(event, params, "recycleStateId")
    if not (isinstance(recycle, str | int) and not isinstance(recycle, bool) and str(recycle)):
        raise InvalidEvent(
            f"{event}: 'recycleStateId' must be a non-empty string, got {_describe(recycle)}",
            field="recycleStateId",
        )
    products = params.get("products", [])
    for index, item in enumerate(_list(event, products, "products")):
        where = f"products[{index}]"
        _object(event, item, where)
        _identifier(event, item, where, "productId")
        _number(event, item, where, "quantity")
        _number(event, item, where, "price")


def impressions(event: str, params: Mapping[str, Any]) -> None:
    variant = _required(event, params, "recomVariantId")
    if not isinstance(variant, str) or not _RECOM_VARIANT.fullmatch(variant):
        raise InvalidEvent(
            f"{event}: 'recomVariantId' must look like r{{recomId}}v{{variantId}} (e.g. r554v778), "
            f"got {_describe(variant)}",
            field="recomVariantId",
        )
    products = _list(event, _required(event, params, "products"), "products")
    if not products:
        raise InvalidEvent(f"{event}: 'products' must list at least one product", field="products")
    for index, item in enumerate(products):
        where = f"products[{index}]"
        _object(event, item, where)
        _identifier(event, item, where, "productId")


def search_request(event: str, params: Mapping[str, Any]) -> None:
    search = _required(event, params, "search")
    if not isinstance(search, str):
        raise InvalidEvent(
            f"{event}: 'search' must be a string, got {_describe(search)}", field="search"
        )
    if params.get("isFound") is not None:
        _zero_or_one(event, params["isFound"], "isFound")


RULES: dict[str, Rule] = {
    "pageViewed": page_viewed,
    "productViewed": _product,
    "productCategoryViewed": category_viewed,
    "cartUpdated": cart_updated,
    "productImpressions": impressions,
    "productAddedToWishlist": _product,
    "searchRequest": search_request,
}


def validate_standard(event_type_key: str, params: Mapping[str, Any]) -> None:
    """Apply the built-in rule of a standard type; custom types pass unchecked."""
    rule = RULES.get(event_type_key)
    if rule is not None:
        rule(event_type_key, params)
