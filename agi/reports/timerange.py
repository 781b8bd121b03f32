"""Moments and zones for report filters: ``--since``/``--until`` values
(dates, ISO times, ``7d``/``24h``/``30m``/``2w``, ``today``, ``yesterday``,
``now``) and the time zone that days and hours are counted in."""
from __future__ import annotations

import os
import re
from datetime import date, datetime, timedelta, timezone, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo

from agi.hours import moments
from agi.reports.errors import ReportError
from agi.zones import ZONE_ERRORS, named_zone

UTC = timezone.utc
_RELATIVE = re.compile(r"^(\d+)\s*([wdhm])$")
_UNITS = {"w": "weeks", "d": "days", "h": "hours", "m": "minutes"}


class TimeError(ValueError):
    """A moment or zone that cannot be understood; the message says why."""


def zone(name: str | None) -> tuple[tzinfo, str]:
    """The zone called ``name`` (IANA, e.g. ``Europe/Madrid``, or ``UTC``),
    or the system's zone when ``name`` is None or ``local``."""
    if name is None or name == "local":
        return system_zone()
    try:
        return named_zone(name), name
    except ZONE_ERRORS:
        raise TimeError(f"unknown time zone {name!r}; use an IANA name such as Europe/Madrid or UTC") from None


def system_zone() -> tuple[tzinfo, str]:
    """The machine's zone: ``$TZ`` when it names an IANA zone, else
    /etc/localtime, else UTC."""
    candidates = [os.environ.get("TZ", "").lstrip(":")]
    localtime = Path("/etc/localtime")
    if localtime.is_symlink():
        target = str(localtime.resolve())
        if "zoneinfo/" in target:
            candidates.append(target.split("zoneinfo/", 1)[1])
    for name in filter(None, candidates):
        try:
            return ZoneInfo(name), name
        except ZONE_ERRORS:
            continue
    if localtime.exists():
        try:
            with localtime.open("rb") as handle:
                return ZoneInfo.from_file(handle, key="localtime"), "localtime"
        except (OSError, ValueError):
            pass
    return UTC, "UTC"


def moment(text: str, now: datetime, tz: tzinfo, *, end: bool = False) -> datetime:
    """``text`` as an aware UTC datetime. Dates are midnight in ``tz``; as
    an end (``end=True``) a date means the end of that day, so
    ``--until 2025-03-10`` includes the 10th. Relative forms count back
    from ``now``. A moment outside ``moments.RANGE`` is a TimeError."""
    value = text.strip().lower()
    local_today = now.astimezone(tz).date()
    named = {"today": local_today, "yesterday": local_today - timedelta(days=1)}
    if value == "now":
        return now.astimezone(UTC)
    if value in named:
        return _midnight(named[value] + timedelta(days=1 if end else 0), tz)
    relative = _RELATIVE.match(value)
    if relative:
        amount = {_UNITS[relative.group(2)]: int(relative.group(1))}
        try:
            return moments.shifted(now, text.strip(), back=True, **amount).astimezone(UTC)
        except moments.OutOfRange as exc:
            raise TimeError(str(exc)) from None
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        try:
            day = date.fromisoformat(value)
        except ValueError as exc:
            raise TimeError(f"{text!r}: {exc}") from None
        try:
            moments.within_range(day, text.strip())
        except moments.OutOfRange as exc:
            raise TimeError(str(exc)) from None
        return _midnight(day + timedelta(days=1 if end else 0), tz)
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        raise TimeError(f"{text!r} is not a date (2025-03-10), an ISO time (2025-03-10T09:30), "
                        f"a relative time (7d, 24h, 30m, 2w) or today/yesterday/now") from None
    try:
        moments.within_range(parsed, text.strip())
        return moments.local(parsed, tz).astimezone(UTC)
    except moments.MomentError as exc:
        raise TimeError(str(exc)) from None


def range_problem(since: datetime | None, until: datetime | None) -> str | None:
    """Why [since, until) can hold no call (``until`` before ``since``, or
    both the same moment), or None when it can."""
    if since is None or until is None or since < until:
        return None
    if since == until:
        return f"the time range is empty: --since and --until are both {sql_time(since)}"
    return f"the time range is reversed: --since {sql_time(since)} is after --until {sql_time(until)}"


def _midnight(day: date, tz: tzinfo) -> datetime:
    """The day's first instant in ``tz`` (see ``agi.hours.moments``)."""
    return moments.day_start(day, tz).astimezone(UTC)


def sql_time(moment_: datetime) -> str:
    """A moment as the CDR stores it: ISO 8601 UTC with milliseconds and Z,
    so that text comparison is time order."""
    return moment_.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_stored(text: str) -> datetime:
    """A CDR timestamp (``2025-03-10T09:00:00.000Z``) as an aware datetime;
    ReportError when the database holds something else there, or a time
    outside the years every command's times go from and to (the zone's
    offsets and the days a report looks ahead reach past them)."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (AttributeError, TypeError, ValueError):
        moment = None
    if moment is None or moment.tzinfo is None or not moments.FIRST_YEAR <= moment.year <= moments.LAST_YEAR:
        raise ReportError(f"the CDR database holds {text!r} where a time belongs (UTC, as in "
                          "2025-03-10T09:00:00.000Z): a row written by hand? Correct or delete it "
                          "(docs/cdr.md)")
    return moment


def offset_text(local: datetime) -> str:
    """The UTC offset of an aware time: ``+02``, ``-05``, ``+05:30``."""
    offset = local.utcoffset() or timedelta(0)
    sign = "-" if offset < timedelta(0) else "+"
    minutes = abs(int(offset.total_seconds())) // 60
    return f"{sign}{minutes // 60:02d}" + (f":{minutes % 60:02d}" if minutes % 60 else "")


def wall_time(moment: datetime, seconds: bool = False) -> str:
    """An aware time as its clocks show it, to the minute (or to the second,
    and the millisecond when it has one), with its UTC offset where they show
    it twice (``2025-10-26 02:00+02`` and ``2025-10-26 02:00+01`` in Madrid):
    the night they go back, or (a fixed offset: agi/reports/aggregate.py) the
    repeated part of an interval where they go back by less than it."""
    text = moment.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")
    if seconds and moment.microsecond:
        text += f".{moment.microsecond // 1000:03d}"
    if isinstance(moment.tzinfo, timezone):
        twice = moment.utcoffset() != timedelta(0)
    else:
        twice = moment.replace(fold=1 - moment.fold).utcoffset() != moment.utcoffset()
    return text + offset_text(moment) if twice else text
