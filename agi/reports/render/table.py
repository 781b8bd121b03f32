"""The terminal table: a title, the filters, aligned columns that fit the
width (long text is cut with ``…``), and a totals row. Every text goes
through ``terminal_text``: a caller ID's escape sequences and control
characters never reach the terminal."""
from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Any, Callable, Sequence

from agi.reports.model import Column, Report
from agi.reports.render.values import human, numeric
from agi.reports.timerange import wall_time
from agi.reports.timerange import UTC
from agi.safe_text import terminal_text

GAP = "  "
_MIN_SHRUNK = 6


def render_table(report: Report, width: int | None = 80) -> str:
    report = report.materialised()
    columns = [c for c in report.columns if c.table]
    lines = [terminal_text(report.title), terminal_text(describe_filters(report))]
    if not report.rows:
        return "\n".join(lines + ["", "no calls match these filters"]) + "\n"
    body = [[terminal_text(human(c, row.get(c.key))) for c in columns] for row in report.rows]
    total = [terminal_text(human(c, report.totals.get(c.key))) if c.key in report.totals else "" for c in columns] \
        if report.totals else None
    widths = _fit(columns, body + ([total] if total else []), width)
    lines += ["", _line(columns, [terminal_text(c.title) for c in columns], widths), GAP.join("-" * w for w in widths)]
    lines += [_line(columns, cells, widths) for cells in body]
    if total:
        lines += [GAP.join("-" * w for w in widths), _line(columns, total, widths)]
    for note in report.notes:
        lines.append(terminal_text(note))
    return "\n".join(line.rstrip() for line in lines) + "\n"


def describe_filters(report: Report, show_name: Callable[[str], str] = str) -> str:
    """One line: the time range, zone and filters of the report; each
    name (flow, version, caller, option value) as ``show_name`` gives it."""
    f = report.filters
    tz = f.tz or UTC
    since = _moment(f.since, tz) if f.since else "first call"
    until = _moment(f.until, tz) if f.until else "now"
    span = "all calls" if not (f.since or f.until) else f"{since} to {until}"
    parts = [f"{span} ({f.tz_name})"]
    if f.flows:
        parts.append("flow " + ", ".join(map(show_name, f.flows)))
    if f.flow_versions:
        parts.append("flow version " + ", ".join(map(show_name, f.flow_versions)))
    if f.caller:
        parts.append(f"caller {show_name(f.caller)}")
    parts += [f"{key} {show_name(_option(value))}" for key, value in report.options.items()
              if value not in (None, [], ()) and key != "by"]
    return ", ".join(parts)


def _moment(moment: datetime, tz: tzinfo) -> str:
    """A bound of the range as local time (``timerange.wall_time``), to the
    second when it has seconds (``09:30:15`` to ``09:30:45`` is no empty range)."""
    local = moment.astimezone(tz)
    return wall_time(local, seconds=bool(local.second or local.microsecond))


def _option(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return ", ".join(map(str, value))
    return f"{value:g}" if isinstance(value, float) else str(value)


def _fit(columns: Sequence[Column], rows: Sequence[Sequence[str]], width: int | None) -> list[int]:
    """Natural widths, then the widest shrinkable column loses a character
    at a time until the table fits ``width`` (None: no limit)."""
    widths = [max([len(c.title)] + [len(r[i]) for r in rows]) for i, c in enumerate(columns)]
    if width is None:
        return widths
    while sum(widths) + len(GAP) * (len(widths) - 1) > width:
        candidates = [i for i, c in enumerate(columns)
                      if c.shrink and widths[i] > max(_MIN_SHRUNK, len(c.title))]
        if not candidates:
            break
        widest = max(candidates, key=lambda i: widths[i])
        widths[widest] -= 1
    return widths


def _line(columns: Sequence[Column], cells: Sequence[str], widths: Sequence[int]) -> str:
    out = []
    for column, cell, size in zip(columns, cells, widths):
        text = cell if len(cell) <= size else cell[:size - 1] + "…"
        out.append(text.rjust(size) if numeric(column) else text.ljust(size))
    return GAP.join(out)
