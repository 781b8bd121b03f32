"""Reports per caller: first-call resolution (``fcr``) and ``tracking``.

Calls without a caller ID (``caller = ''``) are left out of both: they
cannot be told apart, so they are not one caller.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Iterable, Iterator

from agi.reports import queries as q
from agi.reports.db import CdrReader, ReportError
from agi.reports.model import COUNT, PERCENT, SECONDS, TEXT, TIME, Chart, Column, Filters, Report
from agi.reports.overview import label
from agi.reports.timerange import parse_stored, sql_time

FCR_GROUPS = q.FCR_GROUPS
_UNIX_EPOCH_JULIAN_DAY = 2440587.5
_COUNTS = ("contacts", "resolved", "repeated", "open", "repeat_calls")


@dataclass
class Contact:
    """A caller's first call and the repeats that followed it."""

    started_at: str
    flow: str | None
    outcome: str
    calls: int
    last_jd: float


def contacts(calls: Iterable[tuple[Any, ...]], window_days: float) -> Iterator[Contact]:
    """Contacts from (caller, julian day, started_at, flow, outcome) rows in
    caller and time order: a call within ``window_days`` of the caller's
    previous call is a repeat, any other call starts a contact."""
    current: Contact | None = None
    caller = None
    for who, jd, started_at, flow, outcome in calls:
        if current is not None and who == caller and jd - current.last_jd <= window_days:
            current.calls += 1
            current.last_jd = jd
            continue
        if current is not None:
            yield current
        caller, current = who, Contact(started_at, flow, outcome, 1, jd)
    if current is not None:
        yield current


def fcr(reader: CdrReader, filters: Filters, now: datetime, *, window_hours: float = 24.0,
        by: str = "flow", charts: bool = False) -> Report:
    """First-call resolution: contacts whose caller did not call again
    within ``window_hours`` of their last call."""
    if by not in FCR_GROUPS:
        raise ReportError(f"cannot group fcr by {by!r}; choose one of {', '.join(FCR_GROUPS)}")
    if window_hours <= 0:
        raise ReportError("the FCR window must be more than 0 hours")
    window = timedelta(hours=window_hours)
    # look back one window to see whether the first call in range repeats an
    # earlier one, and ahead one window for the repeats of the last ones
    wide = replace(filters, since=filters.since - window if filters.since else None,
                   until=filters.until + window if filters.until else None)
    clause, params = q.where(wide, dialect=reader.dialect)
    first_since = sql_time(filters.since) if filters.since else ""
    first_until = sql_time(filters.until) if filters.until else "9999"
    now_jd = now.timestamp() / 86400 + _UNIX_EPOCH_JULIAN_DAY
    groups: dict[Any, dict[str, Any]] = {}
    for contact in contacts(reader.tuples(reader.sql(q.FCR_CALLS, where=clause), params), window_hours / 24):
        if not first_since <= contact.started_at < first_until:
            continue
        key = {"flow": contact.flow, "outcome": contact.outcome}.get(by) if by != "day" \
            else reader.local_day(contact.started_at)
        row = groups.setdefault(key, {"key": key, **dict.fromkeys(_COUNTS, 0)})
        single = contact.calls == 1
        closed = contact.last_jd + window_hours / 24 <= now_jd
        row["contacts"] += 1
        row["resolved" if single and closed else "open" if single else "repeated"] += 1
        row["repeat_calls"] += contact.calls - 1
    rows = list(groups.values())
    return _fcr_report(rows, filters, now, window_hours, by, charts)


def _fcr_report(rows: list[dict[str, Any]], filters: Filters, now: datetime, window_hours: float,
                by: str, charts: bool) -> Report:
    for row in rows:
        row["fcr_pct"] = _fcr_pct(row)
    rows.sort(key=lambda r: label(r["key"]) if by == "day" else (-r["contacts"], label(r["key"])))
    columns = (Column("key", by.capitalize(), TEXT, shrink=True), Column("contacts", "Contacts", COUNT),
               Column("resolved", "Resolved", COUNT), Column("repeated", "Repeated", COUNT),
               Column("open", "Open", COUNT), Column("fcr_pct", "FCR", PERCENT),
               Column("repeat_calls", "Repeat calls", COUNT))
    totals: dict[str, Any] = {"key": "total", **{k: sum(r[k] for r in rows) for k in _COUNTS}}
    totals["fcr_pct"] = _fcr_pct(totals)
    chart = Chart(f"FCR by {by}", [label(r["key"]) for r in rows], [r["fcr_pct"] or 0 for r in rows], unit="%")
    return Report("fcr", f"First-call resolution ({window_hours:g} h window) by {by}", columns, rows,
                  filters, now, {"window_hours": window_hours, "by": by}, totals,
                  [chart] if charts else ())


def _fcr_pct(row: dict[str, Any]) -> float | None:
    decided = (row["resolved"] or 0) + (row["repeated"] or 0)
    return round(100.0 * (row["resolved"] or 0) / decided, 1) if decided else None


TRACKING_COLUMNS = (
    Column("caller", "Caller"), Column("calls", "Calls", COUNT), Column("answered", "Answ", COUNT),
    Column("first_call", "First call", TIME, table=False), Column("last_call", "Last call", TIME),
    Column("wait_s", "Wait", SECONDS), Column("max_wait_s", "Max wait", SECONDS, table=False),
    Column("talk_s", "Talk", SECONDS), Column("last_outcome", "Last outcome", shrink=True),
    Column("last_flow", "Last flow", shrink=True, table=False),
)


def tracking(reader: CdrReader, filters: Filters, now: datetime, *, min_calls: int = 1,
             limit: int | None = None, charts: bool = False) -> Report:
    """Per caller: attempts, answered, waits, talk time and the last outcome;
    the callers with most calls first."""
    clause, params = q.where(filters, dialect=reader.dialect)
    params.update(min_calls=min_calls, limit=reader.dialect.no_limit if limit is None else limit)
    rows = []
    for row in reader.rows(reader.sql(q.TRACKING, where=clause), params):
        item = dict(row)
        for key in ("first_call", "last_call"):
            item[key] = parse_stored(item[key]).astimezone(filters.tz)
        rows.append(item)
    top = rows[:15]
    chart = Chart("Callers with most calls", [r["caller"] for r in top], [r["calls"] for r in top])
    return Report("tracking", "Callers", TRACKING_COLUMNS, rows, filters, now,
                  {"min_calls": min_calls, "limit": limit}, charts=[chart] if charts else ())
