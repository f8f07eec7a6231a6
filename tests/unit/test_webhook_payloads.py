"""The order of a delivery's items when the database's aggregate did not keep it."""

from __future__ import annotations

import msgspec

from footfall.store.webhooks import in_order


def test_items_in_order_are_kept_as_they_are() -> None:
    joined = b'{"id":1},{"id":2,"a":[1,2]}'
    assert in_order(joined, [10, 11]) == b"[" + joined + b"]"


def test_items_out_of_order_are_put_in_the_order_of_their_outbox_ids() -> None:
    joined = b'{"id":3,"s":"x,y"},{"id":1,"n":[1,{"k":"}"}]},{"id":2}'
    ordered = in_order(joined, [30, 10, 20])
    assert [item["id"] for item in msgspec.json.decode(ordered)] == [1, 2, 3]
    assert msgspec.json.decode(ordered)[0] == {"id": 1, "n": [1, {"k": "}"}]}
