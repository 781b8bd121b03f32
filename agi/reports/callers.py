"""Reports per caller: first-call resolution (``fcr``) and ``tracking``.

Calls without a caller ID (``caller = ''``) are left out of both: they
cannot be told apart, so they are not one caller.
"""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from agi.reports import queries as q
from agi.reports.db import CdrReader, ReportError
from agi.reports.model import COUNT, PERCENT, SECONDS, TEXT, TIME, Chart, Column, Filters, Report
from agi.reports.overview import label
from agi.reports.timerange import parse_stored, sql_time

FCR_GROUPS = tuple(q.FCR_GROUPS)


def fcr(reader: CdrReader, filters: Filters, now: datetime, *, window_hours: float = 24.0,
        by: str = "flow", charts: bool = False) -> Report:
    """First-call resolution: contacts whose caller did not call again
    within ``window_hours`` of their last call."""
    if by not in q.FCR_GROUPS:
        raise ReportError(f"cannot group fcr by {by!r}; choose one of {', '.join(FCR_GROUPS)}")
    if window_hours <= 0:
        raise ReportError("the FCR window must be more than 0 hours")
    window = timedelta(hours=window_hours)
    # look back one window to see whether the first call in range repeats an
    # earlier one, and ahead one window for the repeats of the last ones
    wide = replace(filters, since=filters.since - window if filters.since else None,
                   until=filters.until + window if filters.until else None)
    clause, params = q.where(wide)
    params.update(window=window_hours / 24.0, now=sql_time(now),
                  first_since=sql_time(filters.since) if filters.since else "",
                  first_until=sql_time(filters.until) if filters.until else "9999")
    rows = [dict(r) for r in reader.rows(q.FCR.format(where=clause, group=q.FCR_GROUPS[by]), params)]
    for row in rows:
        row["fcr_pct"] = _fcr_pct(row)
    rows.sort(key=lambda r: (r["key"] is None, str(r["key"])) if by == "day" else (-r["contacts"], label(r["key"])))
    columns = (Column("key", by.capitalize(), TEXT, shrink=True), Column("contacts", "Contacts", COUNT),
               Column("resolved", "Resolved", COUNT), Column("repeated", "Repeated", COUNT),
               Column("open", "Open", COUNT), Column("fcr_pct", "FCR", PERCENT),
               Column("repeat_calls", "Repeat calls", COUNT))
    totals: dict[str, Any] = {"key": "total", **{k: sum(r[k] or 0 for r in rows) for k in
                                                 ("contacts", "resolved", "repeated", "open", "repeat_calls")}}
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
    clause, params = q.where(filters)
    params.update(min_calls=min_calls, limit=-1 if limit is None else limit)
    rows = []
    for row in reader.rows(q.TRACKING.format(where=clause), params):
        item = dict(row)
        for key in ("first_call", "last_call"):
            item[key] = parse_stored(item[key]).astimezone(filters.tz)
        rows.append(item)
    top = rows[:15]
    chart = Chart("Callers with most calls", [r["caller"] for r in top], [r["calls"] for r in top])
    return Report("tracking", "Callers", TRACKING_COLUMNS, rows, filters, now,
                  {"min_calls": min_calls, "limit": limit}, charts=[chart] if charts else ())
