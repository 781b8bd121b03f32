"""Reading and writing number list CSV files.

Import format: one entry a line, the number (or a prefix ending in ``*``)
in the first column and an optional note in the second. A first line that
names a number column (``number``, ``phone``, ``e164``...) is a header; then the
``number`` and ``note`` columns are found by name and other columns are
ignored. Blank lines and lines starting with ``#`` are skipped.

Every line is read on its own: a quoted cell ends on its line, so a stray
``"`` spoils that line only, never the lines after it. A line that cannot
be read (a quote left open, a NUL byte, bytes that are not in the file's
encoding, more than ``MAX_LINE`` characters) is a bad line with its reason,
like a number that is not one. Memory stays bounded by ``MAX_LINE`` for any
input, binary files and endless lines included.
"""
from __future__ import annotations

import codecs
import csv
import io
import re
from dataclasses import dataclass, field
from typing import BinaryIO, Callable, Generator, Iterable, Iterator, TextIO

from agi.lists.numbers import Normaliser
from agi.safe_text import terminal_text
from agi.db.caps import CAPS, cap_text
from agi.wording import counted

#: Characters a list entry's note keeps (docs/cdr.md lists every cap).
NOTE_CAP = CAPS["note"]

#: Column names a header gives the number, as ``_header_word`` writes them
#: (``Phone Number``, ``phone_number`` and ``E.164`` are ``phonenumber`` and ``e164``).
NUMBER_HEADERS = ("number", "numbers", "phone", "phones", "phonenumber", "telephone", "tel", "mobile", "msisdn",
                  "e164", "numero", "número", "telefono", "teléfono", "movil", "móvil")
NOTE_HEADERS = ("note", "notes", "comment", "comments", "reason", "description", "nota", "notas", "comentario")
#: Bad lines kept with their message; the rest are only counted.
MAX_REPORTED = 100
#: The longest line read, in characters; the rest of a longer line is skipped.
MAX_LINE = 65_536
#: The longest number cell looked at (a number with its spaces and dashes is far shorter).
MAX_NUMBER_CELL = 64
#: The encoding of a file that has no byte order mark and no --encoding.
DEFAULT_ENCODING = "utf-8"
_DRAIN = 1 << 16
#: The longest line read to its end (and dropped): past it, the file is taken to have no more lines.
MAX_ENDLESS = 16 * 2**20
#: A byte the decoder could not read, kept as a lone surrogate (surrogateescape).
_UNDECODED = re.compile("[\udc80-\udcff]")


@dataclass
class ReadReport:
    """What reading a CSV found: lines, good entries, bad lines and why."""

    encoding: str = DEFAULT_ENCODING
    lines: int = 0
    entries: int = 0
    bad: int = 0
    #: Bad lines whose bytes are not text in ``encoding``.
    undecodable: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)

    def reject(self, line: int, message: str) -> None:
        self.bad += 1
        if len(self.errors) < MAX_REPORTED:
            self.errors.append((line, message))


class BadLines(ValueError):
    """The file has bad lines and they may not be skipped: nothing is imported."""

    def __init__(self, report: ReadReport) -> None:
        super().__init__(counted(report.bad, "bad line"))
        self.report = report


def text_lines(source: BinaryIO, encoding: str | None, report: ReadReport) -> Iterator[str]:
    """The lines of a binary stream as text, each cut to ``MAX_LINE + 1``
    characters (the rest of a longer line is read and dropped). Without
    ``encoding`` a UTF-16 or UTF-8 byte order mark decides, else UTF-8;
    bytes that are not in the encoding stay as surrogate escapes for
    ``read_entries`` to report. CR, LF and CRLF all end a line. A byte order
    mark is dropped whatever codec ``encoding`` names (``utf-16-le`` keeps
    it as a character). Bytes the codec cannot read at all (a multi-byte
    codec such as UTF-16 or UTF-32 out of step, a UTF-16 file without its
    byte order mark) end the reading: that line is reported bad, with the
    reason, and counted as read."""
    codec = _encoding(source, encoding)
    report.encoding = "utf-8" if codec == "utf-8-sig" else codec
    text = io.TextIOWrapper(source, encoding=codec, errors="surrogateescape", newline=None)
    read = 0
    try:
        while line := text.readline(MAX_LINE + 1):
            if len(line) > MAX_LINE and not line.endswith("\n") and not _drained(text):
                report.lines = read + 1
                report.reject(read + 1, f"a line that does not end within {MAX_ENDLESS // 2**20} MB (is this a "
                                        "text file?); the rest of the file is not read")
                return
            read += 1
            yield line[1:] if read == 1 and line[:1] == "\ufeff" else line
    except UnicodeError as exc:  # not only UnicodeDecodeError: "UTF-16 stream does not start with BOM"
        report.lines = read + 1
        report.undecodable += 1
        report.reject(read + 1, f"not {report.encoding} text from here on ({getattr(exc, 'reason', None) or exc}); "
                                f"the rest of the file is not read")
    finally:
        text.detach()


def _drained(text: io.TextIOWrapper) -> bool:
    """Read and drop the rest of a long line: True at its end, False when
    it goes on past MAX_ENDLESS characters (``/dev/zero``, once read for
    ever)."""
    drained = 0
    while (rest := text.readline(_DRAIN)) and not rest.endswith("\n"):
        drained += len(rest)
        if drained > MAX_ENDLESS:
            return False
    return True


def _encoding(source: BinaryIO, encoding: str | None) -> str:
    """The codec to read ``source`` with; a UTF-8 BOM is always dropped."""
    peek = getattr(source, "peek", None)
    head = peek(4)[:4] if peek else b""
    if encoding is None:
        if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            return "utf-16"
        encoding = DEFAULT_ENCODING
    name = codecs.lookup(encoding).name
    return "utf-8-sig" if name == "utf-8" else name


def read_entries(lines: Iterable[str], normaliser: Normaliser, report: ReadReport, *,
                 skip_bad: bool = True) -> Generator[tuple[str, str | None], None, None]:
    """(stored key, note) for every good line of a CSV; bad lines go to
    ``report`` with their line number. Without ``skip_bad``, ``BadLines``
    is raised after the last line when there was any bad line, so that a
    caller importing the entries can change nothing."""
    number_col, note_col = 0, 1
    header_seen = False
    delimiter = ","
    key = normaliser.key
    for report.lines, line in enumerate(lines, start=1):
        if not header_seen:  # the first line of cells (a header or an entry) says how they are separated
            delimiter = _delimiter(line, key)
        row = _row(line, report, delimiter)
        if row is None or _skipped(line, row):
            continue
        if not header_seen:
            header_seen = True
            cells = [_header_word(cell) for cell in row]
            if _is_header(cells):
                number_col, note_col = _columns(cells)
                continue
        try:
            number = key(_number_cell(row, number_col))
        except ValueError as exc:
            report.reject(report.lines, str(exc))
            continue
        report.entries += 1
        note = row[note_col].strip() if len(row) > note_col else ""
        yield number, (cap_text(terminal_text(note).strip(), NOTE_CAP) or None) if note else None
    if report.bad and not skip_bad:
        raise BadLines(report)


def line_problem(text: str, report: ReadReport, kind: str = "a CSV file of numbers") -> str | None:
    """Why a line of text (from ``text_lines``, its line end removed) cannot
    be read at all: too long, a NUL byte, bytes not in the file's encoding
    (counted in ``report.undecodable``); None when it can. ``kind`` names
    the file the line should come from."""
    if len(text) > MAX_LINE:
        return f"line longer than {MAX_LINE} characters (is this {kind}?)"
    if "\x00" in text:
        return "NUL byte in the line (a binary file, or UTF-16 without a byte order mark?)"
    if not text.isascii() and (undecoded := _UNDECODED.search(text)):
        report.undecodable += 1
        return (f"not valid {report.encoding} (byte 0x{ord(undecoded.group()) - 0xDC00:02X} "
                f"at column {undecoded.start() + 1}); give the file's encoding, e.g. --encoding latin-1")
    return None


def _delimiter(line: str, key: Callable[[str], str]) -> str:
    """How the first line of entries (or the header) separates its cells:
    the one of ``,`` and ``;`` that makes it a header or an entry whose
    number is one, whatever its note holds (``600111222,asked; by phone;
    twice``). When both or neither do, ``;`` if it makes more cells of the
    line than ``,`` (the CSV of a spreadsheet set to a language that writes
    decimal commas), else ``,``."""
    if ";" not in line:
        return ","
    rows = {delimiter: _cells(line, delimiter) for delimiter in (",", ";")}
    readable = [delimiter for delimiter, row in rows.items() if row and _readable(row, key)]
    if len(readable) == 1:
        return readable[0]
    return ";" if len(rows[";"] or ()) > len(rows[","] or ()) else ","


def _cells(line: str, delimiter: str) -> list[str] | None:
    try:
        return next(csv.reader([line.rstrip("\r\n")], delimiter=delimiter, strict=True), [])
    except csv.Error:
        return None


def _readable(row: list[str], key: Callable[[str], str]) -> bool:
    """A header, or an entry whose first cell is a number or a prefix."""
    if _is_header([_header_word(cell) for cell in row]):
        return True
    try:
        key(_number_cell(row, 0))
    except ValueError:
        return False
    return True


def _row(line: str, report: ReadReport, delimiter: str = ",") -> list[str] | None:
    """The cells of one line, or None (and a bad line) when it cannot be read."""
    text = line.rstrip("\r\n")
    problem = line_problem(text, report)
    if problem is None:
        if '"' not in text:
            return text.split(delimiter)
        try:
            return next(csv.reader([text], delimiter=delimiter, strict=True), [])
        except csv.Error as exc:
            problem = f"bad quoting ({exc}): a cell that starts with \" must end with \" on the same line"
    report.reject(report.lines, problem)
    return None


def _number_cell(row: list[str], column: int) -> str:
    if column >= len(row):
        raise ValueError("no number column")
    cell = row[column]
    if len(cell) > MAX_NUMBER_CELL:
        raise ValueError(f"{cell[:20]!r}... is not a phone number ({len(cell)} characters)")
    return cell


#: How a comment or a blank line starts, and a blank cell.
_MAYBE_SKIPPED = ("", "#", " ", "\t")
_MAYBE_BLANK = ("", " ", "\t")


def _skipped(line: str, row: list[str]) -> bool:
    """A comment (a line whose first character, past spaces and tabs, is
    ``#``; a quoted cell ``"#17"`` is no comment) or a blank line (every cell empty)."""
    if line[:1] not in _MAYBE_SKIPPED and (row[0][:1] if row else "") not in _MAYBE_BLANK:
        return False
    return line.lstrip(" \t")[:1] == "#" or not any(cell.strip() for cell in row)


def _header_word(cell: str) -> str:
    """A cell as a column name: lower case, without spaces, ``_``, ``-`` and ``.``."""
    return re.sub(r"[\s_.-]+", "", cell).lower()


def _is_header(cells: list[str]) -> bool:
    """A first line naming its columns: a number column name, and a first
    cell that is a column name or has no digits (``e164``, not ``600111222``)."""
    names = NUMBER_HEADERS + NOTE_HEADERS
    return any(cell in NUMBER_HEADERS for cell in cells) and (
        cells[0] in names or not any(c.isdigit() for c in cells[0]))


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
        writer.writerow([number, terminal_text(note) if note else ""])
        count += 1
    return count
