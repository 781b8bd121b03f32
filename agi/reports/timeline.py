"""The report's calls over time, for the HTML page: offered, answered and
abandoned calls per interval, calls per day and the average wait.

The interval is the hour when the report covers up to two days, else the
day, both in the report's zone. Hours are real hours: the night the clocks
go back has two 02:00, labelled with their UTC offsets (``02:00+02`` and
``02:00+01``); the night they go forward has no 02:00. Every interval of
the range has its point, so a quiet hour is a 0, not a gap.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Any, Iterable, Iterator

from agi.reports.model import Chart, Series

UTC = timezone.utc
HOUR = timedelta(hours=1)
#: Reports that cover up to this long are charted per hour, longer ones per day.
HOURLY_UP_TO = timedelta(days=2)


@dataclass
class Counts:
    """What the charts count in one interval."""

    calls: int = 0
    offered: int = 0
    answered: int = 0
    abandoned: int = 0
    wait_s: float = 0.0
    waits: int = 0

    def add(self, row: Any) -> None:
        self.calls += row["calls"] or 0
        self.offered += row["offered"] or 0
        self.answered += row["answered"] or 0
        self.abandoned += row["abandoned"] or 0
        self.wait_s += row["wait_s"] or 0.0
        self.waits += row["waits"] or 0


def timeline_charts(rows: Iterable[Any], tz: tzinfo, low: datetime, high: datetime) -> list[Chart]:
    """The charts over [low, high) from rows of ``CALLS_PER_LOCAL_HOUR``
    (local hour, UTC hour and counts)."""
    hourly = high - low <= HOURLY_UP_TO
    buckets = list(hours(tz, low, high) if hourly else days(tz, low, high))
    counts = {key: Counts() for key, _, _ in buckets}
    for row in rows:
        key = hour_start(row["local_hour"], row["utc_hour"], tz) if hourly else row["local_hour"][:10]
        if key in counts:
            counts[key].add(row)
    labels = [label for _, label, _ in buckets]
    emphasis = [i for i, (_, _, marked) in enumerate(buckets) if marked]
    per = counts.values()
    unit = "hour" if hourly else "day"
    charts = [Chart(f"Offered, answered and abandoned calls per {unit}", labels, horizontal=False,
                    series=[Series(name, [getattr(c, name) for c in per]) for name in ("offered", "answered",
                                                                                        "abandoned")],
                    emphasis=emphasis)]
    if not hourly:
        charts.append(Chart("Calls per day", labels, [c.calls for c in per], horizontal=False, emphasis=emphasis))
    charts.append(Chart(f"Average wait of offered calls per {unit}", labels, horizontal=False, unit="seconds",
                        series=[Series("average wait", [c.wait_s / c.waits if c.waits else None for c in per])],
                        emphasis=emphasis))
    return charts


def hours(tz: tzinfo, low: datetime, high: datetime) -> Iterator[tuple[datetime, str, bool]]:
    """(start as UTC, label, marked) of each local hour from the one holding
    ``low`` to the one holding the last instant before ``high``. A label is
    ``09:00``, the repeated hour of a DST change ``02:00+02``/``02:00+01``
    (marked), and a midnight of a report over several days its date (marked)."""
    first = low.astimezone(tz).replace(minute=0, second=0, microsecond=0)
    several_days = first.date() != (high - timedelta(microseconds=1)).astimezone(tz).date()
    moment = first.astimezone(UTC)
    while moment < high:
        local = moment.astimezone(tz)
        repeated = local.replace(fold=1 - local.fold).utcoffset() != local.utcoffset()
        if repeated:
            yield moment, f"{local:%H:00}{offset_text(local)}", True
        elif several_days and local.hour == 0:
            yield moment, local.date().isoformat(), True
        else:
            yield moment, f"{local:%H:00}", False
        moment += HOUR


def days(tz: tzinfo, low: datetime, high: datetime) -> Iterator[tuple[str, str, bool]]:
    """(date, label, marked) of each local day from ``low``'s to the one
    holding the last instant before ``high`` (none is marked: the axis
    labels days at regular steps)."""
    day = low.astimezone(tz).date()
    last = (high - timedelta(microseconds=1)).astimezone(tz).date()
    while day <= last:
        yield day.isoformat(), day.isoformat(), False
        day += timedelta(days=1)


def hour_start(local_hour: str, utc_hour: str, tz: tzinfo) -> datetime:
    """The UTC start of the local hour ``2025-10-26 02`` that holds calls
    started in the UTC hour ``2025-10-26T00``: of the two 02:00 the night
    the clocks go back, the one that overlaps that UTC hour."""
    wall = datetime.fromisoformat(f"{local_hour[:10]}T{local_hour[11:13]}:00")
    utc_start = datetime.fromisoformat(f"{utc_hour[:10]}T{utc_hour[11:13]}:00").replace(tzinfo=UTC)
    for fold in (0, 1):
        start = wall.replace(tzinfo=tz, fold=fold).astimezone(UTC)
        if start < utc_start + HOUR and start + HOUR > utc_start:
            return start
    return wall.replace(tzinfo=tz).astimezone(UTC)


def offset_text(local: datetime) -> str:
    """The UTC offset of an aware time: ``+02``, ``-05``, ``+05:30``."""
    offset = local.utcoffset() or timedelta(0)
    sign = "-" if offset < timedelta(0) else "+"
    minutes = abs(int(offset.total_seconds())) // 60
    return f"{sign}{minutes // 60:02d}" + (f":{minutes % 60:02d}" if minutes % 60 else "")


def span(first: str | None, last: str | None, since: datetime | None, until: datetime | None,
         now: datetime) -> tuple[datetime, datetime] | None:
    """[low, high) the charts over time cover: the report's range, never
    past ``now``; an open start is its first call, an open end its last
    call when the start is open too (all calls), else now. None when there
    is no call to chart."""
    if first is None or last is None:
        return None
    low = since or datetime.fromisoformat(first.replace("Z", "+00:00"))
    if until is not None or since is not None:
        high = min(until or now, now)
    else:
        high = datetime.fromisoformat(last.replace("Z", "+00:00")) + timedelta(seconds=1)
    return (low, high) if high > low else None
