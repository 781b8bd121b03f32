"""The charts over time of the HTML page: per hour up to two days, else per
day, in the report's zone, every interval present, the repeated hour of a
DST change told apart by its offset; counted on both backends."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

from support.cdr_builder import CdrBuilder, utc

from agi.reports import run_report
from agi.reports.model import Chart, Filters
from agi.reports.timeline import hours, offset_text, span
from agi.reports.timerange import moment, zone

MADRID, _ = zone("Europe/Madrid")
KOLKATA, _ = zone("Asia/Kolkata")
NOW = datetime(2025, 11, 1, tzinfo=timezone.utc)


def labels(low: str, high: str, tz: object = MADRID) -> list[str]:
    return [label for _, label, _ in hours(tz, utc(low), utc(high))]  # type: ignore[arg-type]


def test_the_night_the_clocks_go_back_has_two_2_oclock_hours_marked_with_their_offsets() -> None:
    day = labels("2025-10-25 22:00:00", "2025-10-26 23:00:00")  # Madrid's whole 26 October: 25 hours
    assert len(day) == 25
    assert day[:5] == ["00:00", "01:00", "02:00+02", "02:00+01", "03:00"] and day[-1] == "23:00"
    marked = [label for _, label, marked in hours(MADRID, utc("2025-10-25 22:00:00"), utc("2025-10-26 23:00:00"))
              if marked]
    assert marked == ["02:00+02", "02:00+01"]


def test_the_night_the_clocks_go_forward_has_no_2_oclock() -> None:
    day = labels("2025-03-29 23:00:00", "2025-03-30 22:00:00")
    assert len(day) == 23 and "02:00" not in day and day[:3] == ["00:00", "01:00", "03:00"]


def test_hours_over_two_days_name_each_midnight_by_its_date() -> None:
    two_days = labels("2025-03-09 23:00:00", "2025-03-11 23:00:00")
    assert two_days[0] == "2025-03-10" and two_days[24] == "2025-03-11" and two_days[1] == "01:00"


def test_a_half_hour_zone_counts_its_own_hours() -> None:
    assert labels("2025-03-10 03:30:00", "2025-03-10 06:30:00", KOLKATA) == ["09:00", "10:00", "11:00"]
    assert offset_text(datetime(2025, 3, 10, tzinfo=KOLKATA)) == "+05:30"


def test_the_span_is_the_range_asked_for_never_past_now() -> None:
    first, last = "2025-03-10T08:00:00.000Z", "2025-03-12T17:00:00.000Z"
    assert span(first, last, None, None, NOW) == (utc("2025-03-10 08:00:00"), utc("2025-03-12 17:00:01"))
    since = utc("2025-03-01 00:00:00")
    assert span(first, last, since, None, NOW) == (since, NOW)
    assert span(first, last, since, NOW + timedelta(days=3), NOW) == (since, NOW)
    assert span(None, None, since, None, NOW) is None


def test_a_range_of_centuries_is_charted_over_its_last_ten_years() -> None:
    first, last = "0002-01-01T00:00:00.000Z", "2025-03-12T17:00:00.000Z"
    assert span(first, last, utc("0002-01-01 00:00:00"), None, NOW) == (NOW - timedelta(days=3660), NOW)
    end = utc("2025-03-12 17:00:01")  # the last call's second
    assert span(first, last, None, None, NOW) == (end - timedelta(days=3660), end)
    ten_years = (NOW - timedelta(days=3660), NOW)
    assert span(first, last, ten_years[0], None, NOW) == ten_years


def report_charts(database: Path, since: str, until: str) -> dict[str, Chart]:
    filters = Filters(moment(since, NOW, MADRID), moment(until, NOW, MADRID, end=True), tz=MADRID,
                      tz_name="Europe/Madrid")
    report = run_report(database, "summary", filters, NOW, charts=True)
    return {chart.title: chart for chart in report.charts}


def test_the_dst_night_is_counted_hour_by_hour_on_each_backend(database: Path) -> None:
    cdr = CdrBuilder(database)
    for start, status in (("2025-10-26 00:10:00", "ANSWERED"), ("2025-10-26 00:20:00", "ABANDONED"),
                          ("2025-10-26 01:10:00", "ANSWERED"), ("2025-10-26 09:00:00", "TIMEOUT")):
        cdr.add(start, queue="support", queue_status=status, queue_wait=30.0 if status == "ANSWERED" else 90.0,
                talk_time=60.0 if status == "ANSWERED" else None)
    cdr.add("2025-10-26 01:30:00")  # no queue: counted as a call, never offered
    cdr.close()
    charts = report_charts(cdr.path, "2025-10-26", "2025-10-26")
    chart = charts["Offered, answered and abandoned calls per hour"]
    assert len(chart.labels) == 25 and chart.labels[2:4] == ["02:00+02", "02:00+01"]
    offered, answered, abandoned = ({label: v for label, v in zip(chart.labels, s.values) if v}
                                    for s in chart.series)
    assert offered == {"02:00+02": 2, "02:00+01": 1, "10:00": 1}  # 09:00 UTC is 10:00 CET
    assert answered == {"02:00+02": 1, "02:00+01": 1} and abandoned == {"02:00+02": 1}
    waits = charts["Average speed of answer (ASA) per hour"].series[0].values
    assert waits[2:5] == [30.0, 30.0, None]  # the answered calls' wait; no answered call at 03:00
    assert "Calls per day" not in charts  # one day: per hour only


def test_two_days_over_the_night_the_clocks_go_back_are_still_counted_hour_by_hour(database: Path) -> None:
    """Madrid's 25 and 26 October 2025 are two days of 49 real hours: still
    per hour, as any two days are, with the hour of each midnight dated."""
    cdr = CdrBuilder(database)
    cdr.add("2025-10-25 08:00:00", queue="support", queue_status="ANSWERED", queue_wait=10.0, talk_time=60.0)
    cdr.add("2025-10-26 22:30:00", queue="support", queue_status="ANSWERED", queue_wait=10.0, talk_time=60.0)
    cdr.close()
    charts = report_charts(cdr.path, "2025-10-25", "2025-10-26")
    assert "Calls per day" not in charts
    chart = charts["Offered, answered and abandoned calls per hour"]
    assert len(chart.labels) == 49 and chart.labels[0] == "2025-10-25" and chart.labels[24] == "2025-10-26"
    assert {label: v for label, v in zip(chart.labels, chart.series[0].values) if v} == {"10:00": 1, "23:00": 1}
    three_days = report_charts(cdr.path, "2025-10-25", "2025-10-27")
    assert "Calls per day" in three_days
    hours_48 = report_charts(cdr.path, "2025-03-29T12:00", "2025-03-31T13:00")  # 48 h, 49 on the clocks
    assert "Calls per day" not in hours_48


def test_ninety_days_are_counted_per_day_with_every_day_present(database: Path) -> None:
    cdr = CdrBuilder(database)
    for day in range(0, 90, 3):
        cdr.add((utc("2025-08-01 10:00:00") + timedelta(days=day)).strftime("%Y-%m-%d %H:%M:%S"),
                queue="support", queue_status="ANSWERED", queue_wait=20.0, talk_time=50.0)
    cdr.close()
    charts = report_charts(cdr.path, "2025-08-01", "2025-10-29")
    per_day = charts["Calls per day"]
    assert len(per_day.labels) == 90 and per_day.labels[0] == "2025-08-01" and per_day.labels[-1] == "2025-10-29"
    assert sum(per_day.values) == 30 and per_day.values[:4] == [1, 0, 0, 1]
    offered = charts["Offered, answered and abandoned calls per day"].series[0]
    assert list(offered.values) == list(per_day.values)


def test_where_the_clocks_change_by_half_an_hour_every_hour_keeps_its_calls(database: Path) -> None:
    """Lord Howe Island: 02:00 (+11:00) becomes 01:30 (+10:30) on 6 April, and
    02:00 (+10:30) becomes 02:30 (+11:00) on 5 October. The hours after each
    change are counted as inbound --by interval60 counts them (they were 0)."""
    cdr = CdrBuilder(database)
    # 6 April, local: 01:10+11, 01:40+10:30 (the repeated half hour), 02:10, 03:10 and 05:10 (+10:30)
    # 5 October, local: 01:10+10:30, 02:40+11 (the hour from 02:00), 03:10 and 06:10 (+11)
    for start in ("2025-04-05 14:10:00", "2025-04-05 15:10:00", "2025-04-05 15:40:00", "2025-04-05 16:40:00",
                  "2025-04-05 18:40:00", "2025-10-04 14:40:00", "2025-10-04 15:40:00", "2025-10-04 16:10:00",
                  "2025-10-04 19:10:00"):
        cdr.add(start, queue="support", queue_status="ANSWERED", queue_wait=10.0, talk_time=60.0)
    cdr.close()
    lord_howe, _ = zone("Australia/Lord_Howe")
    for day, expected in (("2025-04-06", {"01:00+11": 1, "01:00+10:30": 1, "02:00": 1, "03:00": 1, "05:00": 1}),
                          ("2025-10-05", {"01:00": 1, "02:00": 1, "03:00": 1, "06:00": 1})):
        filters = Filters(moment(day, NOW, lord_howe), moment(day, NOW, lord_howe, end=True), tz=lord_howe,
                          tz_name="Australia/Lord_Howe")
        report = run_report(database, "inbound", filters, NOW, charts=True)
        chart = {c.title: c for c in report.charts}["Offered, answered and abandoned calls per hour"]
        offered = {label: v for label, v in zip(chart.labels, chart.series[0].values) if v}
        assert offered == expected
        assert len(chart.labels) == (25 if day == "2025-04-06" else 24)  # 24.5 and 23.5 hours of real time
        waits = {c.title: c for c in report.charts}["Average speed of answer (ASA) per hour"].series[0].values
        assert [v for v in waits if v is not None] == [10.0] * len(expected)


def test_where_the_clocks_skip_midnight_the_first_hour_of_the_day_is_labelled_with_its_date() -> None:
    santiago, _ = zone("America/Santiago")  # 7 September 2025: 00:00 (-04:00) becomes 01:00 (-03:00)
    two_days = labels("2025-09-06 04:00:00", "2025-09-08 03:00:00", santiago)
    assert two_days[0] == "2025-09-06" and "2025-09-07" in two_days
    assert two_days[two_days.index("2025-09-07") - 1] == "23:00" and len(two_days) == 47
