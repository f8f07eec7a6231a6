"""Query and path parameters: integers refused before Python's digit limit, cursors refused
whatever they hold (no server)."""

from __future__ import annotations

import pytest

from footfall.exceptions import InvalidQuery
from footfall.web.params import MAX_ID, decode_cursor, encode_cursor, integer, whole_number


@pytest.mark.parametrize("given", ["0", "7", "0007", str(MAX_ID)])
def test_whole_numbers_up_to_the_largest_id_are_read(given: str) -> None:
    assert whole_number(given, "limit") == int(given)


@pytest.mark.parametrize(
    "given",
    ["9" * 5000, "1" + "0" * 19, "0" * 20 + "1", str(MAX_ID + 1), "-1", "1.0", "\u0661", "²"],
)
def test_anything_else_is_refused_with_a_short_message_naming_the_parameter(given: str) -> None:
    with pytest.raises(InvalidQuery) as caught:
        whole_number(given, "before")
    assert str(caught.value).startswith("before must be an integer from 0 to ")
    assert len(str(caught.value)) < 120


def test_a_path_id_starts_at_one_and_an_absent_parameter_is_the_default() -> None:
    with pytest.raises(InvalidQuery, match=r"^the id must be an integer from 1 "):
        whole_number("0", "the id", least=1)
    assert integer({}, "limit", 5) == 5
    assert integer({"limit": ""}, "limit", 5) == 5


@pytest.mark.parametrize(
    "cursor", ["\udc80", "MTI6\udc80", "\ufffd", "bm90IGEgY3Vyc29y", "LTE6MQ=="]
)
def test_a_cursor_this_api_did_not_give_out_is_refused(cursor: str) -> None:
    with pytest.raises(InvalidQuery, match="is not a cursor this API returned"):
        decode_cursor(cursor)


def test_a_cursor_given_out_reads_back() -> None:
    assert decode_cursor(encode_cursor(12, MAX_ID)) == (12, MAX_ID)
