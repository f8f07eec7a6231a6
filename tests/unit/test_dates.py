from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone

import pytest

from footfall.ingest.dates import from_us, parse_iso, to_us


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2023-03-22", datetime(2023, 3, 22, tzinfo=UTC)),
        ("2023-03-22T14:30", datetime(2023, 3, 22, 14, 30, tzinfo=UTC)),
        ("2023-03-22T14:30:15", datetime(2023, 3, 22, 14, 30, 15, tzinfo=UTC)),
        (
            "2022-05-14T10:11:10.7022176+03:00",
            datetime(2022, 5, 14, 10, 11, 10, 702217, tzinfo=timezone(timedelta(hours=3))),
        ),
        ("2023-03-22T14:30Z", datetime(2023, 3, 22, 14, 30, tzinfo=UTC)),
    ],
)
def test_accepted_forms(text: str, expected: datetime) -> None:
    assert parse_iso(text) == expected


@pytest.mark.parametrize("text", ["22/03/2023", "2023-13-01", "2023-03-22T25:00", "yesterday", ""])
def test_rejected_forms(text: str) -> None:
    assert parse_iso(text) is None


def test_round_trip_in_utc_with_milliseconds() -> None:
    moment = datetime(2024, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    assert from_us(to_us(moment)) == "2024-01-02T03:04:05.678Z"


@pytest.mark.parametrize(
    "us",
    [0, 999, 1_000, 1_704_164_645_678_999, 1_704_164_645_999_999, 253_402_041_599_999_999]
    + [random.Random(seed).randrange(0, 253_402_041_600_000_000) for seed in range(200)],
)
def test_from_us_is_iso_8601_with_milliseconds_truncated(us: int) -> None:
    reference = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=us)
    expected = reference.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    assert from_us(us) == expected
