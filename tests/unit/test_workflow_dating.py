"""The date scan's rules: a contact's next occasion (its moment and the anniversary it is for),
when a pass over the contacts begins, and up to when a contact's moments have their runs."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from footfall.ingest.dates import to_us
from footfall.workflows.dating import (
    DatePolicy,
    Occasion,
    covered_until,
    next_occasion,
    pass_due,
    spec_of,
)
from footfall.workflows.document import ContactDate

KYIV = ZoneInfo("Europe/Kyiv")
HOUR = 3_600_000_000


def us(text: str) -> int:
    return to_us(datetime.fromisoformat(text))


def test_the_occasion_is_the_anniversary_days_after_the_moment() -> None:
    start = ContactDate(field="birthday", days_before=3, at="09:00")
    found = next_occasion(start, "1990-01-02", KYIV, us("2026-12-01T00:00:00+00:00"))
    # 30 December at 09:00 in Kyiv (+02:00), for the birthday of 2 January of the next year
    assert found == Occasion(us("2026-12-30T07:00:00+00:00"), "2027-01-02")


def test_strictly_after_and_a_year_on() -> None:
    start = ContactDate(field="birthday", days_before=0, at="09:00")
    moment = us("2026-12-05T07:00:00+00:00")
    assert next_occasion(start, "12-05", KYIV, moment - 1) == Occasion(moment, "2026-12-05")
    later = next_occasion(start, "12-05", KYIV, moment)
    assert later == Occasion(us("2027-12-05T07:00:00+00:00"), "2027-12-05")


def test_29_february_is_28_february_in_other_years() -> None:
    start = ContactDate(field="birthday", days_before=1, at="00:00")
    found = next_occasion(start, "1992-02-29", ZoneInfo("UTC"), us("2027-01-01T00:00:00+00:00"))
    assert found == Occasion(us("2027-02-27T00:00:00+00:00"), "2027-02-28")


def test_no_date_no_occasion() -> None:
    start = ContactDate(field="birthday")
    for value in (None, "", "soon", "13-45", 19901210, {"d": "1990-12-10"}):
        assert next_occasion(start, value, KYIV, 0) is None


def test_a_pass_begins_once_the_window_ends_less_than_lookahead_less_refresh_ahead() -> None:
    policy = DatePolicy(lookahead=24 * 3600, refresh=6 * 3600)
    now = us("2026-12-03T03:00:00+00:00")
    assert pass_due(now, now, policy)  # a new workflow: its window ends now
    assert not pass_due(now + 24 * HOUR, now, policy)
    assert not pass_due(now + 18 * HOUR + 1, now, policy)
    assert pass_due(now + 18 * HOUR, now, policy)


def test_a_pass_in_progress_covers_the_contacts_it_reached() -> None:
    assert covered_until(5, 100, 200, 5) == 200
    assert covered_until(6, 100, 200, 5) == 100
    assert covered_until(1, 100, None, 0) == 100


def test_the_spec_names_what_the_window_was_computed_for() -> None:
    one = spec_of(ContactDate(field="birthday", days_before=3, at="09:00"))
    assert one == '{"field":"birthday","daysBefore":3,"at":"09:00"}'
    assert one != spec_of(ContactDate(field="birthday", days_before=2, at="09:00"))
