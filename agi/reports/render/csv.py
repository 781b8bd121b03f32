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
from agi.safe_text import SAFE_START, spreadsheet_text

CSV_DIALECTS = ("standard", "excel")


@dataclass(frozen=True)
class _Dialect:
    delimiter: str
    decimal: str
    bom: str


_DIALECTS = {"standard": _Dialect(",", ".", ""), "excel": _Dialect(";", ",", "\ufeff")}
#: How a line ends (RFC 4180).
_END = "\r\n"
#: A cell from a column's value.
Cell = Callable[[Any], str]


def write_csv(report: Report, out: IO[str], dialect: str = "standard") -> None:
    if dialect not in _DIALECTS:
        raise ValueError(f"unknown CSV dialect {dialect!r}; choose one of {', '.join(CSV_DIALECTS)}")
    chosen = _DIALECTS[dialect]
    fields = [field for column in report.columns for field in _fields(column, chosen)]
    out.write(chosen.bom)
    writer = csv.writer(out, delimiter=chosen.delimiter, lineterminator=_END)
    writer.writerow([heading for heading, _, _ in fields])
    cells = [(key, cell) for _, key, cell in fields]
    delimiter, write, separators = chosen.delimiter, out.write, len(cells) - 1
    for row in report.rows:
        texts = ["" if (value := row.get(key)) is None else cell(value) for key, cell in cells]
        line = delimiter.join(texts)
        if separators and line.count(delimiter) == separators and not _needs_quotes(line):
            write(line + _END)  # as the csv module writes it, without its walk over every character
        else:
            writer.writerow(texts)


def _needs_quotes(text: str) -> bool:
    """Whether a cell in ``text`` holds what the csv module quotes (besides
    the delimiter): a double quote or a line break."""
    return '"' in text or "\n" in text or "\r" in text


def _fields(column: Column, dialect: _Dialect) -> Iterator[tuple[str, str, Cell]]:
    """(heading, row key, cell maker) of each CSV column ``column`` gives."""
    if column.kind == SECONDS:
        yield f"{column.title} (s)", column.key, _decimal(dialect, rounded=True)
        yield f"{column.title} (h:mm:ss)", column.key, _duration
    elif column.kind == PERCENT:
        yield f"{column.title} (%)", column.key, _decimal(dialect, rounded=True)
    elif column.kind == COUNT:
        yield column.title, column.key, _count
    elif column.kind == NUMBER:
        yield column.title, column.key, _decimal(dialect, rounded=False)
    else:
        yield column.title, column.key, _text(_decimal(dialect, rounded=False))


def _count(value: Any) -> str:
    return "" if value is None or value == "" else str(int(value))


def _decimal(dialect: _Dialect, rounded: bool) -> Cell:
    """A number's cell: seconds and percentages to the millisecond, the
    dialect's decimal mark; a yes/no as 1 or 0."""
    comma = dialect.decimal != "."

    def cell(value: Any) -> str:
        if value is None or value == "":
            return ""
        if isinstance(value, bool):
            return str(int(value))
        if rounded:
            value = round(float(value), 3)
        if comma and isinstance(value, float):
            return str(value).replace(".", dialect.decimal)
        return str(value)  # as the csv module writes a number
    return cell


def _text(number: Cell) -> Cell:
    """A text column's cell: text kept as text, a time with its offset."""
    def cell(value: Any) -> str:
        if value.__class__ is str and (not value or value[0] in SAFE_START):
            return value  # most text: nothing to check further
        if value is None:
            return ""
        if isinstance(value, str):
            return str(spreadsheet_text(value))
        if isinstance(value, datetime):
            return value.isoformat(sep=" ", timespec="seconds")
        return number(value)
    return cell


def _duration(value: Any) -> str:
    return "" if value is None or value == "" else hms(float(value))
