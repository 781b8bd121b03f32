"""CSV cells are quoted exactly where RFC 4180 needs it, in both dialects:
a line of plain cells is written as it is, a cell holding the delimiter, a
double quote or a line break is quoted, and every cell reads back as written."""
from __future__ import annotations

import csv
import io
from datetime import datetime, timezone

import pytest

from agi.reports.model import COUNT, PERCENT, SECONDS, TEXT, TIME, Column, Filters, Report
from agi.reports.render.csv import write_csv

COLUMNS = (Column("name", "Name", TEXT), Column("calls", "Calls", COUNT), Column("wait", "Wait", SECONDS),
           Column("share", "Share", PERCENT), Column("at", "At", TIME))
AT = datetime(2025, 3, 10, 9, 30, tzinfo=timezone.utc)
#: Names, each with what a spreadsheet must read back.
NAMES = [("Ana", "Ana"), ("a,b", "a,b"), ("a;b", "a;b"), ('say "hi"', 'say "hi"'), ("two\nlines", "two\nlines"),
         ("cr\rhere", "cr\rhere"), ("crlf\r\nhere", "crlf\r\nhere"), ("", ""), (" padded ", " padded "),
         ("=1+1", "'=1+1"), ("600111222", "'600111222"), ("é,\"x\"", "é,\"x\""),
         ("\x00=1+1", "'\x00=1+1")]


def written(rows: list[dict[str, object]], dialect: str) -> str:
    out = io.StringIO(newline="")
    write_csv(Report("test", "Test", COLUMNS, rows, Filters(), AT), out, dialect)
    return out.getvalue()


@pytest.mark.parametrize("dialect, delimiter", [("standard", ","), ("excel", ";")])
def test_every_cell_reads_back_and_only_the_cells_that_need_it_are_quoted(dialect: str, delimiter: str) -> None:
    rows: list[dict[str, object]] = [{"name": name, "calls": 3, "wait": 75.5, "share": 50.0, "at": AT}
                                     for name, _ in NAMES]
    text = written(rows, dialect).removeprefix("\ufeff")
    decimal = "75.5" if dialect == "standard" else "75,5"
    read = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    assert read[0] == ["Name", "Calls", "Wait (s)", "Wait (h:mm:ss)", "Share (%)", "At"]
    assert [r[0] for r in read[1:]] == [shown for _, shown in NAMES]
    for line in read[1:]:
        assert line[1:] == ["3", decimal, "0:01:16", "50.0" if dialect == "standard" else "50,0",
                            "2025-03-10 09:30:00+00:00"]
    # a plain line is not quoted; a line with a cell to quote quotes that cell alone
    lines = text.split("\r\n")
    assert lines[1] == delimiter.join(["Ana", "3", decimal, "0:01:16", read[1][4], read[1][5]])
    other = "a;b" if delimiter == "," else "a,b"
    assert f"{delimiter}{other}{delimiter}" not in text  # the other dialect's delimiter needs no quotes...
    assert f"\r\n{other}{delimiter}3{delimiter}" in text  # ... and is written as it is
    assert f'\r\n"a{delimiter}b"{delimiter}3{delimiter}' in text


def test_missing_values_are_empty_cells() -> None:
    text = written([{"name": None, "calls": None, "wait": None, "share": None, "at": None}], "standard")
    assert text.split("\r\n")[1] == ",,,,,"
