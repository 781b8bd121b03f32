"""Reading and writing number list CSV files.

Import format: one entry a line, the number (or a prefix ending in ``*``)
in the first column and an optional note in the second. A first line whose
first cell is a column name (``number``, ``phone``...) is a header; then the
``number`` and ``note`` columns are found by name and other columns are
ignored. Blank lines and lines starting with ``#`` are skipped.
"""
from __future__ import annotations

import csv
import itertools
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, TextIO

from agi.lists.numbers import Normaliser
from agi.storage.caps import CAPS, cap_text

#: Characters a list entry's note keeps (docs/cdr.md lists every cap).
NOTE_CAP = CAPS["note"]

NUMBER_HEADERS = ("number", "phone", "telephone", "msisdn", "e164", "numero", "número", "telefono", "teléfono")
NOTE_HEADERS = ("note", "notes", "comment", "reason", "nota")
#: Bad lines kept with their message; the rest are only counted.
MAX_REPORTED = 100


@dataclass
class ReadReport:
    """What reading a CSV found: good entries, bad lines and why."""

    entries: int = 0
    bad: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)

    def reject(self, line: int, message: str) -> None:
        self.bad += 1
        if len(self.errors) < MAX_REPORTED:
            self.errors.append((line, message))


def read_entries(lines: Iterable[str], normaliser: Normaliser, report: ReadReport) -> Iterator[tuple[str, str | None]]:
    """(stored key, note) for every good line of a CSV; bad lines go to
    ``report`` with their line number."""
    reader = csv.reader(lines)
    for row in reader:
        if _skipped(row):
            continue
        header = [cell.strip().lower() for cell in row]
        if _is_header(header):
            yield from _entries(reader, reader, normaliser, report, *_columns(header))
        else:
            yield from _entries(itertools.chain([row], reader), reader, normaliser, report, 0, 1)
        return


#: How a blank line or a comment starts.
_MAYBE_SKIPPED = ("", "#", " ", "\t")


def _skipped(row: list[str]) -> bool:
    """A blank line (every cell empty) or a comment."""
    first = row[0] if row else ""
    if first[:1] not in _MAYBE_SKIPPED:
        return False
    first = first.lstrip()
    return first[:1] == "#" or not any(cell.strip() for cell in row)


def _entries(rows: Iterable[list[str]], reader: Any, normaliser: Normaliser, report: ReadReport,
             number_col: int, note_col: int) -> Iterator[tuple[str, str | None]]:
    """The loop of ``read_entries``, kept lean: it runs once a line."""
    key = normaliser.key
    good = 0
    try:
        for row in rows:
            if not row or row[0][:1] in _MAYBE_SKIPPED and _skipped(row):
                continue
            try:
                number = key(row[number_col])
            except (ValueError, IndexError) as exc:
                report.reject(reader.line_num, str(exc) if isinstance(exc, ValueError) else "no number column")
                continue
            good += 1
            note = row[note_col].strip() if len(row) > note_col and row[note_col] else ""
            yield number, (cap_text(note, NOTE_CAP) if len(note) > NOTE_CAP else note) or None
    finally:
        report.entries += good


def _is_header(cells: list[str]) -> bool:
    """A first line naming its columns: a number column name, no digits first."""
    return any(cell in NUMBER_HEADERS for cell in cells) and not any(c.isdigit() for c in cells[0])


def _columns(header: list[str]) -> tuple[int, int]:
    number = next(i for i, name in enumerate(header) if name in NUMBER_HEADERS)
    note = next((i for i, name in enumerate(header) if name in NOTE_HEADERS), -1)
    return number, note if note >= 0 else len(header) + 1


def write_entries(out: TextIO, rows: Iterable[tuple[str, str | None]]) -> int:
    """Write ``number,note`` rows with a header, in the import format;
    returns how many entries were written."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["number", "note"])
    count = 0
    for number, note in rows:
        writer.writerow([number, note or ""])
        count += 1
    return count
