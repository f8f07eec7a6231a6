"""The checks of a workspace's time zone and allowed hours: what is accepted is what the engine
loads and runs by, and each refusal names its field."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo, available_timezones

import pytest

from footfall.exceptions import InvalidQuery
from footfall.workflows.document import Hours
from footfall.workflows.timing import next_allowed
from footfall.workspace_timing import check_allowed_hours, check_time_zone, parse_hours_range
from footfall.zones import zone_for


@pytest.mark.parametrize(
    "name",
    [
        "UTC",
        "Europe/Kyiv",
        "Europe/Kiev",  # a link to Europe/Kyiv: still a zone
        "America/New_York",
        "America/Argentina/Buenos_Aires",
        "Asia/Kathmandu",
        "Etc/GMT+3",
        "Etc/GMT-14",
    ],
)
def test_iana_zones_are_accepted_as_given(name: str) -> None:
    assert check_time_zone(name) == name
    assert zone_for(name, "UTC").key == name


def test_every_zone_of_the_database_is_accepted_and_loads_as_itself() -> None:
    for name in sorted(available_timezones() - {"localtime", "posixrules"}):
        assert check_time_zone(name) == name
        assert zone_for(name, "UTC").key == name, name


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("", "IANA time zone"),
        ("   ", "IANA time zone"),
        ("local", "local time"),
        ("localtime", "local time"),
        ("Local", "local time"),
        ("posixrules", "is not an IANA time zone"),
        ("/etc/localtime", "not a path"),
        ("../../../etc/passwd", "not a path"),
        ("Europe/../Europe/Kyiv", "not a path"),
        ("C:\\zones\\Kyiv", "not a path"),
        ("/usr/share/zoneinfo/UTC", "not a path"),
        ("zone.tab", "not a path"),
        ("Europe", "is not an IANA time zone"),  # a directory of zones
        ("Europe/Atlantis", "is not an IANA time zone"),
        ("europe/kyiv", "is not an IANA time zone"),  # names are case-sensitive
        ("Europe/Kyiv ", "is not an IANA time zone"),
        ("+03:00", "is not an IANA time zone"),
        ("Europe/Kyiv\x00", "is not an IANA time zone"),
        ("leapseconds", "is not an IANA time zone"),
        ("A" * 65, "at most 64 characters"),
        ("Europe/" + "K" * 200, "at most 64 characters"),
    ],
)
def test_bad_zones_are_refused_naming_the_field(name: str, says: str) -> None:
    with pytest.raises(InvalidQuery) as refused:
        check_time_zone(name)
    assert refused.value.field == "timeZone"
    assert refused.value.message.startswith("timeZone")
    assert says in refused.value.message


def test_the_field_named_is_the_callers() -> None:
    with pytest.raises(InvalidQuery, match=r"^--time-zone") as refused:
        check_time_zone("Mars/Olympus", "--time-zone")
    assert refused.value.field == "--time-zone"


@pytest.mark.parametrize(
    ("start", "end"),
    [("09:00", "21:00"), ("22:00", "06:00"), ("00:00", "23:59"), ("23:59", "00:00")],
)
def test_windows_are_accepted_and_run_by_next_allowed(start: str, end: str) -> None:
    assert check_allowed_hours(start, end) == (start, end)
    moment = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)
    next_allowed(moment, Hours(from_=start, to=end), ZoneInfo("Europe/Kyiv"))  # does not raise


@pytest.mark.parametrize(
    ("start", "end", "field", "says"),
    [
        ("9:00", "21:00", "allowedHours.from", '"HH:MM"'),
        ("09:00", "24:00", "allowedHours.to", '"HH:MM"'),
        ("09:60", "21:00", "allowedHours.from", '"HH:MM"'),
        ("", "21:00", "allowedHours.from", "got ''"),
        ("09:00", "9pm", "allowedHours.to", "got '9pm'"),
        ("09:00:00", "21:00", "allowedHours.from", '"HH:MM"'),
        ("\u0660\u0669:\u0660\u0660", "21:00", "allowedHours.from", "HH:MM"),  # other digits
        ("09:00", "09:00", "allowedHours", "must differ"),
    ],
)
def test_bad_windows_are_refused_naming_the_field(
    start: str, end: str, field: str, says: str
) -> None:
    with pytest.raises(InvalidQuery) as refused:
        check_allowed_hours(start, end)
    assert refused.value.field == field
    assert refused.value.message.startswith(field)
    assert says in refused.value.message


def test_a_long_bad_value_is_shown_shortened() -> None:
    with pytest.raises(InvalidQuery) as refused:
        check_allowed_hours("9" * 10_000, "21:00")
    assert len(refused.value.message) < 200


def test_a_range_is_read_from_the_command_line() -> None:
    assert parse_hours_range("09:00-21:00") == ("09:00", "21:00")
    assert parse_hours_range(" 22:00 - 06:00 ") == ("22:00", "06:00")


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("09:00", "--allowed-hours"),
        ("", "--allowed-hours"),
        ("09:00-09:00", "--allowed-hours"),
        ("9-21", "--allowed-hours.from"),
        ("09:00-21:00-23:00", "--allowed-hours.to"),
    ],
)
def test_bad_ranges_are_refused_naming_the_option(text: str, field: str) -> None:
    with pytest.raises(InvalidQuery) as refused:
        parse_hours_range(text)
    assert refused.value.field == field
    assert refused.value.message.startswith("--allowed-hours")
