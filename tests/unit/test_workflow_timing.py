"""When timers fire, allowed hours open and contact-date starts fall: delays of every unit, times
of day and weekdays, dates read from events and contacts, bad zone names, and every kind of DST
change. Inputs carry fixed offsets and expectations are written in UTC by hand, so zoneinfo is
checked rather than trusted."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from footfall.workflows.document import ContactDate, Hours, Timer, Until
from footfall.workflows.timing import (
    Due,
    contact_date_due,
    next_allowed,
    timer_due,
    weekday_index,
)
from footfall.zones import zone_for

KYIV = ZoneInfo("Europe/Kyiv")  # +02:00, +03:00 from 2026-03-29 01:00Z to 2026-10-25 01:00Z
NEW_YORK = ZoneInfo("America/New_York")  # -05:00, -04:00 from 2026-03-08 to 2026-11-01
KATHMANDU = ZoneInfo("Asia/Kathmandu")  # +05:45
SAO_PAULO = ZoneInfo("America/Sao_Paulo")  # 2018-11-04 skipped 00:00-01:00
UTC_ZONE = ZoneInfo("UTC")
ZONES = {"kyiv": KYIV, "ny": NEW_YORK, "ktm": KATHMANDU, "sp": SAO_PAULO}


def at(text: str) -> datetime:
    """An aware datetime from ISO 8601 text that must carry its offset."""
    moment = datetime.fromisoformat(text)
    assert moment.utcoffset() is not None, text
    return moment


def due(timer: Timer, reached: str, zone: str = "kyiv", **data: Any) -> Due:
    return timer_due(
        timer,
        at(reached),
        params=data.get("params", {}),
        contact=data.get("contact", {}),
        zone=ZONES[zone],
    )


def is_utc(moment: datetime) -> bool:
    return moment.utcoffset() == timedelta(0)


def short_id(value: object) -> str:
    return repr(value)[:30]


# zone_for ----------------------------------------------------------------------------------------

BAD_ZONES = [
    "Mars/Base",
    "",
    "../../etc/passwd",
    "/etc/localtime",
    "Europe/../Europe/Kyiv",
    "A" * 1000,
    "UTC\x00",
    "America",  # a directory of zone files
    "leapseconds",  # a file of the zone database that is no zone
    "Europe\\Kyiv",
    " Europe/Kyiv",
]


@pytest.mark.parametrize(
    ("contact", "workspace", "use", "expected"),
    [
        ("Europe/Kyiv", "America/New_York", "contact", "Europe/Kyiv"),
        ("Asia/Kathmandu", "Europe/Kyiv", "contact", "Asia/Kathmandu"),
        ("Etc/GMT+5", "Europe/Kyiv", "contact", "Etc/GMT+5"),
        (None, "America/New_York", "contact", "America/New_York"),
        ("Europe/Kyiv", "America/New_York", "workspace", "America/New_York"),
        ("Europe/Kyiv", "America/New_York", "anything else", "America/New_York"),
        *[(bad, "America/New_York", "contact", "America/New_York") for bad in BAD_ZONES],
        *[(None, bad, "contact", "UTC") for bad in BAD_ZONES],
        *[(bad, bad, "contact", "UTC") for bad in BAD_ZONES],
    ],
    ids=short_id,
)
def test_zone_for_falls_back_from_bad_names(
    contact: str | None, workspace: str, use: str, expected: str
) -> None:
    assert zone_for(contact, workspace, use).key == expected


def test_zone_for_survives_values_of_other_types() -> None:
    not_a_name: Any = 42
    assert zone_for(not_a_name, not_a_name).key == "UTC"


def test_zone_for_gives_the_same_zone_each_time() -> None:
    assert zone_for("Europe/Kyiv", "UTC") is zone_for("Europe/Kyiv", "UTC")


@pytest.mark.parametrize(
    ("name", "index"), [("mon", 0), ("tue", 1), ("wed", 2), ("thu", 3), ("fri", 4), ("sun", 6)]
)
def test_weekday_index(name: str, index: int) -> None:
    assert weekday_index(name) == index


@pytest.mark.parametrize("name", ["Mon", "monday", "", "xyz"])
def test_weekday_index_refuses_other_names(name: str) -> None:
    with pytest.raises(ValueError, match="is not one of mon"):
        weekday_index(name)


# delays ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "reached", "delay", "expected"),
    [
        ("kyiv", "2026-05-01T10:00:00+03:00", "30s", "2026-05-01T07:00:30Z"),
        ("kyiv", "2026-05-01T10:00:00+03:00", "45m", "2026-05-01T07:45:00Z"),
        ("kyiv", "2026-05-01T10:00:00+03:00", "3h", "2026-05-01T10:00:00Z"),
        ("kyiv", "2026-05-01T10:00:00+03:00", "2d", "2026-05-03T07:00:00Z"),
        ("kyiv", "2026-05-01T10:00:00+03:00", "1w", "2026-05-08T07:00:00Z"),
        ("kyiv", "2026-05-01T10:00:00+03:00", "1mo", "2026-06-01T07:00:00Z"),
        # the delay keeps the instant it starts from, whatever offset it was written with
        ("kyiv", "2026-05-01T07:00:00Z", "1d", "2026-05-02T07:00:00Z"),
        # month ends: the last day of a shorter month
        ("kyiv", "2026-01-31T12:00:00+02:00", "1mo", "2026-02-28T10:00:00Z"),
        ("kyiv", "2028-01-31T12:00:00+02:00", "1mo", "2028-02-29T10:00:00Z"),
        ("kyiv", "2026-03-31T12:00:00+03:00", "1mo", "2026-04-30T09:00:00Z"),
        ("kyiv", "2026-12-31T12:00:00+02:00", "2mo", "2027-02-28T10:00:00Z"),
        ("kyiv", "2026-01-15T12:00:00+02:00", "12mo", "2027-01-15T10:00:00Z"),
        # spring forward, Europe: days keep 09:00 (23 hours), hours are exact
        ("kyiv", "2026-03-28T09:00:00+02:00", "1d", "2026-03-29T06:00:00Z"),
        ("kyiv", "2026-03-28T09:00:00+02:00", "24h", "2026-03-29T07:00:00Z"),
        ("kyiv", "2026-03-15T09:00:00+02:00", "1mo", "2026-04-15T06:00:00Z"),
        # fall back, Europe: a week keeps 10:00 (a week and an hour)
        ("kyiv", "2026-10-20T10:00:00+03:00", "1w", "2026-10-27T08:00:00Z"),
        ("kyiv", "2026-10-20T10:00:00+03:00", "168h", "2026-10-27T07:00:00Z"),
        # New York, both changes
        ("ny", "2026-03-07T09:00:00-05:00", "1d", "2026-03-08T13:00:00Z"),
        ("ny", "2026-03-07T09:00:00-05:00", "24h", "2026-03-08T14:00:00Z"),
        ("ny", "2026-03-08T01:30:00-05:00", "1h", "2026-03-08T07:30:00Z"),
        ("ny", "2026-10-31T09:00:00-04:00", "1d", "2026-11-01T14:00:00Z"),
        ("ny", "2026-10-31T09:00:00-04:00", "24h", "2026-11-01T13:00:00Z"),
        ("ny", "2026-11-01T00:30:00-04:00", "90m", "2026-11-01T06:00:00Z"),
        # a day that lands in the gap moves to its end; one in the overlap takes the first 01:30
        ("ny", "2026-03-07T02:30:00-05:00", "1d", "2026-03-08T07:00:00Z"),
        ("ny", "2026-10-31T01:30:00-04:00", "1d", "2026-11-01T05:30:00Z"),
        ("ny", "2026-11-01T01:30:00-05:00", "1d", "2026-11-02T06:30:00Z"),
        ("ktm", "2026-05-01T10:00:00+05:45", "1d", "2026-05-02T04:15:00Z"),
        ("ktm", "2026-05-01T10:00:00+05:45", "15m", "2026-05-01T04:30:00Z"),
    ],
)
def test_delay(zone: str, reached: str, delay: str, expected: str) -> None:
    result = due(Timer(id="wait", delay=delay), reached, zone)
    assert result == Due(at(expected))
    assert is_utc(result.at)


def test_a_naive_moment_is_refused() -> None:
    with pytest.raises(ValueError, match="reached must be timezone-aware"):
        timer_due(
            Timer(id="wait", delay="1d"), datetime(2026, 5, 1), params={}, contact={}, zone=KYIV
        )


# until a time of day ---------------------------------------------------------------------------


# 2026-05-01 is a Friday.
@pytest.mark.parametrize(
    ("zone", "reached", "until", "delay", "expected"),
    [
        ("kyiv", "2026-05-01T08:00:00+03:00", Until(time="09:00"), None, "2026-05-01T06:00:00Z"),
        ("kyiv", "2026-05-01T09:00:00+03:00", Until(time="09:00"), None, "2026-05-01T06:00:00Z"),
        ("kyiv", "2026-05-01T09:00:01+03:00", Until(time="09:00"), None, "2026-05-02T06:00:00Z"),
        ("kyiv", "2026-05-01T23:59:00+03:00", Until(time="09:00"), None, "2026-05-02T06:00:00Z"),
        ("kyiv", "2026-05-01T08:00:00+03:00", Until(time="00:00"), None, "2026-05-01T21:00:00Z"),
        ("kyiv", "2026-05-01T08:00:00+03:00", Until(time="09:00"), "2h", "2026-05-02T06:00:00Z"),
        ("kyiv", "2026-05-01T08:00:00+03:00", Until(time="09:00"), "1d", "2026-05-02T06:00:00Z"),
        # weekdays
        (
            "kyiv",
            "2026-05-01T08:00:00+03:00",
            Until(time="09:00", weekdays=["fri"]),
            None,
            "2026-05-01T06:00:00Z",
        ),
        (
            "kyiv",
            "2026-05-01T10:00:00+03:00",
            Until(time="09:00", weekdays=["fri"]),
            None,
            "2026-05-08T06:00:00Z",
        ),
        (
            "kyiv",
            "2026-05-01T10:00:00+03:00",
            Until(time="09:00", weekdays=["sat", "sun"]),
            None,
            "2026-05-02T06:00:00Z",
        ),
        (
            "kyiv",
            "2026-05-01T10:00:00+03:00",
            Until(time="09:00", weekdays=["mon", "wed"]),
            None,
            "2026-05-04T06:00:00Z",
        ),
        (
            "kyiv",
            "2026-05-01T10:00:00+03:00",
            Until(time="09:00", weekdays=["thu"]),
            None,
            "2026-05-07T06:00:00Z",
        ),
        # weekdays are local: 23:30 on Thursday in New York is Friday in UTC
        (
            "ny",
            "2026-04-30T23:30:00-04:00",
            Until(time="23:45", weekdays=["thu"]),
            None,
            "2026-05-01T03:45:00Z",
        ),
        # DST: the same local time on the other side of a change
        ("kyiv", "2026-03-28T10:00:00+02:00", Until(time="09:00"), None, "2026-03-29T06:00:00Z"),
        ("kyiv", "2026-10-24T10:00:00+03:00", Until(time="09:00"), None, "2026-10-25T07:00:00Z"),
        ("ny", "2026-03-07T10:00:00-05:00", Until(time="09:00"), None, "2026-03-08T13:00:00Z"),
        ("ny", "2026-10-31T10:00:00-04:00", Until(time="09:00"), None, "2026-11-01T14:00:00Z"),
        # in the gap: the end of the gap; in the overlap: the first 01:30, else the second
        ("ny", "2026-03-08T00:00:00-05:00", Until(time="02:30"), None, "2026-03-08T07:00:00Z"),
        ("kyiv", "2026-03-29T02:00:00+02:00", Until(time="03:30"), None, "2026-03-29T01:00:00Z"),
        ("ny", "2026-11-01T00:00:00-04:00", Until(time="01:30"), None, "2026-11-01T05:30:00Z"),
        ("ny", "2026-11-01T01:45:00-04:00", Until(time="01:30"), None, "2026-11-01T06:30:00Z"),
        ("ny", "2026-11-01T01:45:00-05:00", Until(time="01:30"), None, "2026-11-02T06:30:00Z"),
        ("kyiv", "2026-10-25T03:10:00+03:00", Until(time="03:30"), None, "2026-10-25T00:30:00Z"),
        ("kyiv", "2026-10-25T03:40:00+03:00", Until(time="03:30"), None, "2026-10-25T01:30:00Z"),
        ("ktm", "2026-05-01T05:45:00+05:45", Until(time="09:00"), None, "2026-05-01T03:15:00Z"),
        ("ktm", "2026-05-01T09:30:00+05:45", Until(time="09:00"), None, "2026-05-02T03:15:00Z"),
    ],
)
def test_until_time_of_day(
    zone: str, reached: str, until: Until, delay: str | None, expected: str
) -> None:
    result = due(Timer(id="wait", delay=delay, until=until), reached, zone)
    assert result == Due(at(expected))
    assert is_utc(result.at)


# until a date in the event or the contact -------------------------------------------------------

REACHED = "2026-05-01T10:00:00+03:00"  # 07:00Z; Kyiv is at +03:00 all of May


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-05-17", "2026-05-16T21:00:00Z"),  # a date alone: 00:00 local
        ("2026-05-17T10:00", "2026-05-17T07:00:00Z"),  # no offset: local
        ("2026-05-17 10:00:30", "2026-05-17T07:00:30Z"),
        ("2026-05-17T10:00:00Z", "2026-05-17T10:00:00Z"),
        ("2026-05-17T10:00:00-04:00", "2026-05-17T14:00:00Z"),
        ("2026-05-17T10:00:00.123456789+0545", "2026-05-17T04:15:00.123456Z"),
        (" 2026-05-17 ", "2026-05-16T21:00:00Z"),
        (1_779_001_200, "2026-05-17T07:00:00Z"),  # seconds since the epoch
        (1_779_001_200.5, "2026-05-17T07:00:00.5Z"),
        ("2026-05-01T10:00", "2026-05-01T07:00:00Z"),  # exactly when the timer was reached
    ],
)
def test_until_param(value: Any, expected: str) -> None:
    timer = Timer(id="wait", until_param="deliveryDate")
    assert due(timer, REACHED, params={"deliveryDate": value}) == Due(at(expected))


@pytest.mark.parametrize(
    ("path", "params", "expected"),
    [
        ("delivery.date", {"delivery": {"date": "2026-05-17"}}, "2026-05-16T21:00:00Z"),
        ("dates[1]", {"dates": ["2026-05-10", "2026-05-17"]}, "2026-05-16T21:00:00Z"),
        (
            "items[*].at",
            {"items": [{"x": 1}, {"at": "2026-05-20"}, {"at": "2026-05-17"}]},
            "2026-05-19T21:00:00Z",
        ),
    ],
)
def test_until_param_reads_the_first_value_its_path_reaches(
    path: str, params: Any, expected: str
) -> None:
    assert due(Timer(id="wait", until_param=path), REACHED, params=params) == Due(at(expected))


@pytest.mark.parametrize(
    ("zone", "value", "expected"),
    [
        ("ny", "2026-03-08T02:30", "2026-03-08T07:00:00Z"),  # in the gap: its end
        ("ny", "2026-11-01T01:30", "2026-11-01T05:30:00Z"),  # in the overlap: the first
        ("sp", "2018-11-04", "2018-11-04T03:00:00Z"),  # a midnight that never was: 01:00
        ("ktm", "2026-05-17", "2026-05-16T18:15:00Z"),
    ],
)
def test_until_param_local_times_across_changes(zone: str, value: str, expected: str) -> None:
    timer = Timer(id="wait", until_param="when")
    reached = "2018-01-01T00:00:00Z"
    assert due(timer, reached, zone, params={"when": value}) == Due(at(expected))


@pytest.mark.parametrize(
    ("zone", "value", "offset", "expected"),
    [
        ("kyiv", "2026-05-17", "1d", "2026-05-15T21:00:00Z"),
        ("kyiv", "2026-05-17", "2h", "2026-05-16T19:00:00Z"),
        ("kyiv", "2026-05-17T10:00:00Z", "30m", "2026-05-17T09:30:00Z"),
        ("kyiv", "2026-05-17", "1w", "2026-05-09T21:00:00Z"),
        ("kyiv", "2026-07-31T12:00", "1mo", "2026-06-30T09:00:00Z"),
        # across a change: days keep the local time, hours are exact
        ("ny", "2026-03-08T09:00", "1d", "2026-03-07T14:00:00Z"),
        ("ny", "2026-03-08T09:00", "24h", "2026-03-07T13:00:00Z"),
        ("kyiv", "2026-10-25T09:00", "1d", "2026-10-24T06:00:00Z"),
        ("kyiv", "2026-10-25T09:00", "24h", "2026-10-24T07:00:00Z"),
    ],
)
def test_until_param_less_offset(zone: str, value: str, offset: str, expected: str) -> None:
    timer = Timer(id="wait", until_param="when", offset=offset)
    reached = "2026-01-01T00:00:00Z"
    assert due(timer, reached, zone, params={"when": value}) == Due(at(expected))


@pytest.mark.parametrize(
    ("params", "problem"),
    [
        ({}, "untilParam deliveryDate is missing"),
        ({"deliveryDate": None}, "untilParam deliveryDate is missing"),
        ({"other": "2026-05-17"}, "untilParam deliveryDate is missing"),
        ([], "untilParam deliveryDate is missing"),
        ("2026-05-17", "untilParam deliveryDate is missing"),
        ({"deliveryDate": "tomorrow"}, "untilParam deliveryDate is not a date ('tomorrow')"),
        ({"deliveryDate": ""}, "untilParam deliveryDate is not a date ('')"),
        ({"deliveryDate": "2026-13-01"}, "is not a date ('2026-13-01')"),
        ({"deliveryDate": "2026-02-30"}, "is not a date ('2026-02-30')"),
        ({"deliveryDate": "2026-05-17T25:00"}, "is not a date"),
        ({"deliveryDate": "17.05.2026"}, "is not a date"),
        ({"deliveryDate": "20260517"}, "is not a date ('20260517')"),
        ({"deliveryDate": "1779001200"}, "is not a date"),  # a numeric string is no timestamp
        ({"deliveryDate": "2026-05-17Z"}, "is not a date"),  # an offset needs a time
        ({"deliveryDate": "2026-05-17+03:00"}, "is not a date"),
        ({"deliveryDate": "9999-12-31T23:00-05:00"}, "is not a date"),  # beyond UTC's range
        ({"deliveryDate": "2026-05-17" * 1000}, "is not a date ('2026-05-172026-05-172026-05-"),
        ({"deliveryDate": True}, "is not a date (True)"),
        ({"deliveryDate": {"date": "2026-05-17"}}, "is not a date (a dict)"),
        ({"deliveryDate": ["2026-05-17"]}, "is not a date (a list)"),
        ({"deliveryDate": -1}, "is not a date (-1)"),
        ({"deliveryDate": 1_779_001_200_000}, "is not a date (1779001200000)"),  # milliseconds
        ({"deliveryDate": math.nan}, "is not a date (nan)"),
        ({"deliveryDate": math.inf}, "is not a date (inf)"),
        ({"deliveryDate": "2026-04-30"}, "untilParam deliveryDate ('2026-04-30') was already past"),
        ({"deliveryDate": "2026-05-01T06:59:59Z"}, "was already past"),
        ({"deliveryDate": 0}, "untilParam deliveryDate (0) was already past"),
        ({"deliveryDate": "0001-01-01"}, "is not a date"),  # before year 1 in UTC
    ],
)
def test_until_param_fires_at_once_without_a_usable_future_date(params: Any, problem: str) -> None:
    result = due(Timer(id="wait", until_param="deliveryDate"), REACHED, params=params)
    assert result.at == at("2026-05-01T07:00:00Z")
    assert result.note is not None
    assert problem in result.note
    assert result.note.endswith(": the timer fired at once")


def test_an_offset_can_make_the_date_past() -> None:
    timer = Timer(id="wait", until_param="when", offset="1w")
    result = due(timer, REACHED, params={"when": "2026-05-05"})
    assert result == Due(
        at("2026-05-01T07:00:00Z"),
        "untilParam when ('2026-05-05') less 1w was already past: the timer fired at once",
    )


def test_an_offset_before_year_one_is_past() -> None:
    timer = Timer(id="wait", until_param="when", offset="1mo")
    result = due(timer, "2026-05-01T00:00:00Z", "ktm", params={"when": "0001-01-10"})
    assert result.at == at("2026-05-01T00:00:00Z")
    assert result.note is not None
    assert "('0001-01-10') less 1mo was already past" in result.note


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"when": "2026-05-03"}, Due(at("2026-05-02T21:00:00Z"))),  # after the delay: kept
        (
            {"when": "2026-05-02"},  # 2026-05-01T21:00Z, before the delay ends
            Due(
                at("2026-05-02T07:00:00Z"),
                "untilParam when ('2026-05-02') was already past: the timer fired after its delay",
            ),
        ),
        (
            {},
            Due(
                at("2026-05-02T07:00:00Z"),
                "untilParam when is missing: the timer fired after its delay",
            ),
        ),
    ],
)
def test_the_delay_comes_first(params: Any, expected: Due) -> None:
    timer = Timer(id="wait", delay="1d", until_param="when")
    assert due(timer, REACHED, params=params) == expected


@pytest.mark.parametrize(
    ("field", "contact", "expected"),
    [
        ("renewal", {"renewal": "2026-06-01"}, "2026-05-31T21:00:00Z"),
        ("dates.renewal", {"dates": {"renewal": "2026-06-01T12:00"}}, "2026-06-01T09:00:00Z"),
        ("dates[0]", {"dates": ["2026-06-01", "2026-07-01"]}, "2026-05-31T21:00:00Z"),
        # a field whose name holds a dot is read as that name first
        (
            "dates.renewal",
            {"dates.renewal": "2026-06-02", "dates": {"renewal": "2026-06-01"}},
            "2026-06-01T21:00:00Z",
        ),
    ],
)
def test_until_contact(field: str, contact: dict[str, Any], expected: str) -> None:
    timer = Timer(id="wait", until_contact=field, offset="1d")
    expected_at = at(expected) - timedelta(days=1)  # Kyiv keeps +03:00 all of May and June
    assert due(timer, REACHED, contact=contact) == Due(expected_at)


@pytest.mark.parametrize(
    ("field", "contact", "problem"),
    [
        ("dates.renewal", {}, "untilContact dates.renewal is missing"),
        ("dates.renewal", {"dates": "2026-06-01"}, "untilContact dates.renewal is missing"),
        ("a[", {"b": 1}, "untilContact a[ is missing"),  # a name that is no path
        ("renewal", {"renewal": "soon"}, "untilContact renewal is not a date ('soon')"),
        ("renewal", {"renewal": "2020-01-01"}, "('2020-01-01') was already past"),
    ],
)
def test_until_contact_without_a_usable_date(
    field: str, contact: dict[str, Any], problem: str
) -> None:
    result = due(Timer(id="wait", until_contact=field), REACHED, contact=contact)
    assert result.at == at("2026-05-01T07:00:00Z")
    assert result.note is not None
    assert problem in result.note


def test_a_local_date_beyond_the_calendar_is_not_a_date() -> None:
    timer = Timer(id="wait", until_param="when")
    result = due(timer, "2026-05-01T00:00:00Z", "ny", params={"when": "9999-12-31T23:00"})
    assert result == Due(
        at("2026-05-01T00:00:00Z"),
        "untilParam when is not a date ('9999-12-31T23:00'): the timer fired at once",
    )


def test_a_literal_key_that_is_no_path() -> None:
    timer = Timer(id="wait", until_contact="a[")
    result = due(timer, REACHED, contact={"a[": "2026-06-01"})
    assert result == Due(at("2026-05-31T21:00:00Z"))


# allowed hours ---------------------------------------------------------------------------------

DAY = Hours(from_="09:00", to="21:00")
NIGHT = Hours(from_="22:00", to="06:00")


@pytest.mark.parametrize(
    ("zone", "moment", "window", "expected"),
    [
        ("kyiv", "2026-05-01T12:00:00+03:00", None, "2026-05-01T09:00:00Z"),
        ("kyiv", "2026-05-01T03:00:00+03:00", None, "2026-05-01T00:00:00Z"),
        ("kyiv", "2026-05-01T12:00:00+03:00", DAY, "2026-05-01T09:00:00Z"),
        ("kyiv", "2026-05-01T09:00:00+03:00", DAY, "2026-05-01T06:00:00Z"),
        ("kyiv", "2026-05-01T20:59:59+03:00", DAY, "2026-05-01T17:59:59Z"),
        ("kyiv", "2026-05-01T08:59:00+03:00", DAY, "2026-05-01T06:00:00Z"),
        ("kyiv", "2026-05-01T00:00:00+03:00", DAY, "2026-05-01T06:00:00Z"),
        ("kyiv", "2026-05-01T21:00:00+03:00", DAY, "2026-05-02T06:00:00Z"),
        ("kyiv", "2026-05-01T23:00:00+03:00", DAY, "2026-05-02T06:00:00Z"),
        # the moment is read in the zone whatever offset it was written with
        ("kyiv", "2026-05-01T12:00:00Z", DAY, "2026-05-01T12:00:00Z"),
        ("kyiv", "2026-05-01T19:00:00Z", DAY, "2026-05-02T06:00:00Z"),
        # overnight
        ("kyiv", "2026-05-01T23:00:00+03:00", NIGHT, "2026-05-01T20:00:00Z"),
        ("kyiv", "2026-05-01T22:00:00+03:00", NIGHT, "2026-05-01T19:00:00Z"),
        ("kyiv", "2026-05-01T00:00:00+03:00", NIGHT, "2026-04-30T21:00:00Z"),
        ("kyiv", "2026-05-01T05:59:00+03:00", NIGHT, "2026-05-01T02:59:00Z"),
        ("kyiv", "2026-05-01T06:00:00+03:00", NIGHT, "2026-05-01T19:00:00Z"),
        ("kyiv", "2026-05-01T12:00:00+03:00", NIGHT, "2026-05-01T19:00:00Z"),
        ("kyiv", "2026-05-01T21:59:59+03:00", NIGHT, "2026-05-01T19:00:00Z"),
        # DST: the window opens at its local time on the other side of a change
        ("kyiv", "2026-03-28T22:00:00+02:00", DAY, "2026-03-29T06:00:00Z"),
        ("ny", "2026-10-31T22:00:00-04:00", DAY, "2026-11-01T14:00:00Z"),
        (
            "ny",
            "2026-03-08T01:00:00-05:00",
            Hours(from_="02:30", to="04:00"),
            "2026-03-08T07:00:00Z",
        ),
        (
            "ny",
            "2026-03-08T03:30:00-04:00",
            Hours(from_="02:30", to="04:00"),
            "2026-03-08T07:30:00Z",
        ),
        (
            "ny",
            "2026-11-01T01:15:00-04:00",
            Hours(from_="01:30", to="03:00"),
            "2026-11-01T05:30:00Z",
        ),
        (
            "ny",
            "2026-11-01T01:15:00-05:00",
            Hours(from_="01:30", to="03:00"),
            "2026-11-01T06:30:00Z",
        ),
        (
            "ny",
            "2026-11-01T01:45:00-04:00",
            Hours(from_="01:30", to="03:00"),
            "2026-11-01T05:45:00Z",
        ),
        ("ktm", "2026-05-01T08:00:00+05:45", DAY, "2026-05-01T03:15:00Z"),
        ("ktm", "2026-05-01T09:00:00+05:45", DAY, "2026-05-01T03:15:00Z"),
    ],
)
def test_next_allowed(zone: str, moment: str, window: Hours | None, expected: str) -> None:
    result = next_allowed(at(moment), window, ZONES[zone])
    assert result == at(expected)
    assert is_utc(result)


# contact dates ---------------------------------------------------------------------------------

BIRTHDAY = ContactDate(field="birthday", at="09:00")


@pytest.mark.parametrize(
    ("value", "after", "expected"),
    [
        ("1990-05-17", "2026-05-01T00:00:00Z", "2026-05-17T06:00:00Z"),  # this year, still ahead
        ("1990-05-17", "2026-05-17T05:59:59Z", "2026-05-17T06:00:00Z"),
        ("1990-05-17", "2026-05-17T06:00:00Z", "2027-05-17T06:00:00Z"),  # strictly after
        ("1990-05-17", "2026-05-20T00:00:00Z", "2027-05-17T06:00:00Z"),  # passed: next year
        ("05-17", "2026-05-01T00:00:00Z", "2026-05-17T06:00:00Z"),
        ("--05-17", "2026-05-01T00:00:00Z", "2026-05-17T06:00:00Z"),
        ("1990-05-17T00:00:00Z", "2026-05-01T00:00:00Z", "2026-05-17T06:00:00Z"),
        ("1990-05-17T23:30:00-05:00", "2026-05-01T00:00:00Z", "2026-05-17T06:00:00Z"),
        ("1990-05-17 08:00", "2026-05-01T00:00:00Z", "2026-05-17T06:00:00Z"),
        (date(1990, 5, 17), "2026-05-01T00:00:00Z", "2026-05-17T06:00:00Z"),
        ("01-15", "2026-05-01T00:00:00Z", "2027-01-15T07:00:00Z"),  # winter: +02:00
        # 29 February: 28 February in other years
        ("2000-02-29", "2026-01-01T00:00:00Z", "2026-02-28T07:00:00Z"),
        ("02-29", "2026-03-01T00:00:00Z", "2027-02-28T07:00:00Z"),
        ("02-29", "2027-03-01T00:00:00Z", "2028-02-29T07:00:00Z"),
        ("02-29", "2028-02-28T12:00:00Z", "2028-02-29T07:00:00Z"),
    ],
)
def test_contact_date(value: Any, after: str, expected: str) -> None:
    result = contact_date_due(BIRTHDAY, value, KYIV, at(after))
    assert result == at(expected)
    assert result is not None and is_utc(result)


@pytest.mark.parametrize(
    ("value", "days_before", "after", "expected"),
    [
        ("1990-05-17", 7, "2026-05-01T00:00:00Z", "2026-05-10T06:00:00Z"),
        ("1990-05-17", 7, "2026-05-10T06:00:00Z", "2027-05-10T06:00:00Z"),
        ("03-02", 3, "2026-01-01T00:00:00Z", "2026-02-27T07:00:00Z"),  # into February
        ("03-01", 1, "2027-01-01T00:00:00Z", "2027-02-28T07:00:00Z"),
        ("03-01", 1, "2028-01-01T00:00:00Z", "2028-02-29T07:00:00Z"),  # a leap year
        ("01-03", 5, "2026-06-01T00:00:00Z", "2026-12-29T07:00:00Z"),  # into the year before
        ("01-01", 366, "2026-06-01T00:00:00Z", "2026-12-31T07:00:00Z"),  # for 1 January 2028
        ("01-01", 0, "2026-12-31T22:00:00Z", "2027-01-01T07:00:00Z"),  # 00:00 in Kyiv already
        ("04-05", 7, "2026-01-01T00:00:00Z", "2026-03-29T06:00:00Z"),  # the spring change day
    ],
)
def test_contact_date_days_before(value: str, days_before: int, after: str, expected: str) -> None:
    start = ContactDate(field="birthday", days_before=days_before, at="09:00")
    assert contact_date_due(start, value, KYIV, at(after)) == at(expected)


@pytest.mark.parametrize(
    ("value", "clock", "after", "expected"),
    [
        ("03-08", "02:30", "2026-01-01T00:00:00Z", "2026-03-08T07:00:00Z"),  # the gap's end
        ("11-01", "01:30", "2026-01-01T00:00:00Z", "2026-11-01T05:30:00Z"),  # the first 01:30
        ("11-01", "01:30", "2026-11-01T05:30:00Z", "2026-11-01T06:30:00Z"),  # then the second
        ("11-01", "09:00", "2026-01-01T00:00:00Z", "2026-11-01T14:00:00Z"),
        ("03-08", "09:00", "2026-01-01T00:00:00Z", "2026-03-08T13:00:00Z"),
    ],
)
def test_contact_date_across_changes(value: str, clock: str, after: str, expected: str) -> None:
    start = ContactDate(field="birthday", at=clock)
    assert contact_date_due(start, value, NEW_YORK, at(after)) == at(expected)


def test_contact_date_in_kathmandu() -> None:
    result = contact_date_due(BIRTHDAY, "05-17", KATHMANDU, at("2026-05-01T00:00:00Z"))
    assert result == at("2026-05-17T03:15:00Z")


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "   ",
        "birthday",
        "13-01",
        "00-10",
        "02-30",
        "04-31",
        "5-17",
        "1990-02-30",
        "1990-13-01",
        "17.05.1990",
        "x" * 10_000,
        "1990-05-17" * 100,
        12345,
        True,
        658_800_000,  # a timestamp: no birthday form
        ["1990-05-17"],
        {"date": "1990-05-17"},
    ],
    ids=short_id,
)
def test_contact_date_without_a_date(value: Any) -> None:
    assert contact_date_due(BIRTHDAY, value, KYIV, at("2026-05-01T00:00:00Z")) is None


def test_contact_date_near_the_ends_of_the_calendar_does_not_raise() -> None:
    earliest = at("0001-01-01T00:00:00Z")
    result = contact_date_due(BIRTHDAY, "05-17", UTC_ZONE, earliest)
    assert result is not None and result > earliest
    assert contact_date_due(BIRTHDAY, "05-17", UTC_ZONE, at("9999-06-01T00:00:00Z")) is None


def test_results_are_in_utc_whatever_the_input_offset() -> None:
    moment = datetime(2026, 5, 1, 12, tzinfo=KYIV)
    result = next_allowed(moment, None, KYIV)
    assert result == moment
    assert result.tzinfo is UTC
