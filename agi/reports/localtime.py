"""Local time in SQL: the CDR stores UTC, and days and hours are counted in
the report's zone.

SQLite knows no time zones, so the zone's UTC offsets over the report's
range are worked out here (transitions found to the second) and written into
the query as a CASE of ``datetime(started_at, '+3600 seconds')`` shifts.
This is exact, daylight saving time included, and costs SQLite far less
than calling back into Python for every row.
"""
from __future__ import annotations

from datetime import datetime, timedelta, tzinfo
from typing import Any

from agi.reports.dialect import SQLITE, Dialect
from agi.reports.timerange import sql_time

#: How far apart the walk looks at a zone's offset. The closest two changes of
#: offset anywhere in the time zone database are 95 hours apart (Freetown,
#: September 1939; then a week, Brazil 2000 and Gaza's future Ramadans), so a
#: walk a day at a time misses none: a range of 55 years (one call with a clock
#: never set) takes 20,000 looks, not 480,000 (0.7 s).
_STEP = timedelta(days=1)


def offsets(tz: tzinfo, low: datetime, high: datetime) -> list[tuple[datetime | None, int]]:
    """[(from, offset seconds)...] covering [low, high] (aware datetimes);
    the first ``from`` is None. Zones change offset at most a few times a
    year, never twice within a day (``_STEP``), so a daily walk finds every
    change and a bisection pins it to the second."""
    def offset(moment: datetime) -> int:
        delta = moment.astimezone(tz).utcoffset()
        return int(delta.total_seconds()) if delta is not None else 0

    found: list[tuple[datetime | None, int]] = [(None, offset(low))]
    moment = low
    while moment < high:
        following = min(moment + _STEP, high)
        if offset(following) != found[-1][1]:
            found.append((_change(moment, following, offset), offset(following)))
        moment = following
    return found


def _change(before: datetime, after: datetime, offset: Any) -> datetime:
    """The first second at or before ``after`` with ``after``'s offset."""
    old = offset(before)
    while after - before > timedelta(seconds=1):
        middle = before + (after - before) / 2
        if offset(middle) == old:
            before = middle
        else:
            after = middle
    return after.replace(microsecond=0)


def local_time_sql(column: str, tz: tzinfo, low: datetime, high: datetime, params: dict[str, Any],
                   dialect: Dialect = SQLITE) -> str:
    """SQL giving ``column`` (a CDR UTC timestamp) as local ``YYYY-MM-DD
    HH:MM:SS`` text, exact for timestamps in [low, high], in ``dialect``.
    Adds its parameters to ``params``."""
    return dialect.local_time(column, shift_sql(column, tz, low, high, params))


def shift_sql(column: str, tz: tzinfo, low: datetime, high: datetime, params: dict[str, Any]) -> str:
    """SQL giving the zone's UTC offset at ``column`` as text such as
    ``+3600 seconds``, exact for timestamps in [low, high]. Adds its
    parameters to ``params``."""
    segments = offsets(tz, low, high)
    params.update({f"tz_shift{i}": f"{shift:+d} seconds" for i, (_, shift) in enumerate(segments)})
    if len(segments) == 1:
        return ":tz_shift0"
    params.update({f"tz_from{i}": sql_time(start) for i, (start, _) in enumerate(segments) if start})
    cases = " ".join(f"WHEN {column} < :tz_from{i} THEN :tz_shift{i - 1}" for i in range(1, len(segments)))
    return f"CASE {cases} ELSE :tz_shift{len(segments) - 1} END"
