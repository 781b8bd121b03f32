"""CSV for spreadsheets: a header of column titles in words, then one line
per row, written as the rows come (a streamed report never sits in memory).

- a duration is two columns, ``Wait (s)`` (seconds, to the millisecond) and
  ``Wait (h:mm:ss)``; a percentage's title ends in ``(%)``;
- a time is ``YYYY-MM-DD HH:MM:SS+01:00``, in the report's zone with its UTC
  offset, so that the two 02:30 of the night the clocks go back differ;
- a text cell a spreadsheet would run as a formula or read as a number
  (a phone number, a call id, ``08``) gets a leading ``'``
  (``agi.safe_text.spreadsheet_text``): it stays text, digits and all;
- no totals row, so the file sorts and sums as it is.

Two dialects: ``standard`` (RFC 4180: ``,``, ``.`` decimal point, ``\\r\\n``)
and ``excel`` for spreadsheets set to a language that writes decimal commas
(a UTF-8 byte order mark, ``;`` between cells, ``12,5``).
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any, Callable, Iterator

from agi.reports.model import COUNT, NUMBER, PERCENT, SECONDS, Column, Report
from agi.reports.render.values import hms
from agi.safe_text import spreadsheet_text

CSV_DIALECTS = ("standard", "excel")


@dataclass(frozen=True)
class _Dialect:
    delimiter: str
    decimal: str
    bom: str


_DIALECTS = {"standard": _Dialect(",", ".", ""), "excel": _Dialect(";", ",", "\ufeff")}
#: A cell from a column's value.
Cell = Callable[[Any], Any]


def write_csv(report: Report, out: IO[str], dialect: str = "standard") -> None:
    if dialect not in _DIALECTS:
        raise ValueError(f"unknown CSV dialect {dialect!r}; choose one of {', '.join(CSV_DIALECTS)}")
    chosen = _DIALECTS[dialect]
    fields = [field for column in report.columns for field in _fields(column, chosen)]
    out.write(chosen.bom)
    writer = csv.writer(out, delimiter=chosen.delimiter, lineterminator="\r\n")
    writer.writerow([heading for heading, _, _ in fields])
    writer.writerows([cell(row.get(key)) for _, key, cell in fields] for row in report.rows)


def _fields(column: Column, dialect: _Dialect) -> Iterator[tuple[str, str, Cell]]:
    """(heading, row key, cell maker) of each CSV column ``column`` gives."""
    def number(value: Any) -> Any:
        if value is None or value == "":
            return ""
        if isinstance(value, bool) or column.kind == COUNT:
            return int(value)
        if column.kind in (SECONDS, PERCENT):
            value = round(float(value), 3)
        return str(value).replace(".", dialect.decimal) if isinstance(value, float) else value

    def text(value: Any) -> Any:
        if value is None:
            return ""
        if isinstance(value, str):
            return spreadsheet_text(value)
        if isinstance(value, datetime):
            return value.isoformat(sep=" ", timespec="seconds")
        return number(value)

    if column.kind == SECONDS:
        yield f"{column.title} (s)", column.key, number
        yield f"{column.title} (h:mm:ss)", column.key, _duration
    elif column.kind == PERCENT:
        yield f"{column.title} (%)", column.key, number
    else:
        yield column.title, column.key, number if column.kind in (COUNT, NUMBER) else text


def _duration(value: Any) -> str:
    return "" if value is None or value == "" else hms(float(value))
