"""The HTML page: one standalone file with inline CSS and inline SVG charts.
Its Content-Security-Policy forbids loading anything, so the page opens
offline and from an e-mail attachment alike. Every value is escaped.
Durations are written ``h:mm:ss``; rows the report flags (a recording made
without consent) are highlighted and the page says why."""
from __future__ import annotations

from html import escape
from typing import Any, Mapping, Sequence

from agi import __version__
from agi.reports.model import SECONDS, Column, Report
from agi.reports.render.svg import chart_svg
from agi.reports.render.table import describe_filters
from agi.reports.render.values import hms, human, numeric
from agi.safe_text import set_apart

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; color: #1f2933;
       margin: 24px auto; max-width: 1400px; padding: 0 16px; background: #ffffff; }
h1 { font-size: 1.5em; margin: 0 0 4px; }
h2 { font-size: 1.1em; margin: 28px 0 8px; }
p.filters, footer { color: #52606d; margin: 0 0 16px; }
.charts { display: flex; flex-wrap: wrap; gap: 16px 40px; }
figure { margin: 0; max-width: 100%; overflow-x: auto; }
figcaption { font-weight: 600; margin-bottom: 4px; }
h1, p.filters, figcaption, p.flag-note, body > p { overflow-wrap: anywhere; }
table { border-collapse: collapse; font-size: 14px; margin-top: 8px; }
.scroll { overflow-x: auto; }
th, td { padding: 4px 10px; border-bottom: 1px solid #e4e7eb; text-align: left;
         vertical-align: top; white-space: nowrap; }
td.wrap { white-space: normal; min-width: 6em; max-width: 32em; overflow-wrap: break-word; }
th { background: #f0f4f8; position: sticky; top: 0; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tbody tr:nth-child(even) { background: #f9fafb; }
tfoot td { font-weight: 600; border-top: 2px solid #9aa5b1; }
p.empty { color: #52606d; font-style: italic; }
footer { margin-top: 24px; font-size: 12px; }
svg { max-width: 100%; height: auto; display: block; }
ul.legend { list-style: none; display: flex; flex-wrap: wrap; gap: 4px 16px; margin: 6px 0 0; padding: 0;
            font-size: 13px; }
ul.legend li { display: flex; align-items: center; gap: 6px; }
.swatch { display: inline-block; width: 14px; height: 10px; border-radius: 2px; }
tr.flagged, tbody tr.flagged:nth-child(even) { background: #fde2e1; }
tr.flagged td:first-child { box-shadow: inset 4px 0 #c81e1e; }
p.flag-note { color: #9b1c1c; font-weight: 600; margin: 8px 0; }
.swatch.flagged { background: #fde2e1; box-shadow: inset 4px 0 #c81e1e; }
"""


def render_html(report: Report) -> str:
    rows = report.all_rows()
    title = f"agiflow: {report.title}"
    charts = "".join(f"<figure><figcaption>{escape(c.title)}</figcaption>{chart_svg(c)}</figure>"
                     for c in report.charts)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>",
        f"<header><h1>{escape(report.title)}</h1>",
        f'<p class="filters">{escape(describe_filters(report, set_apart))}</p></header>',
        f'<section class="charts">{charts}</section>' if charts else "",
        f"<h2>{len(rows):,} {'row' if len(rows) == 1 else 'rows'}</h2>",
        _flag_note(report, rows),
        _table(report, rows),
        *(f"<p>{escape(note)}</p>" for note in report.notes),
        f"<footer>Generated {escape(report.generated_at.isoformat(timespec='seconds'))} "
        f"by agiflow {escape(__version__)}.</footer>",
        "</body></html>",
    ]
    return "\n".join(p for p in parts if p) + "\n"


def _flag_note(report: Report, rows: Sequence[Mapping[str, Any]]) -> str:
    """The line above the table saying how many calls are highlighted: a
    call per row, or the calls the rows hold (``flag_calls``)."""
    marked = [row for row in rows if report.flag and row.get(report.flag)]
    if not marked:
        return ""
    if report.flag_calls:
        calls = sum(row[report.flag_calls] for row in marked)
        text = f'{calls:,} {"call" if calls == 1 else "calls"} {escape(report.flag_note)} (highlighted)'
    else:
        text = f"{len(marked):,} highlighted: {escape(report.flag_note)}"
    return f'<p class="flag-note"><span class="swatch flagged"></span> {text}</p>'


def _table(report: Report, rows: Sequence[Mapping[str, Any]]) -> str:
    if not rows:
        return '<p class="empty">No calls match these filters.</p>'
    head = "".join(f"<th{_cls(c)} scope=\"col\">{escape(c.title)}</th>" for c in report.columns)
    body = "\n".join(_tr(report.columns, row, bool(report.flag and row.get(report.flag)), report.flag_note)
                     for row in rows)
    foot = f"<tfoot>{_tr(report.columns, report.totals)}</tfoot>" if report.totals else ""
    return (f'<div class="scroll"><table id="report"><thead><tr>{head}</tr></thead><tbody>\n{body}\n'
            f'</tbody>{foot}</table></div>')


def _tr(columns: Sequence[Column], row: Mapping[str, Any], flagged: bool = False, why: str = "") -> str:
    cells = "".join(f"<td{_cls(c)}>{escape(_cell(c, row.get(c.key)) if c.key in row else '')}</td>"
                    for c in columns)
    return f'<tr class="flagged" title="{escape(why)}">{cells}</tr>' if flagged else f"<tr>{cells}</tr>"


def _cell(column: Column, value: Any) -> str:
    if column.kind == SECONDS and value not in (None, ""):
        return hms(float(value))
    return human(column, value)


def _cls(column: Column) -> str:
    if numeric(column):
        return ' class="num"'
    return ' class="wrap"' if column.shrink else ""
