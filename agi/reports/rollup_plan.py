"""Which calls aggregate() counts from the rollups and which from the calls.

The rollups (agi/storage/rollups.py) hold the sums of every quarter hour
that is not pending, counted with the thresholds they record. A report
reads them for the whole quarter hours inside its range that are not
pending, and the calls for the rest: the part of the range before its
first whole quarter hour and after its last, and the pending quarter hours
(those whose calls changed since they were rolled up, and the current one).
Both give the same groups and sums, so the report is the same either way.
Where the count needs neither agents, statuses nor intervals shorter than
an hour, the whole hours none of whose quarter hours is pending are read
from the hourly rollups, a fifth of the rows.

The calls answer alone when the reader was opened without rollups, the
database has none counted by this agiflow's definitions (none below
schema version 7) or counted them with other thresholds than the
report's (for a report that counts with thresholds), the report is
about one caller (``--caller``), the report groups by a time of day in a
zone whose offset is no whole number of quarter hours (or changes between
two), or more than ``MAX_PENDING_RUNS`` runs of pending quarter hours fall
in the range.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Iterator, Sequence

from agi.reports import queries as q
from agi.reports.db import CdrReader
from agi.reports.localtime import offsets
from agi.reports.model import Filters
from agi.reports.timerange import UTC, parse_stored
from agi.storage.call_measures import Thresholds
from agi.storage.rollups import (HOUR, QUARTER, hour_ceil, hour_floor, hour_sql, quarter_ceil, quarter_floor,
                                 quarter_of, runs, stamp)

#: Dimensions counted in the report's zone: exact from a quarter hour only
#: when the zone's offsets and changes fall on quarter hours.
TIME_DIMENSIONS = frozenset({"day", "weekday", "hour", "interval15", "interval30", "interval60"})
#: Past this many runs of pending quarter hours, one read of the calls is simpler.
MAX_PENDING_RUNS = 50
#: The rollups' part of a query leaves the pending quarter hours out.
NOT_PENDING = (" AND c.started_at NOT IN (SELECT bucket FROM rollups_pending "
               "WHERE bucket >= :since AND bucket < :until)")
#: The hourly rollups' part leaves out the hours with a pending quarter hour...
NOT_PENDING_HOURS = (f" AND c.started_at NOT IN (SELECT {hour_sql('bucket')} FROM rollups_pending "
                     "WHERE bucket >= :since AND bucket < :until)")
PENDING_IN = ("SELECT bucket FROM rollups_pending WHERE bucket >= :since AND bucket < :until "
              "ORDER BY bucket")
_QUARTER_SECONDS, _HOUR_SECONDS = int(QUARTER.total_seconds()), 3600


@dataclass(frozen=True)
class Plan:
    """``rolled``: the filters of the part read from the quarter hours'
    rollups (pending ones are left out by the query); ``hours``: the whole
    hours read from the hourly rollups instead (those with a pending quarter
    hour are left out by the query), ``quarters`` then the parts of
    ``rolled`` still read from the quarter hours' rollups: its edges and the
    hours with a pending quarter hour; ``raw``: the filters of each part
    read from the calls."""

    rolled: Filters | None
    raw: tuple[Filters, ...]
    hours: Filters | None = None
    quarters: tuple[Filters, ...] = ()

    def quarter_parts(self) -> tuple[Filters, ...]:
        """The parts read from the quarter hours' rollups."""
        if self.hours is not None:
            return self.quarters
        return (self.rolled,) if self.rolled is not None else ()


def plan(reader: CdrReader, filters: Filters, thresholds: Thresholds | None, by: Sequence[str],
         hourly: bool = False) -> Plan:
    """How to count the calls ``filters`` select, grouped by ``by``, with
    ``thresholds`` (None: counts that take none). ``hourly``: the hourly
    rollups hold what the count needs, where the zone allows."""
    calls_only = Plan(None, (filters,))
    counted_with = reader.rollup_thresholds()
    if filters.caller or counted_with is None or (thresholds is not None and counted_with != thresholds):
        return calls_only
    first, last = reader.rows(q.TIME_SPAN)[0]
    if first is None:
        return calls_only
    low = quarter_ceil(filters.since) if filters.since else quarter_floor(parse_stored(first))
    high = quarter_floor(filters.until) if filters.until else quarter_floor(parse_stored(last)) + QUARTER
    # the zone's offsets matter where calls are, not over the whole of a range such as 0002..9998
    stored = (max(low, quarter_floor(parse_stored(first))), min(high, quarter_floor(parse_stored(last)) + QUARTER))
    if low >= high or (TIME_DIMENSIONS.intersection(by) and not _on_whole(_QUARTER_SECONDS, filters, *stored)):
        return calls_only
    pending = [row[0] for row in reader.rows(PENDING_IN, {"since": stamp(low), "until": stamp(high)})]
    pending_runs = list(runs(pending))
    if len(pending_runs) > MAX_PENDING_RUNS:
        return calls_only
    raw = [replace(filters, since=parse_stored(start), until=parse_stored(end)) for start, end in pending_runs]
    if filters.since and filters.since < low:
        raw.insert(0, replace(filters, until=low))
    if filters.until and high < filters.until:
        raw.append(replace(filters, since=high))
    rolled = replace(filters, since=low, until=high)
    first_hour, last_hour = hour_ceil(low), hour_floor(high)
    if not hourly or first_hour >= last_hour or (TIME_DIMENSIONS.intersection(by)
                                                  and not _on_whole(_HOUR_SECONDS, filters, *stored)):
        return Plan(rolled, tuple(raw))
    pending_hours = sorted({hour_floor(start) for start in map(quarter_of, pending)
                            if start is not None and first_hour <= start < last_hour})
    spans = [(low, first_hour), *((hour, hour + HOUR) for hour in pending_hours), (last_hour, high)]
    quarters = tuple(replace(filters, since=since, until=until) for since, until in _joined(spans))
    return Plan(rolled, tuple(raw), replace(filters, since=first_hour, until=last_hour), quarters)


def _joined(spans: list[tuple[datetime, datetime]]) -> Iterator[tuple[datetime, datetime]]:
    """Sorted [since, until) spans, empty ones left out, touching ones joined."""
    current: tuple[datetime, datetime] | None = None
    for since, until in spans:
        if since >= until:
            continue
        if current is not None and since <= current[1]:
            current = (current[0], max(current[1], until))
            continue
        if current is not None:
            yield current
        current = (since, until)
    if current is not None:
        yield current


def _on_whole(seconds: int, filters: Filters, low: datetime, high: datetime) -> bool:
    """Every offset of the report's zone over [low, high] is a whole number
    of ``seconds`` (quarter hours, hours), and changes at the start of one:
    each of them then has one local day, hour and interval."""
    for change, offset in offsets(filters.tz or UTC, low, high - timedelta(microseconds=1)):
        if offset % seconds or (change is not None and int(change.timestamp()) % seconds):
            return False
    return True
