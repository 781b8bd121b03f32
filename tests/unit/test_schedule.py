"""When a schedule is open, and why: weekly hours, midnight, overnight
ranges, daylight-saving changes in Madrid, holidays by region, dated
exceptions and closures, and manual overrides.

Schedules are written as in a schedules file and loaded through the real
loader; every moment is given explicitly (no clock is read).
"""
from __future__ import annotations

import textwrap
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from agi.loading.loader import load_schedules
from agi.hours import Schedule, changes, state_at
from agi.hours.spec import parse_moment
from agi.services import Override

MADRID = ZoneInfo("Europe/Madrid")
UTC = timezone.utc


def schedule(tmp_path: Path, body: str, name: str = "hours") -> Schedule:
    """One schedule from the YAML of its body (indented under its name)."""
    text = "version: 1\nschedules:\n  " + name + ":\n" + textwrap.indent(textwrap.dedent(body), "    ")
    path = tmp_path / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    found, errors = load_schedules([path])
    assert errors == [], errors
    return found[name]


def madrid(*parts: int, fold: int = 0) -> datetime:
    return datetime(*parts, tzinfo=MADRID, fold=fold)  # type: ignore[misc]


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def outcome(item: Schedule, moment: datetime, override: Override | None = None) -> str:
    return state_at(item, moment, override).outcome


OFFICE = """\
timezone: Europe/Madrid
hours:
  mon-thu: ["09:00-14:00", "16:00-19:00"]
  fri: 08:00-15:00
"""


# -- weekly hours -------------------------------------------------------------

def test_a_split_day_is_open_in_each_range_and_closed_between_them(tmp_path: Path) -> None:
    office = schedule(tmp_path, OFFICE)
    monday = (2025, 3, 10)
    assert outcome(office, madrid(*monday, 9, 0)) == "open"
    assert outcome(office, madrid(*monday, 13, 59, 59)) == "open"
    assert outcome(office, madrid(*monday, 14, 0)) == "closed"
    assert outcome(office, madrid(*monday, 16, 0)) == "open"
    assert outcome(office, madrid(*monday, 19, 0)) == "closed"
    assert outcome(office, madrid(*monday, 8, 59, 59)) == "closed"


def test_the_state_says_why_and_when_it_changes_next(tmp_path: Path) -> None:
    office = schedule(tmp_path, OFFICE)
    lunch = state_at(office, madrid(2025, 3, 10, 15, 0))
    assert lunch.outcome == "closed" and lunch.rule == "weekly"
    assert lunch.reason == "outside Monday hours 09:00-14:00, 16:00-19:00"
    assert lunch.next_change == madrid(2025, 3, 10, 16, 0) and lunch.next_outcome == "open"
    friday_evening = state_at(office, madrid(2025, 3, 14, 18, 0))
    assert friday_evening.next_change == madrid(2025, 3, 17, 9, 0)
    saturday = state_at(office, madrid(2025, 3, 15, 12, 0))
    assert saturday.reason == "no Saturday hours"


def test_a_moment_in_another_timezone_is_judged_in_the_schedules_own(tmp_path: Path) -> None:
    office = schedule(tmp_path, OFFICE)
    # 08:30 UTC on a Monday in winter is 09:30 in Madrid.
    assert outcome(office, utc(2025, 3, 10, 8, 30)) == "open"
    # 07:30 in New York on a Monday in March (DST there already) is 12:30 in Madrid.
    assert outcome(office, datetime(2025, 3, 10, 7, 30, tzinfo=ZoneInfo("America/New_York"))) == "open"


def test_a_day_listed_under_two_keys_gets_both_ranges(tmp_path: Path) -> None:
    item = schedule(tmp_path, """\
        timezone: Europe/Madrid
        hours:
          mon-fri: 09:00-14:00
          mon,wed: 16:00-18:00
        """)
    assert outcome(item, madrid(2025, 3, 10, 17, 0)) == "open"    # Monday
    assert outcome(item, madrid(2025, 3, 11, 17, 0)) == "closed"  # Tuesday


# -- midnight and overnight -------------------------------------------------------

def test_a_whole_day_runs_from_midnight_to_midnight_and_not_a_second_more(tmp_path: Path) -> None:
    item = schedule(tmp_path, """\
        timezone: Europe/Madrid
        hours: {sun: 00:00-24:00, fri: 22:00-24:00}
        """)
    assert outcome(item, madrid(2025, 3, 8, 23, 59, 59)) == "closed"   # Saturday
    assert outcome(item, madrid(2025, 3, 9, 0, 0)) == "open"           # Sunday
    assert outcome(item, madrid(2025, 3, 9, 23, 59, 59)) == "open"
    assert outcome(item, madrid(2025, 3, 10, 0, 0)) == "closed"        # Monday
    assert outcome(item, madrid(2025, 3, 14, 23, 59, 59)) == "open"    # Friday
    assert outcome(item, madrid(2025, 3, 15, 0, 0)) == "closed"


def test_an_overnight_range_runs_into_the_next_day_and_belongs_to_the_day_it_starts(tmp_path: Path) -> None:
    item = schedule(tmp_path, """\
        timezone: Europe/Madrid
        hours: {fri: 22:00-06:00}
        """)
    assert outcome(item, madrid(2025, 3, 14, 21, 59)) == "closed"
    assert outcome(item, madrid(2025, 3, 14, 22, 0)) == "open"
    late = state_at(item, madrid(2025, 3, 15, 5, 59))
    assert late.outcome == "open" and late.reason == "Friday hours 22:00-06:00 (overnight)"
    assert late.next_change == madrid(2025, 3, 15, 6, 0)
    assert outcome(item, madrid(2025, 3, 15, 6, 0)) == "closed"
    assert outcome(item, madrid(2025, 3, 15, 23, 0)) == "closed"  # Saturday has no range of its own


def test_sunday_night_runs_into_monday_morning_across_the_end_of_the_week(tmp_path: Path) -> None:
    item = schedule(tmp_path, """\
        timezone: Europe/Madrid
        hours: {sun: 22:00-06:00, mon: 09:00-10:00}
        """)
    assert outcome(item, madrid(2025, 3, 9, 23, 0)) == "open"     # Sunday night
    assert outcome(item, madrid(2025, 3, 10, 3, 0)) == "open"     # Monday 03:00, still Sunday's range
    assert outcome(item, madrid(2025, 3, 10, 6, 0)) == "closed"
    assert outcome(item, madrid(2025, 3, 10, 9, 30)) == "open"
    assert outcome(item, madrid(2025, 3, 8, 3, 0)) == "closed"    # Saturday morning: no Friday range


def test_an_overnight_range_follows_its_own_days_holiday_not_the_next_days(tmp_path: Path) -> None:
    item = schedule(tmp_path, """\
        timezone: Europe/Madrid
        hours: {daily: 22:00-06:00}
        holidays: {country: ES}
        """)
    # 2025-12-08 (Monday) is a national holiday; Sunday night's range still runs into it.
    assert outcome(item, madrid(2025, 12, 8, 3, 0)) == "open"
    assert outcome(item, madrid(2025, 12, 8, 6, 0)) == "holiday"
    # Monday night's range belongs to the holiday: it does not open.
    assert outcome(item, madrid(2025, 12, 8, 23, 0)) == "holiday"
    assert outcome(item, madrid(2025, 12, 9, 3, 0)) == "closed"


# -- daylight saving time (Europe/Madrid) -----------------------------------------------
# 2025-03-30: 02:00 CET -> 03:00 CEST (01:00 UTC). 2025-10-26: 03:00 CEST -> 02:00 CET (01:00 UTC).

def test_spring_forward_a_range_starting_in_the_skipped_hour_opens_when_the_clock_jumps(tmp_path: Path) -> None:
    item = schedule(tmp_path, "timezone: Europe/Madrid\nhours: {sun: 02:30-04:00}\n")
    assert outcome(item, utc(2025, 3, 30, 0, 59, 59)) == "closed"    # 01:59:59 CET
    assert outcome(item, utc(2025, 3, 30, 1, 0)) == "open"           # 03:00 CEST
    saturday = state_at(item, madrid(2025, 3, 29, 12, 0))
    assert saturday.next_change == madrid(2025, 3, 30, 3, 0)
    assert saturday.next_change.utcoffset() == timedelta(hours=2)
    assert outcome(item, utc(2025, 3, 30, 2, 0)) == "closed"         # 04:00 CEST


def test_spring_forward_a_range_wholly_inside_the_skipped_hour_never_opens_that_day(tmp_path: Path) -> None:
    item = schedule(tmp_path, "timezone: Europe/Madrid\nhours: {sun: 02:00-02:30}\n")
    day = [utc(2025, 3, 29, 23, 0) + timedelta(minutes=5 * i) for i in range(12 * 6)]
    assert {outcome(item, moment) for moment in day} == {"closed"}
    assert outcome(item, madrid(2025, 4, 6, 2, 15)) == "open"        # the next Sunday it does


def test_spring_forward_a_range_across_the_jump_is_an_hour_shorter(tmp_path: Path) -> None:
    item = schedule(tmp_path, "timezone: Europe/Madrid\nhours: {sun: 01:00-03:30, sat: 22:00-08:00}\n")
    opened = [moment for moment, state in changes(item, madrid(2025, 3, 29, 12, 0), madrid(2025, 3, 30, 12, 0))]
    assert [m.astimezone(UTC) for m in opened] == [
        utc(2025, 3, 29, 21, 0),   # Saturday 22:00 CET: open
        utc(2025, 3, 30, 6, 0),    # Sunday 08:00 CEST: closed after 9 real hours
    ]
    assert outcome(item, utc(2025, 3, 30, 1, 29)) == "open"           # 03:29 CEST


def test_fall_back_a_range_ending_in_the_repeated_hour_ends_at_its_first_pass(tmp_path: Path) -> None:
    item = schedule(tmp_path, "timezone: Europe/Madrid\nhours: {sun: 01:00-02:30}\n")
    assert outcome(item, madrid(2025, 10, 26, 2, 15)) == "open"            # first 02:15 (CEST)
    assert outcome(item, madrid(2025, 10, 26, 2, 30)) == "closed"          # first 02:30
    assert outcome(item, madrid(2025, 10, 26, 2, 15, fold=1)) == "closed"  # second 02:15 (CET)
    assert outcome(item, utc(2025, 10, 26, 1, 15)) == "closed"             # the same moment in UTC
    state = state_at(item, madrid(2025, 10, 26, 1, 30))
    assert state.next_change is not None and state.next_change.astimezone(UTC) == utc(2025, 10, 26, 0, 30)


def test_fall_back_a_range_across_the_repeated_hour_stays_open_through_both_passes(tmp_path: Path) -> None:
    item = schedule(tmp_path, "timezone: Europe/Madrid\nhours: {sun: 00:00-03:00, sat: 22:00-06:00}\n")
    for minutes in range(0, 5 * 60, 10):  # Saturday 22:00 CEST to Sunday 03:00 CET, every 10 minutes
        moment = utc(2025, 10, 25, 20, 0) + timedelta(minutes=minutes)
        assert outcome(item, moment) == "open", moment
    assert outcome(item, madrid(2025, 10, 26, 2, 30, fold=1)) == "open"
    opened = changes(item, madrid(2025, 10, 25, 12, 0), madrid(2025, 10, 26, 12, 0))
    assert [(m.astimezone(UTC), s.outcome) for m, s in opened] == [
        (utc(2025, 10, 25, 20, 0), "open"),     # Saturday 22:00 CEST
        (utc(2025, 10, 26, 5, 0), "closed"),    # Sunday 06:00 CET: 9 real hours later
    ]
    assert opened[1][0].astimezone(UTC) - opened[0][0].astimezone(UTC) == timedelta(hours=9)  # usually 8


# -- holidays ----------------------------------------------------------------------------

def test_a_regional_holiday_is_a_holiday_only_in_its_own_region(tmp_path: Path) -> None:
    madrid_office = schedule(tmp_path, OFFICE + "holidays: {country: ES, subdiv: MD}\n", "madrid")
    barcelona = schedule(tmp_path, OFFICE + "holidays: {country: ES, subdiv: CT}\n", "barcelona")
    dia_de_madrid = madrid(2025, 5, 2, 10, 0)      # Friday: Fiesta de la Comunidad de Madrid
    diada = madrid(2025, 9, 11, 10, 0)             # Thursday: Diada Nacional de Catalunya
    state = state_at(madrid_office, dia_de_madrid)
    assert state.outcome == "holiday" and state.rule == "holiday"
    assert state.reason == "holiday: Fiesta de la Comunidad de Madrid (ES-MD)"
    assert outcome(barcelona, dia_de_madrid) == "open"
    assert outcome(barcelona, diada) == "holiday"
    assert outcome(madrid_office, diada) == "open"
    assert outcome(madrid_office, madrid(2025, 12, 25, 10, 0)) == "holiday"   # national, in both
    assert outcome(barcelona, madrid(2025, 12, 25, 10, 0)) == "holiday"


def test_a_holiday_lasts_the_whole_local_day(tmp_path: Path) -> None:
    office = schedule(tmp_path, OFFICE + "holidays: {country: ES, subdiv: MD}\n")
    assert outcome(office, madrid(2025, 5, 2, 0, 0)) == "holiday"
    assert outcome(office, madrid(2025, 5, 2, 23, 59, 59)) == "holiday"
    assert state_at(office, madrid(2025, 4, 30, 20, 0)).next_change == madrid(2025, 5, 1, 0, 0)
    # May Day, then Madrid Day: one holiday outcome for two days.
    assert state_at(office, madrid(2025, 5, 1, 20, 0)).next_change == madrid(2025, 5, 3, 0, 0)
    assert outcome(office, madrid(2025, 5, 3, 0, 0)) == "closed"


def test_extra_holidays_by_date_or_every_year_and_holidays_named_in_the_chosen_language(tmp_path: Path) -> None:
    item = schedule(tmp_path, OFFICE + textwrap.dedent("""\
        holidays:
          country: ES
          subdiv: MD
          language: en_US
          extra: {05-15: San Isidro, 2025-06-13: Company day}
        """))
    assert state_at(item, madrid(2025, 5, 15, 10, 0)).reason == "holiday: San Isidro (ES-MD)"
    assert outcome(item, madrid(2026, 5, 15, 10, 0)) == "holiday"
    assert outcome(item, madrid(2025, 6, 13, 10, 0)) == "holiday"
    assert outcome(item, madrid(2026, 6, 12, 10, 0)) == "open"
    assert state_at(item, madrid(2025, 12, 25, 10, 0)).reason == "holiday: Christmas Day (ES-MD)"


# -- dated exceptions and closures ------------------------------------------------------------

DATED = OFFICE + """\
holidays: {country: ES, subdiv: MD}
exceptions:
  12-24: {hours: 09:00-14:00, name: Christmas Eve}
  2025-12-08: 10:00-13:00
  2025-12-30: []
closures:
  2025-08-11..2025-08-14: {outcome: inventory, name: Stock-take}
  2025-12-24: closure
"""


def test_special_hours_replace_the_weekly_ones_on_their_date(tmp_path: Path) -> None:
    item = schedule(tmp_path, DATED)
    eve = madrid(2026, 12, 24, 10, 0)   # a Thursday: normally a split day
    state = state_at(item, eve)
    assert state.outcome == "open" and state.rule == "exception"
    assert state.reason == "special hours on 12-24 (Christmas Eve) 09:00-14:00"
    assert outcome(item, madrid(2026, 12, 24, 17, 0)) == "closed"
    assert outcome(item, madrid(2025, 12, 30, 10, 0)) == "closed"     # no hours that day
    assert state_at(item, madrid(2025, 12, 30, 10, 0)).reason == "special hours on 2025-12-30: closed all day"


def test_an_exception_beats_a_holiday(tmp_path: Path) -> None:
    item = schedule(tmp_path, DATED)
    assert outcome(item, madrid(2025, 12, 8, 11, 0)) == "open"        # Immaculate Conception, opened
    assert outcome(item, madrid(2025, 12, 8, 14, 0)) == "closed"


def test_a_closure_has_its_own_outcome_and_a_full_date_beats_a_yearly_exception(tmp_path: Path) -> None:
    item = schedule(tmp_path, DATED)
    assert item.outcomes() == ("open", "closed", "holiday", "inventory", "closure")
    stock = state_at(item, madrid(2025, 8, 12, 10, 0))
    assert stock.outcome == "inventory" and stock.rule == "closure"
    assert stock.reason == "closure on 2025-08-11..2025-08-14: Stock-take"
    assert stock.next_change == madrid(2025, 8, 15, 0, 0) and stock.next_outcome == "holiday"
    assert outcome(item, madrid(2025, 8, 11, 0, 0)) == "inventory"
    assert outcome(item, madrid(2025, 8, 10, 23, 59)) == "closed"
    assert outcome(item, madrid(2025, 12, 24, 10, 0)) == "closure"    # 2025-12-24 beats 12-24
    assert outcome(item, madrid(2026, 12, 24, 10, 0)) == "open"


# -- overrides -------------------------------------------------------------------------------

def test_an_override_wins_until_it_ends_and_then_the_schedule_rules_again(tmp_path: Path) -> None:
    item = schedule(tmp_path, DATED)
    drill = Override("hours", "closed", madrid(2025, 3, 10, 12, 0), "fire drill")
    state = state_at(item, madrid(2025, 3, 10, 10, 0), drill)
    assert state.outcome == "closed" and state.rule == "override" and state.override == drill
    assert state.reason == "manual override: closed until 2025-03-10 12:00 CET (fire drill)"
    assert state.next_change == madrid(2025, 3, 10, 12, 0) and state.next_outcome == "open"
    assert outcome(item, madrid(2025, 3, 10, 11, 59, 59), drill) == "closed"
    assert outcome(item, madrid(2025, 3, 10, 12, 0), drill) == "open"
    assert outcome(item, madrid(2025, 3, 10, 13, 0), drill) == "open"


def test_an_override_beats_a_closure_and_a_holiday(tmp_path: Path) -> None:
    item = schedule(tmp_path, DATED)
    opened = Override("hours", "open", madrid(2025, 8, 20, 0, 0))
    assert outcome(item, madrid(2025, 8, 12, 10, 0), opened) == "open"
    assert outcome(item, madrid(2025, 8, 15, 10, 0), opened) == "open"


def test_an_override_ending_into_the_same_state_reports_the_schedules_next_change(tmp_path: Path) -> None:
    item = schedule(tmp_path, OFFICE)
    closed_until_lunch = Override("hours", "closed", madrid(2025, 3, 10, 15, 0))
    state = state_at(item, madrid(2025, 3, 10, 10, 0), closed_until_lunch)
    assert state.next_change == madrid(2025, 3, 10, 16, 0) and state.next_outcome == "open"


# -- looking ahead -----------------------------------------------------------------------------

def test_a_schedule_that_never_changes_has_no_next_change(tmp_path: Path) -> None:
    never = schedule(tmp_path, "timezone: Europe/Madrid\nhours: {}\n", "never")
    always = schedule(tmp_path, "timezone: Europe/Madrid\nhours: {daily: 00:00-24:00}\n", "always")
    assert state_at(never, madrid(2025, 3, 10, 10, 0)).next_change is None
    state = state_at(always, madrid(2025, 3, 29, 10, 0))   # across the DST change
    assert state.outcome == "open" and state.next_change is None


def test_changes_list_every_change_in_a_week_in_order(tmp_path: Path) -> None:
    office = schedule(tmp_path, OFFICE)
    found = changes(office, madrid(2025, 3, 10, 0, 0), madrid(2025, 3, 17, 0, 0))
    assert len(found) == 4 * 4 + 2
    assert [s.outcome for _, s in found[:4]] == ["open", "closed", "open", "closed"]
    assert found[0][0] == madrid(2025, 3, 10, 9, 0)
    assert found[-1][0] == madrid(2025, 3, 14, 15, 0)
    assert all(a[0] < b[0] for a, b in zip(found, found[1:]))


def test_a_naive_moment_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="aware"):
        state_at(schedule(tmp_path, OFFICE), datetime(2025, 3, 10, 10, 0))


# -- moments as an operator types them ---------------------------------------------------------

NOW = madrid(2025, 3, 10, 17, 30)


@pytest.mark.parametrize("text, expected", [
    ("2h", madrid(2025, 3, 10, 19, 30)),
    ("30m", madrid(2025, 3, 10, 18, 0)),
    ("1h30m", madrid(2025, 3, 10, 19, 0)),
    ("1d", madrid(2025, 3, 11, 17, 30)),
    ("18:00", madrid(2025, 3, 10, 18, 0)),
    ("09:00", madrid(2025, 3, 11, 9, 0)),
    ("17:30", madrid(2025, 3, 11, 17, 30)),
    ("2025-03-12T08:00", madrid(2025, 3, 12, 8, 0)),
    ("2025-03-12 08:00+00:00", utc(2025, 3, 12, 8, 0)),
    ("2025-03-12", madrid(2025, 3, 12, 0, 0)),
])
def test_until_and_at_accept_durations_times_of_day_and_iso(text: str, expected: datetime) -> None:
    assert parse_moment(text, NOW, MADRID) == expected


@pytest.mark.parametrize("text", ["", "tomorrow", "2x", "25:00", "h"])
def test_a_moment_that_cannot_be_read_says_which_forms_work(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_moment(text, NOW, MADRID)


def test_a_time_of_day_in_the_skipped_hour_means_the_jump() -> None:
    before = madrid(2025, 3, 29, 23, 0)
    assert parse_moment("02:30", before, MADRID).astimezone(UTC) == utc(2025, 3, 30, 1, 0)
