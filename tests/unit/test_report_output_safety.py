"""A caller ID is the caller's to choose: a hostile one goes through every
report format without reaching the terminal raw, without running in a
spreadsheet, and escaped in HTML; JSON keeps it exactly."""
from __future__ import annotations

import csv
import io
import json
import re
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from support.cdr_builder import CdrBuilder

from agi.cli.main import cli
from agi.reports.model import Chart
from agi.reports.render.svg import chart_svg
from agi.safe_text import set_apart, spreadsheet_text, terminal_text

#: An OSC title change ended by BEL, a C1 CSI, a colour CSI, an HTML
#: script and normal Unicode that must survive.
HOSTILE = "\x1b]0;pwned\x07+34600\x9b2J\x1b[31mred\x1b[0m<script>alert(1)</script> José 日本 😀"
FORMULA = '=HYPERLINK("http://evil.example/","click")'
PHONE = "+34600111222"
CONTROL_CHARS = {chr(c) for c in [*range(0x00, 0x20), *range(0x7F, 0xA0)]} - {"\n"}


@pytest.fixture
def database(tmp_path: Path) -> Path:
    cdr = CdrBuilder(tmp_path / "cdr.db")
    for i, caller in enumerate((HOSTILE, FORMULA, PHONE, "-1+1", "@SUM(A1)", "\tTAB", "\rCR")):
        cdr.add(f"2025-03-10 09:{i:02d}:00", caller=caller, caller_name=caller)
    cdr.close()
    return cdr.path


def report(database: Path, kind: str, fmt: str) -> str:
    """The report as written to a file (click strips some escapes from
    standard output when it is not a terminal: a file gets every byte)."""
    out = database.parent / f"{kind}.{fmt}"
    result = CliRunner().invoke(cli, ["report", kind, "--db", str(database), "--tz", "UTC", "--format", fmt,
                                      "--width", "0", "-o", str(out)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return out.read_bytes().decode("utf-8")


@pytest.mark.parametrize("kind", ["calls", "tracking"])
def test_the_terminal_table_gets_no_escape_sequence_or_control_character_from_a_caller_id(
        database: Path, kind: str) -> None:
    out = report(database, kind, "table")
    assert not CONTROL_CHARS & set(out), [c for c in out if c in CONTROL_CHARS]
    assert "pwned" not in out and "2J" not in out
    assert "+34600red<script>alert(1)</script> José 日本 😀" in out


def test_the_table_filter_line_is_cleaned_too(database: Path) -> None:
    out = database.parent / "table.txt"
    result = CliRunner().invoke(cli, ["report", "calls", "--db", str(database), "--caller", "\x1b]0;x\x07*",
                                      "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "\x1b" not in out.read_text() and "caller *" in out.read_text()


@pytest.mark.parametrize("kind", ["calls", "tracking"])
def test_csv_cells_that_start_like_a_formula_get_a_leading_quote(database: Path, kind: str) -> None:
    rows = list(csv.DictReader(io.StringIO(report(database, kind, "csv"), newline="")))
    callers = {row["Caller"] for row in rows}
    assert {"'" + FORMULA, "'" + PHONE, "'-1+1", "'@SUM(A1)", "'\tTAB", "'\rCR"} <= callers
    assert HOSTILE in callers  # starts with ESC: not a formula, kept as it is
    for row in rows:
        for value in row.values():
            assert not value.startswith(("=", "+", "-", "@", "\t", "\r")), row


def test_csv_leaves_computed_numbers_alone(database: Path) -> None:
    rows = list(csv.DictReader(io.StringIO(report(database, "tracking", "csv"), newline="")))
    assert {row["Calls"] for row in rows} == {"1"}


def test_json_keeps_every_caller_id_exactly(database: Path) -> None:
    rows = json.loads(report(database, "calls", "json"))["rows"]
    assert {row["caller"] for row in rows} == {HOSTILE, FORMULA, PHONE, "-1+1", "@SUM(A1)", "\tTAB", "\rCR"}


@pytest.mark.parametrize("kind", ["calls", "tracking"])
def test_html_escapes_the_caller_id(database: Path, kind: str) -> None:
    page = report(database, kind, "html")
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "José 日本 😀" in page


def test_terminal_text_removes_sequences_and_controls_and_keeps_unicode() -> None:
    assert terminal_text("\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\") == "link"
    assert terminal_text("a\x1b[1;31mb\x1b[0mc\x9b31md\x07e\x00f\x7fg\x85h") == "abcdefgh"
    assert terminal_text("\x1b]0;title never ends") == ""
    assert terminal_text("\x1bc\x1b(Bok") == "ok"
    assert terminal_text("tab\there\nline\rcr") == "tab here line cr"
    assert terminal_text("Ñandú ü ß 日本語 😀 مرحبا") == "Ñandú ü ß 日本語 😀 مرحبا"


def test_a_name_that_can_reorder_the_text_around_it_is_set_apart_and_others_kept() -> None:
    assert set_apart("ventas") == "ventas" and set_apart("Łukasz 日本") == "Łukasz 日本"
    assert set_apart("قائمة") == "\u2068قائمة\u2069" and set_apart("שלום 2") == "\u2068שלום 2\u2069"
    assert set_apart("a\u202eb") == "\u2068a\u202eb\u2069"  # an override stops at the name's end


def test_a_bar_tooltip_keeps_a_right_to_left_label_before_its_value() -> None:
    """``قائمة: 12`` read as one right-to-left run put the value first."""
    svg = chart_svg(Chart("Calls by flow", ["قائمة", "ventas"], [12, 3]))
    assert "<title>\u2068قائمة\u2069: 12</title>" in svg and "<title>ventas: 3</title>" in svg


def test_spreadsheet_text_prefixes_formula_starts_and_number_like_text_only() -> None:
    assert [spreadsheet_text(v) for v in ("=1+1", "+34600111222", "-2", "@A1", "\tx", "\rx")] == \
        ["'=1+1", "'+34600111222", "'-2", "'@A1", "'\tx", "'\rx"]
    assert [spreadsheet_text(v) for v in ("600111222", "0034 600 111 222", "1741597200.10", "08", "1e5", "12%")] == \
        ["'600111222", "'0034 600 111 222", "'1741597200.10", "'08", "'1e5", "'12%"]
    assert [spreadsheet_text(v) for v in ("José", "", "2025-03-10", "15cd46f76111", "sales 2", -2, 1.5, None)] == \
        ["José", "", "2025-03-10", "15cd46f76111", "sales 2", -2, 1.5, None]


def test_a_cell_that_starts_with_the_mark_gets_one_more_so_that_dropping_one_gives_it_back() -> None:
    """A reader drops one leading ``'`` from a text cell (reports.md): a
    caller name ``'600`` came back as ``600``, as if it had been marked."""
    assert [spreadsheet_text(v) for v in ("'600", "'", "'José")] == ["''600", "''", "''José"]
    for value in ("'600", "600", "José", "+34600111222"):
        cell = spreadsheet_text(value)
        assert (cell[1:] if isinstance(cell, str) and cell.startswith("'") else cell) == value


def test_a_nul_the_spreadsheet_drops_neither_hides_a_formula_nor_a_number() -> None:
    """LibreOffice drops every NUL of a CSV cell as it reads it: a caller ID
    ``\\0=HYPERLINK(...)`` (a row written by another tool) ran as a formula,
    and ``\\0600111222`` and ``600\\x00111`` became numbers."""
    assert [spreadsheet_text(v) for v in ("\x00=1+1", "\x00\x00@A1", "\x00600111222", "600\x00111", "\x00'x")] == \
        ["'\x00=1+1", "'\x00\x00@A1", "'\x00600111222", "'600\x00111", "'\x00'x"]
    assert [spreadsheet_text(v) for v in ("a\x00b", "\x00José", "\x00")] == ["a\x00b", "\x00José", "\x00"]


def test_the_callbacks_table_gets_no_escape_sequence_from_a_caller_id(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from agi.storage.callbacks import CallbackBook, ensure_callbacks_table
    import sqlite_utils
    db = sqlite_utils.Database(tmp_path / "agiflow.db")
    ensure_callbacks_table(db)
    db["callbacks"].insert({"requested_at": "2025-03-10T09:00:00.000Z", "number": PHONE, "caller": HOSTILE,
                            "status": "pending", "reason": "queue timeout"})
    db.close()
    monkeypatch.chdir(tmp_path)
    assert CallbackBook(tmp_path / "agiflow.db").requests()[0]["caller"] == HOSTILE
    result = CliRunner().invoke(cli, ["callbacks", "list"], catch_exceptions=False)
    assert result.exit_code == 0
    assert not CONTROL_CHARS & set(result.stdout) and "pwned" not in result.stdout
    assert "José 日本 😀" in result.stdout


#: What reads as a number, spelled the short way (it backtracks for long texts).
_NUMBER_GRAMMAR = re.compile(r"[\s(]*[+-]?[\d\s.,]*\d[\d\s.,]*(?:[eE][+-]?\d+)?\s*%?[\s)]*")


@settings(max_examples=300, deadline=None)
@given(st.text(st.sampled_from(list(" \t\u00a0()+-.,%eE0123456789\u0661x=")), max_size=14))
def test_a_cell_is_taken_for_a_number_as_the_grammar_says(text: str) -> None:
    number_like = bool(text) and (text[0] in "=+-@(.," or text[0].isdigit() or text[0].isspace()) and (
        text.startswith(("=", "+", "-", "@", "\t", "\r")) or _NUMBER_GRAMMAR.fullmatch(text) is not None)
    assert spreadsheet_text(text) == ("'" + text if number_like else text)


@pytest.mark.parametrize("text", ["1" * 1023 + "x", "1 " * 511 + "x", " 1" * 511 + "e", " " * 1023 + "x",
                                  "1." * 511 + "x", "(" * 500 + "1" * 500 + "x"])
def test_a_caller_text_of_its_longest_stored_length_is_checked_at_once(text: str) -> None:
    started = time.process_time()
    assert spreadsheet_text(text) == text
    assert time.process_time() - started < 0.01  # once 0.2 s a cell: a report of 10,000 such calls took half an hour
