"""Writing a ``Report``: ``write(report, "table" | "csv" | "json" | "html", out)``,
or ``render`` for the text. CSV and JSON write each row as it comes, so a
streamed report (``StreamedRows``) goes from the database to ``out`` in
constant memory; the table and the page need every row first."""
from __future__ import annotations

import io
from typing import IO

from agi.reports.model import Report
from agi.reports.render.csv import CSV_DIALECTS, write_csv
from agi.reports.render.html import render_html
from agi.reports.render.json import write_json
from agi.reports.render.table import render_table

FORMATS = ("table", "csv", "json", "html")

__all__ = ["CSV_DIALECTS", "FORMATS", "render", "write"]


def write(report: Report, fmt: str, out: IO[str], width: int | None = 80, csv_dialect: str = "standard") -> None:
    """Write the report to ``out`` in ``fmt``; ``width`` limits the terminal
    table, ``csv_dialect`` is ``standard`` or ``excel`` (docs/reports.md)."""
    if fmt == "table":
        out.write(render_table(report, width))
    elif fmt == "csv":
        write_csv(report, out, csv_dialect)
    elif fmt == "json":
        write_json(report, out)
    elif fmt == "html":
        out.write(render_html(report))
    else:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")


def render(report: Report, fmt: str, width: int | None = 80, csv_dialect: str = "standard") -> str:
    """The report as text in ``fmt`` (see ``write``)."""
    out = io.StringIO(newline="")
    write(report, fmt, out, width, csv_dialect)
    return out.getvalue()
