"""The measures of agi/storage/call_measures.py summed per group of calls,
and the ratios made from those sums (docs/reports.md#definitions).

Interface, for every report that counts calls:

- ``aggregate(reader, filters, by, thresholds, direction=None, finished=False)``
  returns a list of ``Group``: the calls ``filters`` select (and, with
  ``direction``, only ``inbound`` or only ``outbound`` ones; with
  ``finished``, only the calls that have ended) grouped by the dimensions
  ``by`` (names from ``DIMENSIONS``; ``()`` makes one group of every call).
  ``Group.key`` has one value per dimension, in the order of ``by``;
  ``Group.sums`` has every name of ``SUMS``. A group with no call is
  absent. Groups come in the order of their keys (``sort_value``).
- Key values: ``flow``, ``queue``, ``agent``, ``status`` as stored (None
  when empty); ``version`` ``flow@version``; ``outcome`` a word of
  ``queries.OUTCOMES``; ``direction`` ``inbound`` or ``outbound``; ``day``
  ``2025-03-10``; ``weekday`` ``Mon`` ... ``Sun``; ``hour`` ``00`` ... ``23``
  (the hour of the day); ``interval15``, ``interval30`` and ``interval60``
  the aware datetime, in the report's zone, at which the interval starts.
  Times are the call's start in ``filters.tz``, daylight saving time
  included.
- Sums: the counts and seconds of ``call_measures.MEASURES`` (offered,
  answered, abandoned, short_abandoned, answered_in_sl, wait_answered_s,
  waits_answered, talk_s, talked), counted with ``thresholds``, and calls,
  hung_up, failed, duration_s, timed (calls with a duration),
  max_duration_s, first_at and last_at (CDR UTC text). Counts and seconds
  are numbers (0 when nothing counted); ``max_duration_s``, ``first_at``
  and ``last_at`` are None for groups with no such value. ``combine``
  adds groups up. ``thresholds=None`` is for counts that read no sum a
  threshold decides (short abandons, the service level): they are counted
  with the thresholds of the rollups (the defaults when there are none),
  so that the rollups answer them whatever thresholds the report was
  given; those two sums are then not the report's.
- Ratios (``asr``, ``abandon_rate``, ``service_level`` in percent;
  ``acd``, ``asa``, ``aht`` in seconds) take one group's sums, or
  ``combine``'s, never an average of averages; None when there is nothing
  to divide by.

The calls table answers by default. A pre-aggregated table may answer
instead, when it holds the dimensions asked for, was counted with the same
thresholds, and can apply the filters: it must give the same groups and
sums as the calls table.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Any, Iterable, Mapping, Sequence

from agi.reports import queries as q
from agi.reports.db import CdrReader, ReportError
from agi.reports.localtime import shift_sql
from agi.reports.model import Filters
from agi.reports.percent import percent
from agi.reports.stored_text import texts
from agi.reports.rollup_plan import NOT_PENDING, NOT_PENDING_HOURS, plan
from agi.reports.timerange import UTC, parse_stored
from agi.storage.call_measures import DEFAULT_THRESHOLDS, LARGEST, SMALLEST, Thresholds
from agi.storage.rollups import SUMMED_AGAIN

__all__ = ["DEFAULT_THRESHOLDS", "DIMENSIONS", "SUMS", "WEEKDAYS", "Group", "Thresholds", "abandon_rate", "acd", "aggregate", "aht",
           "asa", "asr", "combine", "service_level", "sort_value"]

DIMENSIONS = tuple(q.GROUPS)
#: The sums of every group: those of call_measures.SUMS, seconds as seconds.
SUMS = tuple(name[:-3] + "_s" if name.endswith("_ms") else name for name in q.SUMS)
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
INTERVALS = {"interval15": 15, "interval30": 30, "interval60": 60}
#: Sums that are no counts: the largest, the first and the last.
_MAXIMA, _MINIMA = LARGEST, SMALLEST


@dataclass(frozen=True)
class Group:
    """One group of calls: its key (a value per dimension) and its sums."""

    key: tuple[Any, ...]
    sums: Mapping[str, Any]


def aggregate(reader: CdrReader, filters: Filters, by: Sequence[str],
              thresholds: Thresholds | None = DEFAULT_THRESHOLDS, direction: str | None = None,
              finished: bool = False) -> list[Group]:
    """The sums of ``SUMS`` per group of ``by`` over the calls ``filters``
    (and ``direction``, and ``finished``: no running call) select, counted with ``thresholds``: from the
    rollups where they hold the calls, else from the calls table. ``thresholds=None``: a count that
    reads no sum a threshold decides, counted with the rollups' own."""
    unknown = [name for name in by if name not in q.GROUPS]
    if unknown or (direction is not None and direction not in q.DIRECTIONS):
        raise ReportError(f"cannot group by {', '.join(unknown) or direction!r}; "
                          f"choose among {', '.join(DIMENSIONS)}")
    if thresholds is None:
        thresholds = reader.rollup_thresholds() or DEFAULT_THRESHOLDS
    route = plan(reader, filters, thresholds, by, hourly=not NOT_HOURLY.intersection(by))
    parts = [*((part, CALLS) for part in route.raw), *((part, ROLLUPS) for part in route.quarter_parts()),
             *([(route.hours, HOURLY)] if route.hours else [])]
    found: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for part, source in parts:
        for key, sums in _read(reader, part, by, thresholds, direction, finished, source):
            found.setdefault(key, []).append(sums)
    keys = [_Keys(name, filters) for name in by]
    groups = [Group(tuple(to_key(value) for to_key, value in zip(keys, key)),
                    _numbers(sums[0] if len(sums) == 1 else _merged(sums)))
              for key, sums in found.items()]
    groups = [group for group in groups if group.sums["calls"]]
    return sorted(groups, key=lambda g: tuple(sort_value(name, v) for name, v in zip(by, g.key)))


@dataclass(frozen=True)
class _Source:
    """Where sums are read from: the calls, or the rollups (whose outcome
    is a column, whose sums are summed again, and whose pending quarter
    hours are left to the calls)."""

    table: str
    groups: Mapping[str, str]
    sums: Mapping[str, str]
    where: str = ""
    #: The interval each row's ``started_at`` is the UTC start of: grouped
    #: by it, that interval's key is worked out once per distinct start
    #: rather than by SQL for every row (the plan reads rollups only where
    #: the zone's offsets keep one interval per row).
    interval: str | None = None
    #: The calls that have ended (the rollups' outcome tells running calls apart).
    finished: str = "c.outcome <> 'in_progress'"


CALLS = _Source("calls", q.GROUPS, q.SUMS, finished=q.FINISHED)
ROLLUPS = _Source("call_rollups", {**q.GROUPS, "outcome": "c.outcome"}, SUMMED_AGAIN, NOT_PENDING, "interval15")
HOURLY = _Source("call_rollups_hourly", {**q.GROUPS, "outcome": "c.outcome"}, SUMMED_AGAIN, NOT_PENDING_HOURS,
                 "interval60")
#: What the hourly rollups do not hold.
NOT_HOURLY = frozenset({"agent", "status", "interval15", "interval30"})


def _read(reader: CdrReader, filters: Filters, by: Sequence[str], thresholds: Thresholds, direction: str | None,
          finished: bool, source: _Source) -> Iterable[tuple[tuple[Any, ...], dict[str, Any]]]:
    """(key, sums) of each group of one part of the calls, from ``source``;
    the key as the query gives it (an interval with its offset: as
    datetimes, the two 02:00 of the night the clocks go back are equal)."""
    clause, params = q.where(filters, dialect=reader.dialect)
    if direction is not None:
        clause += f" AND {q.DIRECTIONS[direction]}"
    if finished:
        clause += f" AND {source.finished}"
    params.update(thresholds.params())
    parts = time_parts(reader, filters, params) if by else {}
    interval = source.interval if source.interval in by else None
    keys = [f"{'c.started_at' if name == interval else reader.sql(source.groups[name], **parts)} AS k{i}"
            for i, name in enumerate(by)]
    sums = [f"{sql} AS {name}" for name, sql in source.sums.items()]
    group_by = f"\nGROUP BY {', '.join(str(i + 1) for i in range(len(by)))}" if by else ""
    sql = reader.sql(q.AGGREGATE, table=source.table, columns=",\n       ".join(keys + sums),
                     where=clause + source.where, group_by=group_by)
    at, to_key = (by.index(interval), _IntervalOf(filters.tz or UTC, INTERVALS[interval])) if interval else (0, None)
    text_keys = tuple(i for i, name in enumerate(by) if name != "weekday")
    for row in reader.rows(sql, params):
        values = tuple(row)
        key = texts(values[:len(by)], text_keys)
        if to_key is not None:
            key = (*key[:at], to_key(key[at]), *key[at + 1:])
        yield key, dict(zip(q.SUMS, values[len(by):]))


class _IntervalOf:
    """The key SQL gives an interval (``2025-03-10 09:15 3600``: its local
    start and the zone's offset then, in seconds) from the UTC start of a
    rollup row (``2025-03-10T08:15:00.000Z``), each distinct one worked out once."""

    def __init__(self, tz: tzinfo, minutes: int) -> None:
        self.tz, self.minutes = tz, minutes
        self.seen: dict[str, str | None] = {}

    def __call__(self, started_at: str) -> str | None:
        if started_at not in self.seen:
            self.seen[started_at] = self._key(started_at)
        return self.seen[started_at]

    def _key(self, started_at: str) -> str | None:
        try:
            moment = parse_stored(started_at)
        except ReportError:  # no time (written by hand): no interval, as SQL gives none
            return None
        delta = moment.astimezone(self.tz).utcoffset() or timedelta(0)
        local = (moment + delta).replace(tzinfo=None)
        local = local.replace(minute=local.minute - local.minute % self.minutes)
        return f"{local:%Y-%m-%d %H:%M} {int(delta.total_seconds())}"


def time_parts(reader: CdrReader, filters: Filters, params: dict[str, Any]) -> dict[str, str]:
    """The SQL pieces of the time dimensions (``local``, ``offset``,
    ``weekday``, ``intervalN``), exact over the calls the filters can
    select; their parameters go into ``params``."""
    first, last = reader.rows(q.TIME_SPAN)[0]
    if first is None or last is None:  # no calls: nothing to shift, however long the filters' range
        low = high = filters.since or filters.until or datetime.now(UTC)
    else:
        low = max(filter(None, [filters.since, parse_stored(first)]))
        high = min(filter(None, [filters.until, parse_stored(last)]))
    shift = shift_sql("c.started_at", filters.tz or UTC, low, max(low, high), params)
    local = reader.dialect.local_time("c.started_at", shift)
    parts = {"local": local, "offset": reader.dialect.offset_seconds(shift), "weekday": reader.dialect.weekday(local)}
    parts.update({name: reader.dialect.interval_start(local, minutes) for name, minutes in INTERVALS.items()})
    return parts


class _Keys:
    """A dimension's values as the query gives them turned into its key
    values, each distinct one worked out once (a report may have many rows
    per interval)."""

    def __init__(self, name: str, filters: Filters) -> None:
        self.name, self.tz = name, filters.tz or UTC
        self.seen: dict[Any, Any] = {}

    def __call__(self, value: Any) -> Any:
        if value is None or (self.name != "weekday" and self.name not in INTERVALS):
            return value
        found = self.seen.get(value, _MISSING)
        if found is _MISSING:
            found = self.seen[value] = self._key(value)
        return found

    def _key(self, value: Any) -> Any:
        if self.name == "weekday":
            return WEEKDAYS[int(value) - 1]
        day, minute, seconds = str(value).split(" ")  # 2025-03-10 09:15 3600
        start = datetime.fromisoformat(f"{day} {minute}")
        fixed = start.replace(tzinfo=timezone(timedelta(seconds=int(seconds))))
        zoned = fixed.astimezone(self.tz)
        # Where the clocks go back by less than the interval (Lord Howe: 30 minutes),
        # the repeated part of an hour starts at a wall time the zone showed before,
        # with the other offset: keep the local start and the offset of its calls.
        return zoned if zoned.replace(tzinfo=None) == start else fixed


_MISSING = object()


def sort_value(name: str, value: Any) -> tuple[int, Any]:
    """The order of a dimension's values: None first, weekdays Monday first,
    times and text ascending."""
    if value is None:
        return (0, "")
    if name == "weekday":
        return (1, WEEKDAYS.index(value))
    if isinstance(value, datetime):
        return (1, value.timestamp())
    return (1, str(value))


def _merged(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """The sums of one group read in several parts, as read: counts and
    milliseconds are whole numbers, so they add up exactly."""
    total = dict(parts[0])
    for sums in parts[1:]:
        for name, value in sums.items():
            if value is None or total[name] is None:
                total[name] = value if total[name] is None else total[name]
            elif name in _MAXIMA or name in _MINIMA:
                total[name] = max(total[name], value) if name in _MAXIMA else min(total[name], value)
            else:
                total[name] += value
    return total


def _numbers(read: dict[str, Any]) -> dict[str, Any]:
    """Counts as ints and seconds as floats (from milliseconds; 0 when
    nothing was counted); maxima and first/last as they are."""
    sums: dict[str, Any] = {}
    for name, out, kind in _READING:
        value = read[name]
        if kind == "count":
            sums[out] = int(value or 0)
        elif kind == "ms":
            sums[out] = int(value or 0) / 1000
        else:
            sums[out] = float(value) if kind == "float" and value is not None else value
    return sums


#: How ``_numbers`` reads each sum of ``q.SUMS``: (its name, the name it
#: takes, what it is).
_READING = tuple(
    (name, name, "float" if name == "max_duration_s" else "as read") if name in _MAXIMA + _MINIMA
    else (name, name[:-3] + "_s", "ms") if name.endswith("_ms") else (name, name, "count")
    for name in q.SUMS)


def combine(groups: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The sums of several groups (each a ``Group.sums``) as one."""
    groups = list(groups)
    total: dict[str, Any] = {name: sum(sums[name] for sums in groups) for name in _ADDED}
    for name in _MAXIMA + _MINIMA:
        values = [sums[name] for sums in groups if sums[name] is not None]
        total[name] = (max(values) if name in _MAXIMA else min(values)) if values else None
    return {name: total[name] for name in SUMS}


#: The sums ``combine`` adds up.
_ADDED = tuple(name for name in SUMS if name not in _MAXIMA + _MINIMA)


def _ratio(part: float, whole: float) -> float | None:
    return part / whole if whole > 0 else None


def asr(sums: Mapping[str, Any]) -> float | None:
    """ASR: answered / offered, in percent (to one decimal, halves up)."""
    return percent(sums["answered"], sums["offered"])


def abandon_rate(sums: Mapping[str, Any]) -> float | None:
    """(abandoned - short abandons) / (offered - short abandons), in percent (to one decimal, halves up)."""
    short = sums["short_abandoned"]
    return percent(sums["abandoned"] - short, sums["offered"] - short)


def service_level(sums: Mapping[str, Any]) -> float | None:
    """Answered within the service level / (offered - short abandons), in percent (to one decimal, halves up)."""
    return percent(sums["answered_in_sl"], sums["offered"] - sums["short_abandoned"])


def acd(sums: Mapping[str, Any]) -> float | None:
    """ACD: DUR (talk time of the answered calls) / the answered calls whose talk time is known."""
    return _ratio(sums["talk_s"], sums["talked"])


def asa(sums: Mapping[str, Any]) -> float | None:
    """ASA: the mean wait of the answered calls whose wait is known."""
    return _ratio(sums["wait_answered_s"], sums["waits_answered"])


def aht(sums: Mapping[str, Any]) -> float | None:
    """AHT: talk + hold + wrap-up per answered call. Asterisk tells AGI no
    hold or wrap-up time, so here AHT is the talk time: ACD."""
    return acd(sums)
