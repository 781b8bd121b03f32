"""Times as people write them, read the same way everywhere: ``simulate
--at``, ``agiflow test``'s ``at:``, ``schedule show --at``, ``schedule
override --from/--until`` and the report filters.

A time with an offset (``2025-03-10T09:30+01:00``, ``...Z``) is that
instant. A time without one is a wall-clock time in the zone it belongs to
(the flow's, the schedule's, the report's), with one rule for daylight
saving time:

- a time the clock shows twice (the repeated hour in autumn) is its first
  occurrence, before the clocks go back, as in schedule hours;
- a time the clock never shows (the skipped hour in spring) names no
  instant: an error that says so (write it with an offset);
- a date alone is the day's first instant (its midnight, or the moment the
  clocks jump where midnight is skipped);
- a time must fall within ``RANGE`` (Python's datetime holds years 1 to
  9999; a year kept free at each end leaves room for UTC offsets and for the
  days a schedule or a report looks ahead or back): outside it, and for a
  duration that reaches beyond it, an error that says so.
"""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo

UTC = timezone.utc
#: The first and last years a time may name.
FIRST_YEAR, LAST_YEAR = 2, 9998
#: The accepted range, as the error messages and docs/cli.md give it.
RANGE = f"{FIRST_YEAR:04d}-01-01 to {LAST_YEAR:04d}-12-31"


class MomentError(ValueError):
    """A time that cannot be read, or that the clock never shows."""


class SkippedTime(MomentError):
    """A wall-clock time the clocks jump over (spring forward)."""


class OutOfRange(MomentError):
    """A time, or a time a duration reaches, outside ``RANGE``."""


def within_range(moment: date, text: str) -> None:
    """Raise OutOfRange unless ``moment`` (a date, or a datetime in its own
    offset) falls in a year from FIRST_YEAR to LAST_YEAR."""
    if not FIRST_YEAR <= moment.year <= LAST_YEAR:
        raise OutOfRange(f"'{text}' is out of range: times go from {RANGE}")


def shifted(now: datetime, text: str, *, back: bool = False, **amounts: int) -> datetime:
    """``now`` plus (``back``: minus) the duration ``text`` names, given as
    ``timedelta`` arguments (``days=2, hours=1``); OutOfRange when the
    result falls outside ``RANGE``."""
    try:
        delta = timedelta(**amounts)
        moment = now - delta if back else now + delta
    except OverflowError:
        moment = None
    if moment is None or not FIRST_YEAR <= moment.astimezone(UTC).year <= LAST_YEAR:
        way = "ago" if back else "from now"
        raise OutOfRange(f"'{text}' {way} is out of range: times go from {RANGE}")
    return moment


def local(moment: datetime, zone: tzinfo) -> datetime:
    """``moment`` as an aware datetime: as it is when it has an offset,
    else the wall-clock time it names in ``zone`` (first occurrence of a
    repeated time; a skipped time raises SkippedTime, one outside ``RANGE``
    OutOfRange)."""
    within_range(moment, moment.isoformat(sep=" "))
    if moment.tzinfo is not None:
        return moment
    first = moment.replace(tzinfo=zone, fold=0)
    if first.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != moment.replace(fold=0):
        raise SkippedTime(f"{moment.isoformat(sep=' ', timespec='minutes')} does not exist in {_name(zone)}: "
                          f"the clocks go forward over it; write the time with its UTC offset "
                          f"(e.g. {moment.isoformat(timespec='minutes')}{_offset(zone, moment)})")
    return first


def parse(text: str, zone: tzinfo) -> datetime:
    """An ISO 8601 date and time (``2025-03-10T09:30``, ``2025-03-10
    09:30:00+01:00``, ``2025-03-10T08:30Z``; a date alone is its first
    instant) as an aware datetime, read in ``zone`` when it has no offset."""
    text = text.strip()
    try:
        day = date.fromisoformat(text)
    except ValueError:
        pass
    else:
        within_range(day, text)
        return day_start(day, zone)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise MomentError(f"'{text}' is not an ISO time such as 2025-03-10T09:30 "
                          f"or 2025-03-10T09:30+01:00") from None
    within_range(moment, text)
    return local(moment, zone)


def day_start(day: date, zone: tzinfo) -> datetime:
    """The first instant of ``day`` in ``zone``: its midnight, or the
    moment the clocks jump where midnight is skipped."""
    return instant(day, 0, zone).astimezone(zone)  # type: ignore[arg-type]  # any tzinfo will do


def _name(zone: tzinfo) -> str:
    return str(getattr(zone, "key", zone))


def _offset(zone: tzinfo, moment: datetime) -> str:
    """The offset in force just before ``moment``'s wall time, as +01:00."""
    before = (moment - timedelta(hours=3)).replace(tzinfo=zone).utcoffset() or timedelta(0)
    sign, seconds = ("-", -before.total_seconds()) if before < timedelta(0) else ("+", before.total_seconds())
    return f"{sign}{int(seconds) // 3600:02d}:{int(seconds) % 3600 // 60:02d}"


def instant(day: date, minutes: int, zone: ZoneInfo) -> datetime:
    """The UTC instant the wall clock in ``zone`` shows ``minutes`` after
    midnight on ``day`` (1440 = the next midnight): the first occurrence of
    a repeated time, the moment of the jump for a skipped one."""
    day, minutes = (day + timedelta(days=1), 0) if minutes >= 24 * 60 else (day, minutes)
    wall = datetime.combine(day, time(minutes // 60, minutes % 60))
    first = wall.replace(tzinfo=zone).astimezone(UTC)
    if first.astimezone(zone).replace(tzinfo=None) == wall:
        return first
    # Skipped: find the jump between the two readings of the wall time.
    low = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    high = first
    if low > high:
        low, high = high, low
    while (high - low) > timedelta(seconds=1):
        middle = low + (high - low) / 2
        if middle.astimezone(zone).replace(tzinfo=None) > wall:
            high = middle
        else:
            low = middle
    return high.replace(microsecond=0)
