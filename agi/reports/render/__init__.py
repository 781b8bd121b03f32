"""Writing a ``Report``: ``render(report, "table" | "csv" | "json" | "html")``."""
from __future__ import annotations

from agi.reports.model import Report
from agi.reports.render.csv import render_csv
from agi.reports.render.html import render_html
from agi.reports.render.json import render_json
from agi.reports.render.table import render_table

FORMATS = ("table", "csv", "json", "html")


def render(report: Report, fmt: str, width: int | None = 80) -> str:
    """The report as text in ``fmt``; ``width`` limits the terminal table."""
    if fmt == "table":
        return render_table(report, width)
    if fmt == "csv":
        return render_csv(report)
    if fmt == "json":
        return render_json(report)
    if fmt == "html":
        return render_html(report)
    raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
