"""The ``callbacks`` report: the callback requests made in the period
(the ``callbacks`` table, docs/callbacks.md), per queue, source, flow or
day: how many were requested, done, cancelled and are still pending, how
long the done ones took to be called back, and how long the oldest
pending one has waited."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Iterable

from agi.reports import queries as q
from agi.reports.db import CdrReader, ReportError
from agi.reports.model import COUNT, PERCENT, SECONDS, TEXT, Chart, Column, Filters, Report, largest, shrinks
from agi.reports.overview import label
from agi.reports.percent import percent
from agi.reports.stored_text import as_text
from agi.reports.timeline import over_range
from agi.reports.timerange import parse_stored

CALLBACK_GROUPS = ("queue", "source", "flow", "day")
CALLBACK_COLUMNS = (
    Column("requested", "Requested", COUNT), Column("done", "Done", COUNT), Column("done_pct", "Done rate", PERCENT, table=False),
    Column("cancelled", "Cancelled", COUNT), Column("pending", "Pending", COUNT),
    Column("attempts", "Attempts", COUNT, table=False),
    Column("avg_to_callback_s", "To callback", SECONDS), Column("max_to_callback_s", "Max to callback", SECONDS,
                                                                  table=False),
    Column("oldest_pending_s", "Oldest pending", SECONDS),
)
_COUNTS = ("requested", "done", "cancelled", "pending", "attempts")


def callbacks(reader: CdrReader, filters: Filters, now: datetime, *, by: str = "queue",
              charts: bool = False) -> Report:
    """The requests made in the period, per ``by``; days in time order,
    anything else by requests, most first."""
    if by not in CALLBACK_GROUPS:
        raise ReportError(f"cannot group callbacks by {by!r}; choose one of {', '.join(CALLBACK_GROUPS)}")
    clause, params = q.where(filters, dialect=reader.dialect)
    groups: dict[Any, dict[str, Any]] = {}
    total = _empty("total")
    for request in reader.rows(reader.sql(q.CALLBACK_REQUESTS, where=clause), params):
        key = reader.local_day(request["requested_at"]) if by == "day" else as_text(request[by])
        for group in (groups.setdefault(key, _empty(key)), total):
            _count(group, request, now)
    rows = sorted(groups.values(), key=lambda r: label(r["key"]) if by == "day" else (-r["requested"], label(r["key"])))
    columns = (Column("key", by.capitalize(), TEXT, shrink=shrinks(by)), *CALLBACK_COLUMNS)
    report_rows = [_finished(row) for row in rows]
    return Report("callbacks", f"Callback requests by {by}", columns, report_rows, filters, now, {"by": by},
                  _finished(total), _charts(by, report_rows, total, reader, filters, now) if charts else ())


def _empty(key: Any) -> dict[str, Any]:
    return {"key": key, **dict.fromkeys(_COUNTS, 0), "waited": 0, "waited_s": 0.0, "max_to_callback_s": None,
            "oldest_pending_s": None}


def _count(group: dict[str, Any], request: Any, now: datetime) -> None:
    """Add one request to a group."""
    requested = parse_stored(request["requested_at"])
    group["requested"] += 1
    group["attempts"] += request["attempts"] or 0
    status = request["status"]
    if status == "done":
        group["done"] += 1
        if request["done_at"]:
            took = max(0.0, (parse_stored(request["done_at"]) - requested).total_seconds())
            group["waited"] += 1
            group["waited_s"] += took
            group["max_to_callback_s"] = max(group["max_to_callback_s"] or 0.0, took)
    elif status == "cancelled":
        group["cancelled"] += 1
    elif status == "pending":
        group["pending"] += 1
        age = max(0.0, (now - requested).total_seconds())
        group["oldest_pending_s"] = max(group["oldest_pending_s"] or 0.0, age)


def _finished(group: dict[str, Any]) -> dict[str, Any]:
    """A group's row: its counts, the share done, and the times to callback."""
    return {"key": group["key"], **{name: group[name] for name in _COUNTS},
            "done_pct": percent(group["done"], group["requested"]),
            "avg_to_callback_s": group["waited_s"] / group["waited"] if group["waited"] else None,
            "max_to_callback_s": group["max_to_callback_s"], "oldest_pending_s": group["oldest_pending_s"]}


def _charts(by: str, rows: Iterable[dict[str, Any]], total: dict[str, Any], reader: CdrReader, filters: Filters,
            now: datetime) -> list[Chart]:
    """Requests by status; the average time to callback per group (the 15
    with most requests of a grouping of names; no value on a day without requests)."""
    title, shown = (f"Average time to callback by {by}", list(rows))
    if by != "day":
        title, shown = largest(title, shown, lambda r: r["requested"], "requests")
    waits = over_range(by, [(r["key"], r["avg_to_callback_s"]) for r in shown], None, reader, filters, now)
    states = ("done", "cancelled", "pending")
    return [Chart("Requests by status", list(states), [total[state] for state in states]),
            Chart(title, [label(key) for key, _ in waits],
                  [value for _, value in waits], horizontal=by != "day", unit="seconds")]
