"""The SQL-writing helpers every capability shares, without a database."""

from __future__ import annotations

from footfall.store.core import backoff
from footfall.store.sql import Where, dumps, in_clause, loads


def test_optional_conditions_are_added_only_when_given() -> None:
    where = Where("workspace_id = ?", 7).equals("kind", None).equals("reason", "schema")
    where.at_least("t", 1).at_most("t", None).below("id", 9).among("id", ())
    assert where.sql == "workspace_id = ? AND reason = ? AND t >= ? AND id < ?"
    assert where.args == [7, "schema", 1, 9]


def test_in_lists_are_placeholders_or_one_array() -> None:
    assert in_clause("id", [1, 2, 3]) == ("id IN (?, ?, ?)", [1, 2, 3])
    assert in_clause("id", (1, 2), arrays=True) == ("id = ANY(?)", [[1, 2]])
    where = Where("a = ?", 1).among("id", [4, 5])
    assert (where.sql, where.args) == ("a = ? AND id IN (?, ?)", [1, 4, 5])


def test_json_columns_round_trip_from_text_or_decoded_values() -> None:
    value = {"products": [{"id": "p1", "price": 9.5}], "note": "é"}
    text = dumps(value)
    assert isinstance(text, str)
    assert loads(text) == value
    assert loads(value) is value  # PostgreSQL's JSONB arrives decoded
    assert dumps(None) is None and loads(None) is None


def test_backoff_grows_with_each_attempt() -> None:
    waits = [backoff(attempt) for attempt in range(5)]
    assert waits == sorted(waits) and waits[0] > 0
    assert sum(waits) < 0.2  # a retried transaction never waits long
