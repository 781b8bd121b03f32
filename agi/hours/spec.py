"""The text forms of schedule parts, as written in a schedules file:
``09:00-14:00``, ``mon-fri``, ``2025-12-24``, ``2025-08-11..2025-08-15``,
``12-24``. Each parser raises ValueError with a message for the author."""
from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from agi.hours import moments
from agi.hours.moments import instant
from agi.hours.model import MINUTES_PER_DAY, WEEKDAYS, DateSpan, TimeRange

_CLOCK = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
_FULL_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_YEARLY_DATE = re.compile(r"^(\d{2})-(\d{2})$")
#: A leap year, to check yearly dates such as 02-29.
_ANY_LEAP_YEAR = 2024


def parse_clock(text: str, *, end: bool = False) -> int:
    """``HH:MM`` as minutes after midnight; ``24:00`` only as an end."""
    text = text.strip()
    if end and text == "24:00":
        return MINUTES_PER_DAY
    found = _CLOCK.match(text)
    if not found:
        allowed = "00:00 to 24:00" if end else "00:00 to 23:59"
        raise ValueError(f"'{text}' is not a time of day HH:MM ({allowed})")
    return int(found.group(1)) * 60 + int(found.group(2))


def parse_range(text: object) -> TimeRange:
    """``09:00-14:00``; ``22:00-06:00`` runs overnight into the next day."""
    if not isinstance(text, str):
        raise ValueError(f"{text!r} is not a range of hours; write it as text, e.g. \"09:00-14:00\"")
    start_text, dash, end_text = text.partition("-")
    if not dash:
        raise ValueError(f"'{text}' is not a range of hours such as 09:00-14:00")
    start, end = parse_clock(start_text), parse_clock(end_text, end=True)
    if start == end:
        raise ValueError(f"'{text}' starts and ends at the same time; use 00:00-24:00 for the whole day")
    return TimeRange(start, end)


def parse_days(text: str) -> tuple[int, ...]:
    """``mon-fri``, ``sat,sun``, ``fri-mon`` (wraps), ``daily`` -> weekday
    numbers, Monday = 0, in the order written."""
    words = [w.strip().lower() for w in text.split(",")]
    days: list[int] = []
    for word in words:
        if word in ("daily", "every day"):
            days.extend(range(7))
            continue
        first, dash, last = word.partition("-")
        start = _weekday(first, text)
        stop = _weekday(last, text) if dash else start
        span = (stop - start) % 7
        days.extend((start + i) % 7 for i in range(span + 1))
    return tuple(dict.fromkeys(days))


def _weekday(word: str, text: str) -> int:
    word = word.strip().lower()[:3]
    if word not in WEEKDAYS:
        raise ValueError(f"'{text}' is not a weekday or range of weekdays; use {', '.join(WEEKDAYS)}, "
                         f"ranges such as mon-fri, lists such as sat,sun, or daily")
    return WEEKDAYS.index(word)


def parse_span(text: str) -> DateSpan:
    """``2025-12-24``, ``2025-08-11..2025-08-15``, ``12-24`` or ``12-24..12-26``
    (the last two: every year)."""
    first_text, dots, last_text = text.strip().partition("..")
    first, yearly = _date_parts(first_text, text)
    last, last_yearly = _date_parts(last_text, text) if dots else (first, yearly)
    if yearly != last_yearly:
        raise ValueError(f"'{text}': both ends must be full dates (YYYY-MM-DD) or both yearly (MM-DD)")
    if last < first and yearly:
        raise ValueError(f"'{text}': the range ends before it starts; a yearly range stays within one year: "
                         f"write {first_text.strip()}..12-31 and 01-01..{last_text.strip()}")
    if last < first:
        raise ValueError(f"'{text}': the range ends before it starts")
    return DateSpan(first, last, yearly, text.strip())


def _date_parts(text: str, whole: str) -> tuple[tuple[int, int, int], bool]:
    text = text.strip()
    full, yearly = _FULL_DATE.match(text), _YEARLY_DATE.match(text)
    if full:
        year, month, day = map(int, full.groups())
    elif yearly:
        year, (month, day) = _ANY_LEAP_YEAR, map(int, yearly.groups())
    else:
        raise ValueError(f"'{whole}' is not a date (YYYY-MM-DD), a yearly date (MM-DD) "
                         f"or a range of them (YYYY-MM-DD..YYYY-MM-DD)")
    try:
        date(year, month, day)
    except ValueError:
        where = f"'{whole}'" if whole.strip() == text else f"'{whole}': {text}"
        raise ValueError(f"{where} is not a day of the calendar") from None
    return (0 if yearly else year, month, day), bool(yearly)


def find_overlap(ranges: list[TimeRange]) -> tuple[TimeRange, TimeRange] | None:
    """Two ranges of the same day that share some minutes, if any."""
    spans = sorted(((r.start, r.end if not r.overnight else r.end + MINUTES_PER_DAY), r) for r in ranges)
    for (a_span, a), (b_span, b) in zip(spans, spans[1:]):
        if b_span[0] < a_span[1]:
            return a, b
    return None


_RELATIVE = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?$")
_ISO_START = re.compile(r"^\d{4}-?\d{2}-?\d{2}")


def parse_moment(text: str, now: datetime, zone: ZoneInfo) -> datetime:
    """A moment as an operator types it, as an aware datetime:

    - ``2h``, ``30m``, ``1d``, ``1h30m``: that long after ``now``;
    - ``HH:MM``: the next time the clock in ``zone`` shows it (today or
      tomorrow), with the rule of schedule hours: a skipped time means the
      moment the clocks jump, a repeated one its first occurrence;
    - ISO 8601 (``2025-03-10T18:00``, ``2025-03-10 18:00+01:00``, ``2025-03-11``):
      without an offset it is a time in ``zone``, read by ``moments.parse``.

    A moment outside ``moments.RANGE`` raises ``moments.OutOfRange``.
    """
    text = text.strip()
    relative = _RELATIVE.match(text)
    if text and relative and any(relative.groups()):
        days, hours, minutes = (int(part or 0) for part in relative.groups())
        return moments.shifted(now, text, days=days, hours=hours, minutes=minutes)
    if _CLOCK.match(text):
        minutes = parse_clock(text)
        today = now.astimezone(zone).date()
        for day in (today, today + timedelta(days=1)):
            moment = instant(day, minutes, zone)
            if moment > now:
                return moment.astimezone(zone)
    if not _ISO_START.match(text):
        raise ValueError(f"'{text}' is not a time: use a duration (30m, 2h, 1d, 1h30m), a time of "
                         f"day (18:00) or an ISO date and time (2025-03-10T18:00)")
    return moments.parse(text, zone)
