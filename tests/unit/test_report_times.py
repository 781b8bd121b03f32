"""``--since``/``--until`` values and the report time zone."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from agi.reports.timerange import TimeError, moment, sql_time, system_zone, zone

NOW = datetime(2025, 3, 30, 10, 15, tzinfo=timezone.utc)  # 12:15 CEST, the day summer time starts
MADRID, _ = zone("Europe/Madrid")


@pytest.mark.parametrize("text, end, expected", [
    ("2025-03-10", False, "2025-03-09T23:00:00.000Z"),
    ("2025-03-10", True, "2025-03-10T23:00:00.000Z"),       # a date as --until includes that day
    ("2025-03-30", True, "2025-03-30T22:00:00.000Z"),       # that day has 23 hours in Madrid
    ("2025-03-10T09:30", False, "2025-03-10T08:30:00.000Z"),  # no offset: Madrid time
    ("2025-03-10 09:30:00", True, "2025-03-10T08:30:00.000Z"),  # a time is exact, also as --until
    ("2025-03-10T09:30:00+05:00", False, "2025-03-10T04:30:00.000Z"),
    ("2025-03-10T09:30:00Z", False, "2025-03-10T09:30:00.000Z"),
    ("7d", False, "2025-03-23T10:15:00.000Z"),
    ("24h", True, "2025-03-29T10:15:00.000Z"),
    ("30m", False, "2025-03-30T09:45:00.000Z"),
    ("2w", False, "2025-03-16T10:15:00.000Z"),
    ("today", False, "2025-03-29T23:00:00.000Z"),
    ("today", True, "2025-03-30T22:00:00.000Z"),
    ("yesterday", False, "2025-03-28T23:00:00.000Z"),
    ("now", True, "2025-03-30T10:15:00.000Z"),
    ("TODAY", False, "2025-03-29T23:00:00.000Z"),
])
def test_when_forms_become_utc_moments(text: str, end: bool, expected: str) -> None:
    assert sql_time(moment(text, NOW, MADRID, end=end)) == expected


@pytest.mark.parametrize("text", ["last tuesday", "2025-13-01", "7y", "", "-3d"])
def test_unknown_forms_say_what_is_accepted(text: str) -> None:
    with pytest.raises(TimeError):
        moment(text, NOW, MADRID)


def test_zone_names_are_iana_names(monkeypatch: pytest.MonkeyPatch) -> None:
    assert zone("UTC")[1] == "UTC"
    with pytest.raises(TimeError, match="unknown time zone"):
        zone("Madrid")
    monkeypatch.setenv("TZ", "America/New_York")
    assert system_zone()[1] == "America/New_York" and zone(None)[1] == "America/New_York"
    assert zone("local")[1] == "America/New_York"


@pytest.mark.parametrize("name", ["Europe/Madrid", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata",
                                  "UTC"])
def test_local_times_in_sql_match_the_zone_rules_across_two_years(name: str) -> None:
    import sqlite3
    from datetime import timedelta

    from agi.reports.localtime import local_time_sql
    tz, _ = zone(name)
    low, high = datetime(2024, 1, 1, tzinfo=timezone.utc), datetime(2026, 1, 1, tzinfo=timezone.utc)
    stamps = [low + timedelta(minutes=37 * i, seconds=i % 60) for i in range(int((high - low).total_seconds()) // 2220)]
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE calls (started_at TEXT)")
    conn.executemany("INSERT INTO calls VALUES (?)", [(sql_time(s),) for s in stamps])
    params: dict[str, object] = {}
    expr = local_time_sql("c.started_at", tz, low, high, params)
    got = [row[0] for row in conn.execute(f"SELECT {expr} FROM calls c ORDER BY rowid", params)]
    assert got == [s.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S") for s in stamps]


@pytest.mark.parametrize(("name", "low", "high"), [
    ("Africa/Freetown", 1935, 1945),  # two changes 95 hours apart, the closest of the database
    ("America/Noronha", 1998, 2002), ("Asia/Gaza", 2038, 2042), ("Australia/Lord_Howe", 2024, 2026),
    ("America/Santiago", 2022, 2025), ("Europe/Madrid", 1937, 1947)])
def test_the_daily_walk_finds_every_change_of_offset_an_hourly_one_finds(
        name: str, low: int, high: int, monkeypatch: pytest.MonkeyPatch) -> None:
    from datetime import timedelta
    from zoneinfo import ZoneInfo

    from agi.reports import localtime
    span = (datetime(low, 1, 1, tzinfo=timezone.utc), datetime(high, 1, 1, tzinfo=timezone.utc))
    daily = localtime.offsets(ZoneInfo(name), *span)
    monkeypatch.setattr(localtime, "_STEP", timedelta(hours=1))
    assert daily == localtime.offsets(ZoneInfo(name), *span)
    assert len(daily) > 2

