"""``agiflow lists import`` on every kind of malformed file: each bad line is
reported as FILE:LINE: reason, an import with a bad line changes nothing
(unless --skip-bad), no line swallows the next, and memory stays bounded."""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Callable

import pytest
from click.testing import CliRunner, Result
from support.postgres import ended_before_purge

from agi.cli.main import cli
from agi.db.location import PostgresUrl
from agi.lists.csvio import MAX_LINE, ReadReport, read_entries, text_lines
from agi.lists.numbers import Normaliser


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "config.yaml").write_text(json.dumps({"database": "lists.db", "default_region": "ES"}))
    return tmp_path


def agiflow(*args: str, input: bytes | None = None) -> Result:
    return CliRunner().invoke(cli, ["lists", *args, "-c", "config.yaml"], input=input)


def import_file(project: Path, content: bytes, *options: str, name: str = "in.csv") -> Result:
    (project / name).write_bytes(content)
    return agiflow("import", "robinson", name, *options)


def entries(list_name: str = "robinson") -> list[str]:
    result = agiflow("export", list_name)
    return result.stdout.splitlines()[1:] if result.exit_code == 0 else []


def assert_refused(result: Result) -> list[str]:
    """Exit 1, no traceback, the list unchanged; the lines on stderr."""
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    lines = result.stderr.splitlines()
    assert lines[-1].startswith("error: ") and lines[-1].endswith("list 'robinson' is unchanged"), lines[-1]
    return lines


def test_a_stray_quote_in_a_long_file_is_one_bad_line_and_nothing_is_imported(project: Path) -> None:
    lines = [f"+346{i:08d},note {i}" for i in range(20_000)]
    lines[100] = '+34600000100,"asked by phone'
    result = import_file(project, ("\n".join(lines) + "\n").encode())
    said = assert_refused(result)
    assert said[0].startswith("in.csv:101: bad quoting")
    assert said[1] == ("error: in.csv: 1 bad line (fix it, or give --skip-bad to import the 19999 good lines); "
                       "list 'robinson' is unchanged")
    assert len(said) == 2 and entries() == []


def test_a_stray_quote_never_swallows_the_lines_after_it(project: Path) -> None:
    content = b'+34600111222,"oops\n+34600111223,ok\n+34600111224,ok\n'
    assert_refused(import_file(project, content))
    result = import_file(project, content, "--skip-bad")
    assert result.exit_code == 0, result.output
    assert result.stderr.startswith("in.csv:1: bad quoting")
    assert "2 added, 0 already listed or repeated, 1 bad line skipped" in result.stdout
    assert entries() == ["+34600111223,ok", "+34600111224,ok"]


def test_quoted_cells_on_one_line_are_read_as_csv(project: Path) -> None:
    result = import_file(project, b'+34600111222,"P\xc3\xa9rez, Juan ""JP"""\n')
    assert result.exit_code == 0, result.output
    assert entries() == ['+34600111222,"Pérez, Juan ""JP"""']


def test_a_latin1_file_names_the_encoding_and_imports_with_encoding(project: Path) -> None:
    content = "+34600111222,José\n+34600111223,Pérez\n".encode("latin-1")
    said = assert_refused(import_file(project, content))
    assert said[0] == ("in.csv:1: not valid utf-8 (byte 0xE9 at column 17); give the file's encoding, "
                       "e.g. --encoding latin-1")
    assert said[-1] == ("error: in.csv: 2 of 2 lines are not valid utf-8: give the file's encoding with --encoding "
                        "(e.g. --encoding latin-1); list 'robinson' is unchanged")
    result = import_file(project, content, "--encoding", "latin-1")
    assert result.exit_code == 0, result.output
    assert entries() == ["+34600111222,José", "+34600111223,Pérez"]


def test_an_unknown_encoding_is_a_usage_error(project: Path) -> None:
    result = import_file(project, b"600111222\n", "--encoding", "klingon")
    assert result.exit_code == 2 and "unknown encoding 'klingon'" in result.stderr


@pytest.mark.parametrize("codec", ["rot13", "base64", "hex", "zlib", "bz2", "uu"])
def test_a_codec_that_is_no_text_encoding_is_a_usage_error(project: Path, codec: str) -> None:
    result = import_file(project, b"600111222\n", "--encoding", codec)
    assert result.exit_code == 2, result.output
    assert f"'{codec}' is not a text encoding" in result.stderr and "Traceback" not in result.output


@pytest.mark.parametrize("encoding, reason", [
    ("utf-16", "UTF-16 stream does not start with BOM"),
    ("utf-32", "code point not in range(0x110000)"),
    ("idna", "Unsupported error handling surrogateescape"),
])
def test_a_file_the_given_encoding_cannot_read_at_all_names_it_instead_of_calling_the_file_empty(
        project: Path, encoding: str, reason: str) -> None:
    said = assert_refused(import_file(project, b"+34600111222,a\n+34600111223,b\n", "--encoding", encoding))
    assert said == [f"in.csv:1: not {encoding} text from here on ({reason}); the rest of the file is not read",
                    f"error: in.csv: 1 of 1 lines are not valid {encoding}: give the file's encoding with "
                    f"--encoding (e.g. --encoding latin-1); list 'robinson' is unchanged"]


@pytest.mark.parametrize("content, reason", [
    (b"+34600111222,a\x00b\n+34600111223\n", "in.csv:1: NUL byte in the line"),
    (b"+34600111222," + b"x" * (MAX_LINE + 10) + b"\n+34600111223\n", f"in.csv:1: line longer than {MAX_LINE}"),
    (b'+34600111222,"' + b"y" * 300_000 + b'"\n+34600111223\n', f"in.csv:1: line longer than {MAX_LINE}"),
    (b"+34600111222,caf\xc3\n+34600111223\n", "in.csv:1: not valid utf-8 (byte 0xC3 at column 17)"),
    (b"+34600111222,ok\n" + b"9" * 500 + b"\n", "in.csv:2: '99999999999999999999'... is not a phone number (500"),
])
def test_each_unreadable_line_is_reported_and_refused(project: Path, content: bytes, reason: str) -> None:
    said = assert_refused(import_file(project, content))
    assert said[0].startswith(reason), said[0]
    assert len(said[0]) < 300
    assert import_file(project, content, "--skip-bad").exit_code == 0
    assert len(entries()) == 1


@pytest.mark.parametrize("content", [
    b"\xef\xbb\xbfnumber,note\r\n+34600111222,a\r\n+34600111223,b\r\n",  # BOM and CRLF, as a spreadsheet saves
    "number,note\n+34600111222,a\n+34600111223,b\n".encode("utf-16"),  # UTF-16 with its BOM
    b"+34600111222,a\r+34600111223,b\r",  # old Mac line ends
])
def test_byte_order_marks_and_line_ends_are_read(project: Path, content: bytes) -> None:
    result = import_file(project, content)
    assert result.exit_code == 0, result.output
    assert "2 added, 0 already listed or repeated, no bad lines" in result.stdout
    assert entries() == ["+34600111222,a", "+34600111223,b"]


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"])
def test_a_byte_order_mark_is_dropped_whatever_encoding_names_the_file(project: Path, encoding: str) -> None:
    # the file's encoding as `file` names it (UTF-16, little-endian): the mark stayed, and the header
    # '\ufeffnumber' was a bad line
    content = "\ufeffnumber,note\n+34600111222,a\n+34600111223,b\n".encode(encoding)
    result = import_file(project, content, "--encoding", encoding)
    assert result.exit_code == 0, result.output
    assert entries() == ["+34600111222,a", "+34600111223,b"]


def test_an_empty_file_changes_nothing(project: Path) -> None:
    said = assert_refused(import_file(project, b""))
    assert said == ["error: in.csv: no entries (the file is empty); list 'robinson' is unchanged"]


def test_a_binary_file_is_refused_with_its_bad_lines_counted(project: Path) -> None:
    said = assert_refused(import_file(project, os.urandom(200_000)))
    assert len(said) <= 102  # 100 lines, the count of the others, the error
    assert all(line.startswith("in.csv:") or line.startswith(("...", "error: ")) for line in said)
    assert all(ch.isprintable() for line in said for ch in line)


@pytest.mark.parametrize("make, said", [
    (lambda p: p.mkdir(), "error: in.csv: is a directory, not a CSV file"),
    (lambda p: None, "error: in.csv: No such file or directory"),
])
def test_a_file_that_cannot_be_read_is_one_line(project: Path, make: object, said: str) -> None:
    make(project / "in.csv")  # type: ignore[operator]
    result = agiflow("import", "robinson", "in.csv")
    assert (result.exit_code, result.stderr) == (1, said + "\n")
    assert not (project / "lists.db").exists() or entries() == []


def test_standard_input_is_read_the_same_way(project: Path) -> None:
    result = agiflow("import", "robinson", "-", input="+34600111222,José\n".encode("latin-1"))
    assert result.exit_code == 1 and "-:1: not valid utf-8" in result.stderr
    result = agiflow("import", "robinson", "-", "--encoding", "cp1252", input="+34600111222,José\n".encode("cp1252"))
    assert result.exit_code == 0 and entries() == ["+34600111222,José"]


def test_bad_lines_of_a_replace_leave_the_old_list(project: Path) -> None:
    assert import_file(project, b"600111222\n600111223\n").exit_code == 0
    assert_refused(import_file(project, b"611000000\nnot a number\n", "--replace"))
    assert entries() == ["+34600111222,", "+34600111223,"]


def test_escape_sequences_in_notes_never_reach_the_terminal(project: Path) -> None:
    result = import_file(project, b"+34600111222,\x1b]0;pwned\x07asked \x1b[31mby phone\n")
    assert result.exit_code == 0, result.output
    assert entries() == ["+34600111222,asked by phone"]
    assert agiflow("check", "robinson", "600111222").stdout.endswith("(asked by phone)\n")
    agiflow("add", "vip", "600111223", "--note", "a\x1b[2Jb\nc")
    assert entries("vip") == ["+34600111223,ab c"]


def test_lines_are_read_in_bounded_pieces_whatever_the_input() -> None:
    endless = io.BufferedReader(io.BytesIO(b"1" * (5 * MAX_LINE) + b"\n+34600111222\n" + b"\x00" * 300_000))
    report = ReadReport()
    lines = list(text_lines(endless, None, report))
    assert max(map(len, lines)) <= MAX_LINE + 1 and len(lines) == 3
    assert list(read_entries(lines, Normaliser("ES"), report)) == [("+34600111222", None)]
    assert report.bad == 2 and [line for line, _ in report.errors] == [1, 3]


def test_a_line_that_never_ends_ends_the_reading() -> None:
    """``/dev/zero`` was read for ever: a line is read to its end for at most 16 MB."""
    endless = io.BufferedReader(io.BytesIO(b"+34600111222\n" + b"\x00" * (17 << 20) + b"\n+34600111333\n"))
    report = ReadReport()
    assert list(read_entries(text_lines(endless, None, report), Normaliser("ES"), report)) == [("+34600111222", None)]
    assert report.errors == [(2, "a line that does not end within 16 MB (is this a text file?); "
                                 "the rest of the file is not read")]
    assert report.lines == 2


def test_importing_dev_zero_is_one_bad_line_and_nothing_imported(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("database: cdr.db\n", encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "agi.cli", "lists", "import", "vip", "/dev/zero", "-c", str(config)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        "/dev/zero:1: a line that does not end within 16 MB (is this a text file?); the rest of the file is not read",
        "error: /dev/zero: no valid entries; list 'vip' is unchanged"]


def test_an_import_whose_connection_the_server_ends_is_one_line_and_exit_1(postgres_url: PostgresUrl, tmp_path: Path) -> None:
    """A PostgreSQL restart or pg_terminate_backend during the COPY of an
    import: besides the error line, psycopg's note (`error ignored
    terminating <psycopg.Copy [BAD] at 0x...>`) and a traceback of the file
    reader, finished after its file was closed (`Exception ignored in:
    ... ValueError: I/O operation on closed file`), came out."""
    import contextlib
    import time

    from agi.db import postgres as pg
    config = tmp_path / "config.yaml"
    config.write_text(f"database: '{postgres_url.url}'\n", encoding="utf-8")
    assert CliRunner().invoke(cli, ["lists", "create", "robinson", "-c", str(config)]).exit_code == 0
    importing = subprocess.Popen([sys.executable, "-m", "agi.cli", "lists", "import", "robinson", "-",
                                  "-c", str(config)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE)
    assert importing.stdin is not None
    lines = b"".join(b"+346%08d\n" % n for n in range(20_000))
    with contextlib.closing(pg.connect(postgres_url)) as admin:
        admin.autocommit = True
        ended = False
        for _ in range(200):
            importing.stdin.write(lines)
            importing.stdin.flush()
            ended = bool(admin.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = current_database() "
                "AND application_name = 'agiflow lists' AND query LIKE 'COPY list_lines%'").fetchone()[0])
            if ended:
                break
            time.sleep(0.05)
        assert ended
    with contextlib.suppress(BrokenPipeError):
        importing.stdin.write(lines)
        importing.stdin.close()
    out, err = importing.communicate(timeout=60)
    said = err.decode().splitlines()
    assert importing.returncode == 1, said
    assert len(said) == 1 and said[0].startswith(f"error: the database {postgres_url}: "), said


def test_an_import_whose_connection_ends_while_it_fills_the_list_says_why(postgres_url: PostgresUrl, tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The connection ended while the staged entries went into the list:
    the import then emptied its staging table on that connection, and
    said `the connection is closed` instead of what had happened."""
    import contextlib

    from agi.db import postgres as pg
    from agi.lists.pg_admin import PostgresListAdmin
    copy_sql = PostgresListAdmin._copy_sql

    def ended_first(admin: PostgresListAdmin) -> str:
        with contextlib.closing(pg.connect(postgres_url)) as other:
            other.execute("SELECT pg_terminate_backend(%s)", (admin.conn.raw.info.backend_pid,))  # type: ignore[attr-defined]
        return copy_sql(admin)
    monkeypatch.setattr(PostgresListAdmin, "_copy_sql", ended_first)
    (tmp_path / "in.csv").write_text("+34600111222\n")
    result = CliRunner().invoke(cli, ["lists", "import", "robinson", str(tmp_path / "in.csv"),
                                      "-c", str(_config(tmp_path, postgres_url))])
    assert result.exit_code == 1, result.output
    assert "terminating connection due to administrator command" in result.stderr, result.stderr
    assert result.stderr.count("\n") == 1, result.stderr


def _config(folder: Path, database: PostgresUrl) -> Path:
    config = folder / "config.yaml"
    config.write_text(f"database: '{database.url}'\n", encoding="utf-8")
    return config


def test_a_replace_whose_connection_ends_while_it_removes_the_old_entries_says_it_is_done(
        postgres_url: PostgresUrl, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The replace is committed, then the entries it set aside are removed,
    a chunk at a time (minutes for a list of millions). The connection ended
    meanwhile (a restart): the command said `error: ...` and exited 1, so a
    script took the new list for not imported. It is done: the summary, exit
    0, and a line saying what is left for the next import or delete."""

    _replace_whose_connection_ends(tmp_path, postgres_url, monkeypatch, "+34600111222\n+34600111223\n",
                                   ended_before_purge)


def test_an_import_whose_connection_ends_once_it_is_committed_says_it_is_done(
        postgres_url: PostgresUrl, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The import committed, then its connection ended (a restart) before
    the staging table was emptied: the command said `error: ...` and exited
    1, though the list held the new entries. It is done: the summary, exit
    0, and a line saying what is left for the next import or delete."""
    _replace_whose_connection_ends(tmp_path, postgres_url, monkeypatch, "+34600111222\n", _ended_once_committed)


def test_an_added_import_whose_connection_ends_once_it_is_committed_says_no_entries_were_replaced(
        postgres_url: PostgresUrl, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An import without --replace replaces no entries: when its tidying
    after the commit failed, it said `the entries it replaced are not all
    removed yet`. It says the import is done and what failed after it."""
    config = _config(tmp_path, postgres_url)
    (tmp_path / "new.csv").write_text("+34600111224\n")
    _ended_once_committed(monkeypatch, postgres_url)
    result = CliRunner().invoke(cli, ["lists", "import", "robinson", str(tmp_path / "new.csv"), "-c", str(config)])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("robinson: imported 1 entry from ")
    assert result.stderr == ("robinson: the import is done; the tidying after it failed (terminating connection "
                             "due to administrator command)\n")


def _replace_whose_connection_ends(tmp_path: Path, postgres_url: PostgresUrl, monkeypatch: pytest.MonkeyPatch,
                                   old: str, end: Callable[[pytest.MonkeyPatch, PostgresUrl], None]) -> None:
    """``lists import --replace`` of one entry over ``old``, its connection
    ended by ``end``: done, the summary, exit 0, a line saying what is left
    for the next import or delete, and the list holds the new entry."""
    config = _config(tmp_path, postgres_url)
    (tmp_path / "old.csv").write_text(old)
    (tmp_path / "new.csv").write_text("+34600111224\n")
    assert CliRunner().invoke(cli, ["lists", "import", "robinson", str(tmp_path / "old.csv"),
                                    "-c", str(config)]).exit_code == 0
    end(monkeypatch, postgres_url)
    result = CliRunner().invoke(cli, ["lists", "import", "robinson", str(tmp_path / "new.csv"), "--replace",
                                      "-c", str(config)])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("robinson: replaced with 1 entry from ")
    assert result.stderr == ("robinson: the entries it replaced are not all removed yet (terminating connection "
                             "due to administrator command); the next import or delete removes them\n")
    monkeypatch.undo()
    exported = CliRunner().invoke(cli, ["lists", "export", "robinson", "-c", str(config)])
    assert exported.stdout.splitlines()[1:] == ["+34600111224,"]


def _ended_once_committed(monkeypatch: pytest.MonkeyPatch, url: PostgresUrl) -> None:
    """Make the next import's connection end (a restart) right after the
    transaction that fills the list commits."""
    import contextlib

    from agi.db import postgres as pg
    from agi.lists.pg_admin import PostgresListAdmin
    copy_staged = PostgresListAdmin._copy_staged

    def ended_after(admin: PostgresListAdmin, *args: object) -> object:
        done = copy_staged(admin, *args)  # type: ignore[arg-type]
        with contextlib.closing(pg.connect(url)) as other:
            other.execute("SELECT pg_terminate_backend(%s)", (admin.conn.raw.info.backend_pid,))  # type: ignore[attr-defined]
        return done
    monkeypatch.setattr(PostgresListAdmin, "_copy_staged", ended_after)


def test_a_list_whose_entries_the_statistics_do_not_know_is_removed_at_once_on_postgresql(
        postgres_url: PostgresUrl, tmp_path: Path) -> None:
    """The entries of a list written after the last ANALYZE (an import
    killed before its ANALYZE, then replaced or deleted) were removed by a
    plan the planner chose for the one row it expected: a nested loop over
    each chunk, 8 minutes and more for one chunk of 200,000 entries."""
    import contextlib
    import time

    from agi.db import postgres as pg
    config = tmp_path / "config.yaml"
    config.write_text(f"database: '{postgres_url.url}'\n", encoding="utf-8")
    for name in ("vip", "robinson"):
        assert CliRunner().invoke(cli, ["lists", "create", name, "-c", str(config)]).exit_code == 0
    with contextlib.closing(pg.connect(postgres_url)) as conn:
        conn.autocommit = True
        for name in ("vip", "robinson"):
            if name == "robinson":
                conn.execute("ANALYZE list_entries")  # statistics that know only vip's entries
            conn.execute("INSERT INTO list_entries (list_id, number, note, added_at) SELECT l.id, "
                         "'+346' || lpad(n::text, 8, '0'), NULL, 0 FROM number_lists AS l, "
                         "generate_series(1, 40000) AS n WHERE l.name = %s", (name,))
        started = time.monotonic()
        done = CliRunner().invoke(cli, ["lists", "delete", "robinson", "--yes", "-c", str(config)])
        took = time.monotonic() - started
        assert done.exit_code == 0, done.output
        assert conn.execute("SELECT count(*) FROM list_entries").fetchone()[0] == 40000  # vip's
    assert took < 5, f"{took:.1f} s"


@pytest.mark.parametrize("content", [
    b"\xef\xbb\xbfPhone Number;Name;Reason\r\n600111222;Ana;asked by phone\r\n+34 611 222 333;Luis;\"P\xc3\xa9rez, Juan\"\r\n",
    b"600111222;asked by phone\n+34 611 222 333;\"P\xc3\xa9rez, Juan\"\n",
    b"\"600111222\";\"asked by phone\"\n\"+34 611 222 333\";\"P\xc3\xa9rez, Juan\"\n",
])
def test_a_file_a_spreadsheet_wrote_with_semicolons_is_read(project: Path, content: bytes) -> None:
    """A spreadsheet set to a language that writes decimal commas (Spanish,
    German, French...) writes its CSV with ';', as report --csv-dialect excel
    does: every line of such a CRM export was 'not a phone number'."""
    result = import_file(project, content)
    assert result.exit_code == 0, result.output
    assert "2 added" in result.stdout
    assert entries() == ["+34600111222,asked by phone", '+34611222333,"Pérez, Juan"']


def test_only_a_line_that_starts_with_a_hash_is_a_comment_not_a_quoted_cell_that_does(project: Path) -> None:
    # a CRM's ticket column ("#17") made its row a comment: the number was never listed, and no line was bad
    result = import_file(project, b"ref,phone\n# exported 2025-03-10\n  # by hand\n\"#17\",600111333\n"
                                  b"18,600111334\n")
    assert result.exit_code == 0, result.output
    assert entries() == ["+34600111333,", "+34600111334,"]


def test_a_cell_of_two_phones_is_a_bad_line_not_the_first_phone_alone(project: Path) -> None:
    # a CRM export lists a customer's phones in one cell; the second was never listed
    said = assert_refused(import_file(project, b"phone,name\n600111111,Ana\n\"600111222, 611222333\",Luis\n"
                                               b"600111444;611222555,Eva\n"))
    assert said[:2] == ["in.csv:3: '600111222, 611222333' holds more than one phone number: give one number a line",
                        "in.csv:4: '600111444;611222555' holds more than one phone number: give one number a line"]
    assert entries() == []


def test_a_file_with_commas_is_still_read_by_commas_when_a_note_holds_a_semicolon(project: Path) -> None:
    result = import_file(project, b"600111222,asked; by phone\n611222333;x\n", "--skip-bad")
    assert result.exit_code == 0, result.output
    assert entries() == ["+34600111222,asked; by phone"]
    assert result.stderr.startswith("in.csv:2: '611222333;x' is not a phone number")


@pytest.mark.parametrize("content, notes", [
    (b"600111222,asked by phone; twice; 2025-01-03\n611222333,x\n", ["asked by phone; twice; 2025-01-03", "x"]),
    (b"600111222;P\xc3\xa9rez, Juan, Sr.\n611222333;x\n", ['"Pérez, Juan, Sr."', "x"]),
    (b"phone;name, surname\n600111222;x\n611222333;y\n", ["", ""]),
])
def test_the_separator_is_the_one_that_makes_the_first_line_an_entry_or_a_header_whatever_its_note_holds(
        project: Path, content: bytes, notes: list[str]) -> None:
    # counted, the separators in a note outnumbered the one between the cells: every line was 'not a phone number'
    result = import_file(project, content)
    assert result.exit_code == 0, result.output
    assert entries() == [f"+34600111222,{notes[0]}", f"+34611222333,{notes[1]}"]
