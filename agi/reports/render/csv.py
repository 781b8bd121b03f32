"""CSV: a header of column keys, then one line per row; numbers as plain
numbers with a ``.`` decimal point, times as ``YYYY-MM-DD HH:MM:SS`` in the
report's zone, empty cells for missing values. No totals row, so the file
sorts and sums as is in a spreadsheet. A text cell that a spreadsheet would
read as a formula (``=``, ``+``, ``-``, ``@``, tab, carriage return first,
OWASP's CSV injection list) gets a leading ``'``: caller IDs are the
caller's to choose."""
from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Any

from agi.reports.model import Column, Report
from agi.reports.render.values import plain
from agi.safe_text import spreadsheet_text


def render_csv(report: Report) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([c.key for c in report.columns])
    for row in report.rows:
        writer.writerow([_cell(c, row.get(c.key)) for c in report.columns])
    return out.getvalue()


def _cell(column: Column, value: Any) -> Any:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, bool):
        return int(value)
    found = plain(column, value)
    return "" if found is None else spreadsheet_text(found)
