"""``agiflow callbacks dial``: pending requests become Asterisk call files,
oldest arrival first, one per number, a few at once, within the hours of a
schedule, never to a number on a do-not-call list, and never when that list
cannot be read; on both backends."""
from __future__ import annotations

import io
import os
import re
import textwrap
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from agi.cli import callbacks as callbacks_cli
from agi.cli.main import cli
from agi.config import load_config
from agi.db.location import Database, PostgresUrl
from agi.dialer.callfiles import CallFile, CallFileError, staging_folder, waiting, write
from agi.lists.csvio import ReadReport, read_entries
from agi.lists.numbers import Normaliser
from agi.storage.migrations import upgrade
from agi.storage.stores import list_admin
from support import table_rows

NOW = datetime(2025, 3, 10, 10, 0, tzinfo=timezone.utc)  # 11:00 in Madrid, a Monday
SCHEDULES = """\
version: 1
schedules:
  office_hours:
    timezone: Europe/Madrid
    hours:
      mon-fri: ["09:00-18:00"]
"""


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database: Database) -> Path:
    """A config naming agiflow.db, or a PostgreSQL database (the ``database`` fixture)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(callbacks_cli, "now", lambda: NOW)
    (tmp_path / "flows").mkdir()
    (tmp_path / "flows" / "schedules.yaml").write_text(SCHEDULES)
    (tmp_path / "spool" / "outgoing").mkdir(parents=True)
    path = tmp_path / "config.yaml"
    where = database.url if isinstance(database, PostgresUrl) else "agiflow.db"
    path.write_text(f"database: {where}\nflows: flows\n", encoding="utf-8")
    upgrade(load_config(path).database)
    lists({"robinson": ""}, path)
    return path


def configured(config: Path) -> Database:
    return load_config(config).database


def lists(entries: dict[str, str], config: Path) -> None:
    with list_admin(configured(config)) as admin:
        for name, text in entries.items():
            if text:
                admin.import_entries(name, read_entries(io.StringIO(text), Normaliser("ES"), ReadReport()))
            else:
                admin.create(name)


def add(config: Path, number: str, arrived: str, **row: Any) -> int:
    database = configured(config)
    table_rows.insert(database, "callbacks", [{
        "requested_at": row.pop("requested_at", arrived), "arrived_at": arrived, "number": number,
        "status": "pending", "attempts": 0, "queue": "support", "source": "missed", **row}])
    return int(table_rows.select(database, "SELECT max(id) AS id FROM callbacks")[0]["id"])


def rows(config: Path) -> list[dict[str, Any]]:
    return table_rows.select(configured(config), "SELECT * FROM callbacks ORDER BY id")


def spool(config: Path) -> Path:
    return config.parent / "spool" / "outgoing"


def dial(config: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["callbacks", "dial", "--spool", str(spool(config)),
                                    "--channel", "PJSIP/{number}@trunk", *args, "-c", str(config)])


def test_the_oldest_arrivals_are_dialled_first_one_file_each(config: Path) -> None:
    late = add(config, "+34600333444", "2025-03-10T09:30:00.000Z")
    early = add(config, "+34600111222", "2025-03-10T08:00:00.000Z", requested_at="2025-03-10T09:45:00.000Z")
    result = dial(config, "--max", "1")
    assert result.exit_code == 0, result.output
    assert os.listdir(spool(config)) == [f"agiflow-callback-{early}.call"]
    assert result.output.splitlines() == [
        f"callback {early} +34600111222 (arrived 2025-03-10T08:00:00.000Z, attempt 1): agiflow-callback-{early}.call",
        f"1 call file written to {spool(config)}, 0 requests skipped"]
    text = (spool(config) / f"agiflow-callback-{early}.call").read_text()
    assert text.splitlines()[1:] == [
        "Channel: PJSIP/+34600111222@trunk", "WaitTime: 45", "MaxRetries: 0", "Context: agiflow-callbacks",
        "Extension: s", "Priority: 1", f"Setvar: AGIFLOW_CALLBACK_ID={early}",
        "Setvar: AGIFLOW_CALLBACK_NUMBER=+34600111222", "Setvar: AGIFLOW_CALLBACK_QUEUE=support", "Archive: no"]
    claimed = {r["id"]: (r["attempts"], r["dialled_at"], r["status"]) for r in rows(config)}
    assert claimed == {early: (1, "2025-03-10T10:00:00.000Z", "pending"), late: (0, None, "pending")}


def test_no_more_than_max_files_wait_in_the_spool_at_once(config: Path) -> None:
    for minute in range(4):
        add(config, f"+3460011122{minute}", f"2025-03-10T08:0{minute}:00.000Z")
    assert dial(config, "--max", "3").exit_code == 0
    assert len(waiting(spool(config))) == 3
    result = dial(config, "--max", "3")
    assert result.output == f"3 callback call files still in {spool(config)} (at most 3 at once): none written\n"
    (spool(config) / sorted(os.listdir(spool(config)))[0]).unlink()  # Asterisk finished one call
    assert dial(config, "--max", "3").exit_code == 0
    assert len(waiting(spool(config))) == 3


def test_one_call_per_number_even_with_several_requests(config: Path) -> None:
    first = add(config, "+34600111222", "2025-03-10T08:00:00.000Z", source="keypad")
    add(config, "+34600111222", "2025-03-10T08:30:00.000Z", source="keypad")
    assert dial(config).exit_code == 0
    assert waiting(spool(config)) == {first}
    assert dial(config).output.endswith("0 call files written to " + str(spool(config)) + ", 0 requests skipped\n")


def test_a_number_whose_call_file_waits_in_the_spool_is_not_called_again_once_that_request_is_closed(
        config: Path) -> None:
    """Two keypad requests of one number: the first is being dialled (its
    file waits in the spool) when someone marks it done. The next run does
    not write a second call file for the same number: the customer's phone
    would ring twice at once."""
    first = add(config, "+34600111222", "2025-03-10T08:00:00.000Z", source="keypad")
    add(config, "+34600111222", "2025-03-10T08:30:00.000Z", source="keypad")
    assert dial(config).exit_code == 0
    closed = CliRunner().invoke(cli, ["callbacks", "done", str(first), "-c", str(config)])
    assert closed.exit_code == 0, closed.output
    result = dial(config)
    assert result.exit_code == 0, result.output
    assert waiting(spool(config)) == {first}
    assert result.output == f"0 call files written to {spool(config)}, 0 requests skipped\n"


def test_a_number_on_a_do_not_call_list_is_skipped_and_the_reason_said(config: Path) -> None:
    lists({"robinson": "+34600111222\n", "internal": "+3491*\n"}, config)
    listed = add(config, "+34600111222", "2025-03-10T08:00:00.000Z")
    prefixed = add(config, "+34911222333", "2025-03-10T08:10:00.000Z")
    clear = add(config, "+34600333444", "2025-03-10T08:20:00.000Z")
    result = dial(config, "--dnc", "robinson", "--dnc", "internal")
    assert result.exit_code == 0, result.output
    assert f"callback {listed} +34600111222: skipped, in do-not-call list robinson (+34600111222)" in result.output
    assert f"callback {prefixed} +34911222333: skipped, in do-not-call list internal (+3491*)" in result.output
    assert waiting(spool(config)) == {clear}
    assert [r["status"] for r in rows(config)] == ["pending"] * 3


@pytest.mark.parametrize("dnc", ["missing_list", "robinson"])
def test_a_list_that_cannot_be_read_skips_every_request_and_exits_1(config: Path, dnc: str) -> None:
    request = add(config, "+34600111222", "2025-03-10T08:00:00.000Z")
    if dnc == "robinson":  # a damaged list table
        table_rows.execute(configured(config), "DROP TABLE list_entries")
    result = dial(config, "--dnc", dnc)
    assert result.exit_code == 1
    assert f"callback {request} +34600111222: skipped, do-not-call list {dnc} cannot be read" in result.output
    assert "not dialled" in result.output
    assert waiting(spool(config)) == set()
    assert rows(config)[0]["attempts"] == 0


def test_without_a_database_nothing_is_dialled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "out").mkdir()
    result = CliRunner().invoke(cli, ["callbacks", "dial", "--spool", "out", "--channel", "PJSIP/{number}"])
    assert result.exit_code == 1 and "the database agiflow.db does not exist" in result.output
    assert os.listdir(tmp_path / "out") == []


def test_outside_the_schedules_hours_nothing_is_dialled(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    add(config, "+34600111222", "2025-03-10T08:00:00.000Z")
    monkeypatch.setattr(callbacks_cli, "now", lambda: datetime(2025, 3, 10, 20, 0, tzinfo=timezone.utc))
    result = dial(config, "--schedule", "office_hours")
    assert result.exit_code == 0
    assert result.output == "schedule office_hours is closed: no callbacks dialled\n"
    assert waiting(spool(config)) == set()
    monkeypatch.setattr(callbacks_cli, "now", lambda: NOW)
    assert dial(config, "--schedule", "office_hours").exit_code == 0
    assert len(waiting(spool(config))) == 1


def test_an_unknown_schedule_is_a_usage_error(config: Path) -> None:
    result = dial(config, "--schedule", "nope")
    assert result.exit_code == 2 and "no schedule named 'nope'" in result.output


def test_a_number_is_not_called_again_before_retry_after_through_another_of_its_requests(
        config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two keypad requests of one number: once the first call went
    unanswered, the second request does not call the number 10 minutes
    later; the number waits --retry-after like a single request."""
    first = add(config, "+34600111222", "2025-03-10T08:00:00.000Z", source="keypad")
    second = add(config, "+34600111222", "2025-03-10T08:30:00.000Z", source="keypad")
    called = []
    for minutes in (0, 10, 31):
        monkeypatch.setattr(callbacks_cli, "now", lambda m=minutes: NOW + timedelta(minutes=m))
        for name in os.listdir(spool(config)):
            (spool(config) / name).unlink()  # the call was not answered; Asterisk removed the file
        assert dial(config).exit_code == 0
        called.append(waiting(spool(config)))
    assert called == [{first}, set(), {first}]
    assert {r["id"]: r["attempts"] for r in rows(config)} == {first: 2, second: 0}


def test_a_request_is_dialled_again_only_after_retry_after_and_up_to_max_attempts(
        config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    request = add(config, "+34600111222", "2025-03-10T08:00:00.000Z")
    for minutes in (0, 10, 31, 62, 93):
        monkeypatch.setattr(callbacks_cli, "now", lambda m=minutes: NOW + timedelta(minutes=m))
        for name in os.listdir(spool(config)):
            (spool(config) / name).unlink()  # the call was not answered; Asterisk removed the file
        dial(config, "--max-attempts", "3")
    assert rows(config)[0]["attempts"] == 3
    assert rows(config)[0]["dialled_at"] == "2025-03-10T11:02:00.000Z"
    assert request not in waiting(spool(config))


def test_closed_requests_and_other_queues_are_left_alone(config: Path) -> None:
    add(config, "+34600111222", "2025-03-10T08:00:00.000Z", status="done")
    add(config, "+34600333444", "2025-03-10T08:00:00.000Z", queue="sales")
    support = add(config, "+34600555666", "2025-03-10T08:30:00.000Z")
    assert dial(config, "--queue", "support").exit_code == 0
    assert waiting(spool(config)) == {support}


def test_dry_run_writes_and_changes_nothing(config: Path) -> None:
    request = add(config, "+34600111222", "2025-03-10T08:00:00.000Z")
    result = dial(config, "--dry-run")
    assert f"would write agiflow-callback-{request}.call" in result.output
    assert os.listdir(spool(config)) == [] and rows(config)[0]["attempts"] == 0


def test_a_dry_run_leaves_a_schema_that_is_behind_as_it_is(config: Path) -> None:
    """Once, a dry run upgraded the schema (on a new PostgreSQL database it
    made every table), as dialling does."""
    from agi.storage.migrations import version
    from agi.storage.schema_version import SCHEMA_VERSION
    request = add(config, "+34600111222", "2025-03-10T08:00:00.000Z")
    table_rows.execute(configured(config), f"DELETE FROM agiflow_schema WHERE version = {SCHEMA_VERSION}")
    result = dial(config, "--dry-run")
    assert result.exit_code == 0 and f"would write agiflow-callback-{request}.call" in result.output, result.output
    assert version(configured(config)) == SCHEMA_VERSION - 1


@pytest.mark.parametrize("channel, message", [
    ("PJSIP/trunk", "names no number"),
    ("PJSIP/{phone}@trunk", "names phone"),
    ("PJSIP/{number", "expected '}'"),
])
def test_a_channel_template_that_cannot_work_is_refused(config: Path, channel: str, message: str) -> None:
    result = CliRunner().invoke(cli, ["callbacks", "dial", "--spool", str(spool(config)), "--channel", channel,
                                      "-c", str(config)])
    assert result.exit_code == 2 and message in result.output


@pytest.mark.parametrize("channel", ["PJSIP/{number:d}@trunk", "PJSIP/{number!x}@trunk", "PJSIP/{number!r}@trunk",
                                     "PJSIP/{digits:>999999999}@trunk", "PJSIP/{number}@{id:q}"])
def test_a_channel_template_with_a_conversion_or_format_is_refused_before_any_request(config: Path,
                                                                                      channel: str) -> None:
    """A field is written plain, ``{number}``: a format (``:d``, a width)
    or a conversion (``!r``) once ended the run with a traceback, or
    padded the channel to a gigabyte, at the first request."""
    add(config, "+34600111222", "2025-03-10T08:00:00.000Z")
    result = CliRunner().invoke(cli, ["callbacks", "dial", "--spool", str(spool(config)), "--channel", channel,
                                      "-c", str(config)])
    assert result.exit_code == 2 and "write each field plain" in result.output
    assert os.listdir(spool(config)) == [] and rows(config)[0]["attempts"] == 0


def test_options_go_into_the_call_file(config: Path) -> None:
    request = add(config, "+34600111222", "2025-03-10T08:00:00.000Z", queue=None)
    result = dial(config, "--context", "cb-out", "--extension", "care", "--wait", "30",
                  "--callerid", '"Support" <+34910000000>')
    assert result.exit_code == 0
    text = (spool(config) / f"agiflow-callback-{request}.call").read_text()
    assert 'CallerID: "Support" <+34910000000>' in text and "WaitTime: 30" in text
    assert "Context: cb-out" in text and "Extension: care" in text and "AGIFLOW_CALLBACK_QUEUE" not in text


def test_a_value_with_a_line_break_never_reaches_a_call_file(config: Path) -> None:
    request = add(config, "+34600111222", "2025-03-10T08:00:00.000Z", queue="support\nChannel: PJSIP/666")
    result = dial(config)
    assert f"callback {request} +34600111222: skipped, Setvar" in result.output
    assert os.listdir(spool(config)) == []


@pytest.mark.parametrize("option, value", [
    ("--callerid", '"Support" <+34910000000>\nSetvar: X=1'), ("--context", "cb\rout"), ("--extension", "s\x00"),
    ("--channel", "PJSIP/{number}@trunk\nChannel: PJSIP/666"),
])
def test_an_option_with_a_line_break_is_a_usage_error_and_claims_no_request(
        config: Path, option: str, value: str) -> None:
    add(config, "+34600111222", "2025-03-10T08:00:00.000Z")
    result = dial(config, option, value)
    assert result.exit_code == 2 and f"Invalid value for {option}" in result.output and "line break" in result.output
    assert os.listdir(spool(config)) == [] and rows(config)[0]["attempts"] == 0


@pytest.mark.parametrize("option, value", [("--context", ""), ("--context", "  "), ("--extension", ""),
                                           ("--extension", "\t")])
def test_an_empty_context_or_extension_is_a_usage_error_and_claims_no_request(
        config: Path, option: str, value: str) -> None:
    """The call file once went without its Context or Extension line:
    Asterisk refused the file, or rang the customer into an empty context,
    and the attempt counted."""
    add(config, "+34600111222", "2025-03-10T08:00:00.000Z")
    result = dial(config, option, value)
    assert result.exit_code == 2, result.output
    assert f"Invalid value for {option}" in result.output.replace("'", "") and "empty" in result.output
    assert os.listdir(spool(config)) == [] and rows(config)[0]["attempts"] == 0


def as_asterisk_reads(text: str) -> dict[str, list[str]]:
    """A call file's lines as Asterisk 22's pbx_spool parses them: ``#`` at
    the start or after a space or tab, and ``;`` not escaped by ``\\``, start
    a comment; a line of 1,023 bytes or more is skipped."""
    found: dict[str, list[str]] = {}
    for line in text.splitlines():
        if len(line.encode()) + 1 >= 1024:
            continue
        line = re.sub(r"(^|[ \t])#.*", r"\1", line)
        kept, rest = "", line
        while ";" in rest:
            before, rest = rest.split(";", 1)
            if before.endswith("\\"):
                kept += before[:-1] + ";"
            else:
                kept, rest = kept + before, ""
                break
        line = (kept + rest).rstrip()
        if line:
            key, _, value = line.partition(":")
            found.setdefault(key.lower(), []).append(value.lstrip())
    return found


def test_a_semicolon_in_an_option_reaches_asterisk_as_written(config: Path) -> None:
    """pbx_spool reads ``;`` as the start of a comment: a caller ID with one
    was cut there, and the customer saw no number."""
    request = add(config, "+34600111222", "2025-03-10T08:00:00.000Z", queue="sales;care")
    result = dial(config, "--callerid", '"Support; Sales" <+34910000000>', "--context", "cb;out")
    assert result.exit_code == 0, result.output
    read = as_asterisk_reads((spool(config) / f"agiflow-callback-{request}.call").read_text())
    assert read["callerid"] == ['"Support; Sales" <+34910000000>']
    assert read["context"] == ["cb;out"]
    assert "AGIFLOW_CALLBACK_QUEUE=sales;care" in read["setvar"]


@pytest.mark.parametrize("option, value", [("--callerid", '"Soporte #1" <+34910000000>'), ("--callerid", "#1"),
                                           ("--context", "cb\t#out")])
def test_an_option_asterisk_would_read_as_a_comment_is_a_usage_error_and_claims_no_request(
        config: Path, option: str, value: str) -> None:
    add(config, "+34600111222", "2025-03-10T08:00:00.000Z")
    result = dial(config, option, value.replace("\\t", "\t"))
    assert result.exit_code == 2 and f"Invalid value for {option}" in result.output and "comment" in result.output
    assert os.listdir(spool(config)) == [] and rows(config)[0]["attempts"] == 0


def test_a_queue_asterisk_would_read_as_a_comment_or_a_line_too_long_skips_the_request(config: Path) -> None:
    commented = add(config, "+34600111222", "2025-03-10T08:00:00.000Z", queue="sales #2")
    result = dial(config)
    assert f"callback {commented} +34600111222: skipped, Setvar" in result.output
    assert os.listdir(spool(config)) == [] and rows(config)[0]["attempts"] == 0
    other = add(config, "+34600333444", "2025-03-10T08:10:00.000Z")
    result = dial(config, "--channel", "Local/{digits}@" + "x" * 1100)
    assert f"callback {other} +34600333444: skipped, Channel" in result.output
    assert os.listdir(spool(config)) == [] and rows(config)[1]["attempts"] == 0


# -- call files on disk ----------------------------------------------------------------------

def test_a_call_file_is_written_beside_the_spool_then_renamed_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    outgoing = tmp_path / "asterisk" / "outgoing"
    outgoing.mkdir(parents=True)
    renames: list[tuple[str, str]] = []
    real_rename = os.rename

    def watch(source: Any, target: Any) -> None:
        renames.append((str(source), str(target)))
        assert os.listdir(outgoing) == []  # nothing in the spool before the rename
        real_rename(source, target)

    monkeypatch.setattr(os, "rename", watch)
    path = write(outgoing, "agiflow-callback-7.call", CallFile("PJSIP/1", "ctx").text())
    [(source, target)] = renames
    assert Path(source).parent == staging_folder(outgoing) == tmp_path / "asterisk" / "tmp"
    assert target == str(path) and path.read_text().startswith("Channel: PJSIP/1\n")
    assert os.listdir(tmp_path / "asterisk" / "tmp") == []
    assert oct(path.stat().st_mode & 0o777) == "0o644"


def test_a_spool_that_cannot_be_written_is_an_error_and_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(CallFileError, match="cannot write"):
        write(tmp_path / "missing" / "outgoing", "x.call", "Channel: PJSIP/1\n")
    assert list((tmp_path / "missing" / "tmp").iterdir()) == []


def test_a_spool_folder_that_cannot_be_read_or_written_is_named_once_with_the_reason(tmp_path: Path) -> None:
    """Once `cannot read the spool folder /x: [Errno 2] No such file or
    directory: '/x'`: the folder twice, and Python's errno."""
    with pytest.raises(CallFileError) as read:
        waiting(tmp_path / "missing")
    assert str(read.value) == f"cannot read the spool folder {tmp_path / 'missing'}: No such file or directory"
    (tmp_path / "tmp").write_text("")  # a file where the staging folder must go
    (tmp_path / "outgoing").mkdir()
    with pytest.raises(CallFileError) as written:
        write(tmp_path / "outgoing", "x.call", "Channel: PJSIP/1\n")
    assert str(written.value) == f"cannot write {tmp_path / 'outgoing' / 'x.call'}: {tmp_path / 'tmp'}: File exists"


def test_the_call_file_text_refuses_line_breaks() -> None:
    with pytest.raises(CallFileError, match="line break"):
        CallFile("PJSIP/1\nContext: evil", "ctx").text()
    assert textwrap.dedent(CallFile("Local/1@x", "c", variables={"A": "b"}).text("note")).startswith("# note\n")


def test_a_call_file_that_cannot_be_written_gives_the_attempt_back(config: Path) -> None:
    """A spool that could not be written (a full disk, its tmp folder
    blocked) still counted the attempt: three such runs used up
    --max-attempts and the caller was never called back."""
    key = add(config, "+34600111222", "2025-03-10T08:00:00.000Z")
    (config.parent / "spool" / "tmp").write_text("")  # a file where the staging folder must go
    for _ in range(4):
        result = dial(config, "--max-attempts", "3", "--retry-after", "1")
        assert result.exit_code == 1, result.output
        assert "cannot write" in result.output and "attempt" not in result.output.splitlines()[0], result.output
    assert (rows(config)[0]["attempts"], rows(config)[0]["dialled_at"]) == (0, None)
    (config.parent / "spool" / "tmp").unlink()
    result = dial(config, "--max-attempts", "3")
    assert result.exit_code == 0 and f"agiflow-callback-{key}.call" in result.output, result.output
    assert rows(config)[0]["attempts"] == 1


def test_two_dialers_at_once_never_call_one_number_through_two_of_its_requests(
        config: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Two nodes run the dialer from cron at the same minute, each with its
    own spool. One of them found the number free, then the other claimed the
    number's older request, and the first claimed the newer one: the customer
    was called twice at once. A claim takes the request only while no other
    request of its number has a call under way."""
    first = add(config, "+34600111222", "2025-03-10T08:00:00.000Z", source="keypad")
    second = add(config, "+34600111222", "2025-03-10T08:30:00.000Z", source="keypad", queue="sales")
    other_spool = tmp_path / "node2" / "outgoing"
    other_spool.mkdir(parents=True)
    book_of = callbacks_cli.callback_book
    other_ran: list[Result] = []
    started: list[bool] = []

    def book_meanwhile_claimed_by_another_node(database: Database) -> Any:
        book = book_of(database)
        due = book.due

        def due_after_the_other_node(*args: Any, **kwargs: Any) -> Any:
            if not started:
                started.append(True)
                other_ran.append(CliRunner().invoke(cli, ["callbacks", "dial", "--spool", str(other_spool),
                                                          "--channel", "PJSIP/{number}@trunk", "-c", str(config)]))
            return due(*args, **kwargs)
        book.due = due_after_the_other_node  # type: ignore[method-assign]
        return book
    monkeypatch.setattr(callbacks_cli, "callback_book", book_meanwhile_claimed_by_another_node)
    result = dial(config)
    assert result.exit_code == 0 and other_ran[0].exit_code == 0, (result.output, other_ran[0].output)
    assert waiting(other_spool) == {first}
    assert waiting(spool(config)) == set(), result.output
    assert {r["id"]: r["attempts"] for r in rows(config)} == {first: 1, second: 0}
