"""The report's calls over time, for the HTML page: offered, answered and
abandoned calls per interval, calls per day and the average speed of answer.

The interval is the hour when the report covers up to two days, of real
time or on the zone's clocks (49 real hours over the night the clocks go
back), else the day, both in the report's zone; the sums are those of every report
(agi/reports/aggregate.py). Hours are real hours: the night the clocks
go back has two 02:00, labelled with their UTC offsets (``02:00+02`` and
``02:00+01``); the night they go forward has no 02:00. Every interval of
the range has its point, so a quiet hour is a 0, not a gap.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone, tzinfo
from typing import Any, Iterator, Mapping, Sequence, TypeVar

from agi.reports import queries as q
from agi.reports.aggregate import WEEKDAYS, aggregate, asa, sort_value
from agi.reports.db import CdrReader
from agi.reports.model import Chart, Filters, Series
from agi.reports.timerange import offset_text, parse_stored

UTC = timezone.utc
QUARTER = timedelta(minutes=15)
#: Reports that cover up to this long are charted per hour, longer ones per day.
HOURLY_UP_TO = timedelta(days=2)
#: The longest span charted: a range wider than this is charted over its last
#: ten years (a point a day), so that no range makes a page without end.
MOST_CHARTED = timedelta(days=3660)
#: The lines of the first chart: sums of agi/reports/aggregate.py.
TRAFFIC = ("offered", "answered", "abandoned")
V = TypeVar("V")


def timeline_charts(reader: CdrReader, filters: Filters, now: datetime, inbound: bool = False) -> list[Chart]:
    """The charts over the report's range (``span``), counted with
    agi/reports/aggregate.py per hour or per day, of every call or
    (``inbound``) of the inbound calls that have ended; none without calls."""
    first, last = reader.rows(q.TIME_SPAN)[0]
    covered = span(first, last, filters.since, filters.until, now)
    if covered is None:
        return []
    tz = filters.tz or UTC
    hourly = min(covered[1] - covered[0], wall_span(tz, *covered)) <= HOURLY_UP_TO
    buckets = list(hours(tz, *covered) if hourly else days(tz, *covered))
    # no threshold: offered, answered, abandoned and ASA, from the rollups whatever thresholds counted them
    found = {_bucket(g.key[0]): g.sums for g in aggregate(reader, filters, ("interval60" if hourly else "day",), None,
                                                          direction="inbound" if inbound else None, finished=inbound)}
    per = [found.get(key) for key, _, _ in buckets]
    labels = [label for _, label, _ in buckets]
    emphasis = [i for i, (_, _, marked) in enumerate(buckets) if marked]
    unit = "hour" if hourly else "day"
    charts = [Chart(f"Offered, answered and abandoned calls per {unit}", labels, horizontal=False,
                    series=[Series(name, [_count(sums, name) for sums in per]) for name in TRAFFIC],
                    emphasis=emphasis)]
    if not hourly:
        charts.append(Chart("Calls per day", labels, [_count(sums, "calls") for sums in per], horizontal=False))
    charts.append(Chart(f"Average speed of answer (ASA) per {unit}", labels, horizontal=False, unit="seconds",
                        series=[Series("ASA", [asa(sums) if sums else None for sums in per])], emphasis=emphasis))
    return charts


def over_range(name: str, pairs: Sequence[tuple[Any, V]], missing: V, reader: CdrReader, filters: Filters,
               now: datetime) -> list[tuple[Any, V]]:
    """``pairs`` (values of grouping ``name`` with calls, each with its
    figure) and ``missing`` for every other day of the report's range
    (``span``) when ``name`` is ``day``, every other weekday of those days
    when it is ``weekday``, or every other hour of the day when it is
    ``hour``, in their order: a quiet day is a 0 (or, for a ratio, None: no
    value), not a day left out of the chart."""
    every: list[Any] = []
    if name == "hour":
        every = [f"{h:02d}" for h in range(24)]
    elif name in ("day", "weekday"):
        first, last = reader.rows(q.TIME_SPAN)[0]
        covered = span(first, last, filters.since, filters.until, now)
        every = [day for day, _, _ in days(filters.tz or UTC, *covered)] if covered else []
        if name == "weekday":
            every = sorted({WEEKDAYS[date.fromisoformat(day).weekday()] for day in every[:7]}, key=WEEKDAYS.index)
    known = {key for key, _ in pairs}
    extra = [(key, missing) for key in every if key not in known]
    return sorted([*pairs, *extra], key=lambda pair: sort_value(name, pair[0]))


def wall_span(tz: tzinfo, low: datetime, high: datetime) -> timedelta:
    """How long [low, high) is on the zone's clocks: two days are two days
    also over a night the clocks change (49 or 47 real hours), as 48 real
    hours are (49 or 47 on the clocks)."""
    return high.astimezone(tz).replace(tzinfo=None) - low.astimezone(tz).replace(tzinfo=None)


def _bucket(key: Any) -> Any:
    """An ``interval60`` key as the UTC instant its hour starts; a day as it is."""
    return key.astimezone(UTC) if isinstance(key, datetime) else key


def _count(sums: Mapping[str, Any] | None, name: str) -> float:
    return float(sums[name]) if sums else 0.0


def hours(tz: tzinfo, low: datetime, high: datetime) -> Iterator[tuple[datetime, str, bool]]:
    """(start, label, marked) of each local hour from the one holding
    ``low`` to the one holding the last instant before ``high``: the hours
    ``interval60`` counts, each a local start with the offset of its calls
    (``start`` is that key as UTC). A label is ``09:00``, an hour whose wall
    times happen twice (a DST change) ``02:00+02``/``02:00+01`` (marked),
    and the first hour of each day after the first of a report over several
    days its date (marked): its midnight, or 01:00 where the clocks skip it. Where
    the clocks change by half an hour (Lord Howe Island), an hour's wall
    start is not a whole hour of real time from the one before, so the
    hours are found by looking every quarter hour, the shortest span a zone
    gives one offset."""
    first = low.astimezone(tz).replace(minute=0, second=0, microsecond=0)
    several_days = first.date() != (high - timedelta(microseconds=1)).astimezone(tz).date()
    found: dict[datetime, tuple[datetime, datetime, bool]] = {}
    for moment in _looks(low, high):
        local = moment.astimezone(tz)
        offset = local.utcoffset() or timedelta(0)
        wall = local.replace(minute=0, second=0, microsecond=0, tzinfo=None)
        start = (wall - offset).replace(tzinfo=UTC)
        twice = local.replace(fold=1 - local.fold).utcoffset() != local.utcoffset()
        seen = found.get(start)
        found[start] = (wall, local, twice or (seen is not None and seen[2]))
    day = first.date()
    for start, (wall, local, twice) in found.items():
        if twice:
            yield start, f"{wall:%H:00}{offset_text(local)}", True
        elif several_days and (wall.hour == 0 or wall.date() != day):  # 01:00 where the clocks skip midnight
            yield start, wall.date().isoformat(), True
        else:
            yield start, f"{wall:%H:00}", False
        day = wall.date()


def _looks(low: datetime, high: datetime) -> Iterator[datetime]:
    """``low``, every quarter hour after it before ``high``, and the last
    instant before ``high``: one at least in every span of one offset."""
    moment = low
    while moment < high:
        yield moment
        moment += QUARTER
    if high > low:
        yield high - timedelta(microseconds=1)


def days(tz: tzinfo, low: datetime, high: datetime) -> Iterator[tuple[str, str, bool]]:
    """(date, label, marked) of each local day from ``low``'s to the one
    holding the last instant before ``high`` (none is marked: the axis
    labels days at regular steps)."""
    day = low.astimezone(tz).date()
    last = (high - timedelta(microseconds=1)).astimezone(tz).date()
    while day <= last:
        yield day.isoformat(), day.isoformat(), False
        day += timedelta(days=1)


def span(first: str | None, last: str | None, since: datetime | None, until: datetime | None,
         now: datetime) -> tuple[datetime, datetime] | None:
    """[low, high) the charts over time cover: the report's range, never
    past ``now``; an open start is its first call, an open end its last
    call when the start is open too (all calls), else now; at most its last
    ``MOST_CHARTED``. None when there is no call to chart."""
    if first is None or last is None:
        return None
    low = since or parse_stored(first)
    if until is not None or since is not None:
        high = min(until or now, now)
    else:
        high = parse_stored(last) + timedelta(seconds=1)
    return (max(low, high - MOST_CHARTED), high) if high > low else None
