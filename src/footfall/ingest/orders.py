"""Orders API: up to 1000 orders, upserted by externalOrderId, each emitting ``order<STATUS>``."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import msgspec

from footfall.decoding import ANY, MAX_DEPTH, deeper_than
from footfall.exceptions import InvalidEvent, TooDeep
from footfall.identity.locators import locate
from footfall.ingest.dates import parse_iso, to_us
from footfall.ingest.events import check_key_value, decode, refuse_nul
from footfall.ingest.models import OrdersBody
from footfall.records import NewEvent, NewOrder

MAX_ORDERS = 1000
STATUSES = frozenset(
    {"INITIALIZED", "IN_PROGRESS", "DELIVERED", "CANCELLED", "ABANDONED_SHOPPING_CART"}
)
REQUIRED = ("externalOrderId", "totalCost", "status", "date", "currency")

_batch_decoder = msgspec.json.Decoder(OrdersBody)
_encoder = msgspec.json.Encoder()


@dataclass(slots=True)
class OrdersBatch:
    accepted: list[NewOrder]
    failed: list[dict[str, Any]]


def _finite(number: float) -> bool:
    try:
        return math.isfinite(float(number))
    except OverflowError:
        return False


def _validate(order: Any) -> dict[str, Any]:
    if not isinstance(order, dict):
        raise InvalidEvent("an order must be a JSON object")
    if deeper_than(order, MAX_DEPTH + 1):
        raise TooDeep(f"the order nests objects and arrays more than {MAX_DEPTH} levels deep")
    for name in REQUIRED:
        if order.get(name) is None or order.get(name) == "":
            raise InvalidEvent(f"required field '{name}' is missing", field=name)
    external_id = order["externalOrderId"]
    if isinstance(external_id, bool) or not isinstance(external_id, str | int):
        raise InvalidEvent("'externalOrderId' must be a string", field="externalOrderId")
    check_key_value(str(external_id), field="externalOrderId")
    cost = order["totalCost"]
    if isinstance(cost, bool) or not isinstance(cost, int | float) or not _finite(cost):
        raise InvalidEvent(f"'totalCost' must be a number, got {cost!r}", field="totalCost")
    if not isinstance(order["status"], str) or order["status"] not in STATUSES:
        raise InvalidEvent(
            f"'status' must be one of {', '.join(sorted(STATUSES))}; got {order['status']!r}",
            field="status",
        )
    if not isinstance(order["date"], str) or parse_iso(order["date"]) is None:
        raise InvalidEvent(
            f"'date' must be an ISO 8601 date-time, got {order['date']!r}", field="date"
        )
    currency = order["currency"]
    if not isinstance(currency, str) or not 1 <= len(currency.strip()) <= 16:
        raise InvalidEvent(
            f"'currency' must be an ISO 4217 code such as USD, got {currency!r}", field="currency"
        )
    items = order.get("items")
    if items is not None:
        if not isinstance(items, list):
            raise InvalidEvent("'items' must be an array", field="items")
        for index, item in enumerate(items):
            if not isinstance(item, dict) or item.get("externalItemId") in (None, ""):
                raise InvalidEvent(f"items[{index}].externalItemId is required", field="items")
            if item.get("quantity") is None:
                raise InvalidEvent(f"items[{index}].quantity is required", field="items")
    return order


def _occurred(date: str, now_us: int) -> int:
    """When the order's event happened: the order's ``date``; the time received when that date
    is later (clock skew) or before 1970, where no event is."""
    moment = parse_iso(date)
    occurred = now_us if moment is None else to_us(moment)
    return occurred if 0 <= occurred <= now_us else now_us


def _to_new_order(order: dict[str, Any], workspace_id: int, now_us: int) -> NewOrder:
    located = locate((name, order.get(name)) for name in ("externalCustomerId", "email", "phone"))
    if located.locators.empty:
        detail = "; ".join(located.problems)
        raise InvalidEvent(
            "the order needs externalCustomerId, email or phone to identify the contact"
            + (f": {detail}" if detail else ""),
            field="externalCustomerId",
        )
    external_id = str(order["externalOrderId"])
    params = [
        {"name": "externalOrderId", "value": external_id},
        {"name": "orderId", "value": external_id},
    ]
    params += [{"name": k, "value": v} for k, v in order.items() if k != "externalOrderId"]
    data = _encoder.encode(order).decode()
    refuse_nul(data)
    event = NewEvent(
        workspace_id=workspace_id,
        event_type_key=f"order{order['status']}",
        key_value=external_id,
        params_json=_encoder.encode(params).decode(),
        raw=data,
        source="order",
        occurred_us=_occurred(order["date"], now_us),
        received_us=now_us,
        locators=located.locators,
    )
    return NewOrder(
        workspace_id=workspace_id,
        external_order_id=external_id,
        status=order["status"],
        total_cost=float(order["totalCost"]),
        currency=order["currency"],
        order_date=order["date"],
        data_json=data,
        event=event,
    )


def parse_orders(body: bytes, *, workspace_id: int, now_us: int) -> OrdersBatch:
    batch: OrdersBody = decode(body, _batch_decoder)
    if len(batch.orders) > MAX_ORDERS:
        raise InvalidEvent(
            f"too many orders: {len(batch.orders)}; at most {MAX_ORDERS} per request",
            field="orders",
        )
    accepted: list[NewOrder] = []
    failed: list[dict[str, Any]] = []
    for raw in batch.orders:
        try:
            order = decode(raw, ANY, "order")
        except InvalidEvent as exc:
            failed.append({"order": bytes(raw).decode(errors="replace"), "error": str(exc)})
            continue
        try:
            accepted.append(_to_new_order(_validate(order), workspace_id, now_us))
        except InvalidEvent as exc:
            failed.append({"order": order, "error": str(exc)})
    return OrdersBatch(accepted, failed)
