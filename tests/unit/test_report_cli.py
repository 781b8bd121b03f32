"""``agiflow report``: formats, options and errors through the command line,
and reports read safely while the server's CDR writer writes."""
from __future__ import annotations

import csv
import io
import json
import os
import re
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from support.cdr_builder import CdrBuilder, menu
from support.table_rows import insert
from click.testing import CliRunner

from agi.storage.cdr_writer import CdrStore
from agi.vocabulary import iso
from agi.cli.main import cli
from agi.reports import KINDS, run_report
from agi.reports.model import Column, Filters


@pytest.fixture
def database(database: Path) -> Path:
    """A day of calls with long names, so that tables have to be cut to fit
    (on each backend: the conftest's ``database``)."""
    cdr = CdrBuilder(database)
    long_flow = "customer-support-spanish-premium-line"
    steps = [("welcome", "play", "next", {}), menu("main_menu_with_a_long_name", "2", timeouts=1),
             ("identify_customer_by_account_number", "input", "next", {}),
             ("support_queue", "queue", "answered", {})]
    for i in range(40):
        cdr.add(f"2025-03-10 {8 + i % 10:02d}:{i:02d}:00", caller=f"+346001112{i % 7:02d}", flow=long_flow,
                steps=steps, queue="support-premium", queue_status="ANSWERED" if i % 3 else "TIMEOUT",
                queue_wait=10.0 + i, talk_time=100.0 + i if i % 3 else None, duration=130.5 + i, vip=i % 5 == 0,
                consent="accepted", recording=f"/var/spool/asterisk/monitor/agiflow/2025/03/10/{i}.wav",
                robinson="clear" if i % 2 else "listed", robinson_list=None if i % 2 else "robinson")
    cdr.add("2025-03-10 12:00:00", caller="", flow="sales", status="caller_hangup", duration=4)
    # three campaign legs: answered, listed, outside the calling hours
    cdr.add("2025-03-10 07:00:00", flow="campaign-outbound", direction="outbound", robinson="clear",
            dial_status="ANSWER", talk_time=61.0)
    cdr.add("2025-03-10 07:01:00", flow="campaign-outbound", direction="outbound", robinson="listed")
    cdr.add("2025-03-10 07:02:00", flow="campaign-outbound", direction="outbound", robinson="clear",
            steps=[("hours", "schedule", "closed", {})])
    cdr.close()
    insert(database, "callbacks", [
        {"requested_at": f"2025-03-10T{8 + i:02d}:00:00.000Z", "number": f"+3460011122{i}", "status": status,
         "queue": "support-premium", "source": "missed", "flow": long_flow,
         "done_at": "2025-03-10T12:00:00.000Z" if status == "done" else None}
        for i, status in enumerate(("done", "pending", "cancelled"))])
    return cdr.path


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["report", *args], catch_exceptions=False)
    return result.exit_code, result.output


@pytest.mark.parametrize("kind", KINDS)
def test_every_report_prints_an_aligned_table_within_80_columns(database: Path, kind: str) -> None:
    code, out = invoke(kind, "--db", str(database), "--tz", "UTC")
    assert code == 0, out
    lines = out.splitlines()
    assert len(lines) > 4 and max(len(line) for line in lines) <= 80, out
    header, rule = lines[3], lines[4]
    assert set(rule) <= {"-", " "}
    gaps = [i for i, ch in enumerate(rule) if ch == " "]  # the column gaps are blank on every line
    for line in lines[5:]:
        assert all(i >= len(line) or line[i] == " " for i in gaps), f"misaligned:\n{header}\n{line}"


def test_table_width_follows_the_width_option(database: Path) -> None:
    code, out = invoke("calls", "--db", str(database), "--width", "0")
    assert code == 0 and max(len(line) for line in out.splitlines()) > 80
    assert "customer-support-spanish-premium-line" in out and "…" not in out
    code, out = invoke("calls", "--db", str(database))
    assert "…" in out


def headings(column: Column) -> list[str]:
    """The CSV headings of a column, as docs/reports.md gives them."""
    if column.kind == "seconds":
        return [f"{column.title} (s)", f"{column.title} (h:mm:ss)"]
    return [f"{column.title} (%)"] if column.kind == "percent" else [column.title]


@pytest.mark.parametrize("kind", KINDS)
def test_csv_parses_back_with_a_header_of_titles_and_plain_numbers(database: Path, kind: str) -> None:
    code, out = invoke(kind, "--db", str(database), "--format", "csv")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out, newline="")))
    report = run_report(database, kind, Filters(), _now())
    assert out.splitlines()[0].split(",") == [h for c in report.columns for h in headings(c)]
    assert len(rows) == len(report.all_rows())
    for row in rows:
        for column in report.columns:
            if column.kind in ("count", "seconds", "percent") and row[headings(column)[0]] != "":
                float(row[headings(column)[0]])
            if column.kind == "seconds" and row[headings(column)[1]] != "":
                assert re.fullmatch(r"\d+:\d\d:\d\d", row[headings(column)[1]])


@pytest.mark.parametrize("args", [["calls", "--limit"], ["tracking", "--limit"], ["tracking", "--min-calls"]])
def test_a_count_larger_than_any_database_holds_is_taken_as_the_largest(database: Path, args: list[str]) -> None:
    code, huge = invoke(*args, "1" + "0" * 30, "--db", str(database), "--format", "csv")
    assert code == 0, huge
    assert huge == invoke(*args, str(2**63 - 1), "--db", str(database), "--format", "csv")[1]
    assert (len(huge.splitlines()) == 1) == (args[1] == "--min-calls")
    assert CliRunner().invoke(cli, ["report", *args, "0", "--db", str(database)]).exit_code == 2


def test_csv_of_the_call_log_keeps_every_column_and_local_times_with_their_offset(database: Path) -> None:
    code, out = invoke("calls", "--db", str(database), "--format", "csv", "--tz", "Europe/Madrid", "--limit", "1")
    rows = list(csv.DictReader(io.StringIO(out, newline="")))
    assert code == 0 and len(rows) == 1
    assert rows[0]["Started"] == "2025-03-10 18:39:00+01:00"  # 17:39 UTC, the newest call
    assert rows[0]["Recording"] == "/var/spool/asterisk/monitor/agiflow/2025/03/10/39.wav"
    assert (rows[0]["VIP"], rows[0]["Wait (s)"], rows[0]["Wait (h:mm:ss)"]) == ("0", "49.0", "0:00:49")
    assert (rows[0]["Talk (s)"], rows[0]["Talk (h:mm:ss)"]) == ("", "")
    assert rows[0]["Dur (s)"] == "169.5" and rows[0]["Dur (h:mm:ss)"] == "0:02:50"
    _, out = invoke("calls", "--db", str(database), "--format", "csv", "--flow", "sales")
    rows = list(csv.DictReader(io.StringIO(out, newline="")))
    assert (rows[0]["Caller"], rows[0]["Recording"], rows[0]["Outcome"]) == ("", "", "ivr_hangup")


@pytest.mark.parametrize("kind", KINDS)
def test_json_has_a_stable_shape(database: Path, kind: str) -> None:
    code, out = invoke(kind, "--db", str(database), "--format", "json", "--since", "2025-03-10", "--tz", "UTC")
    assert code == 0
    doc = json.loads(out)
    assert list(doc) == ["report", "format_version", "title", "generated_at", "filters", "options",
                         "columns", "rows", "totals"]
    assert doc["report"] == kind and doc["format_version"] == 1
    assert doc["filters"] == {"since": "2025-03-10T00:00:00Z", "until": None, "flow": [], "flow_version": [],
                              "caller": None, "timezone": "UTC"}
    keys = [c["key"] for c in doc["columns"]]
    assert doc["rows"] and all(list(row) == keys for row in doc["rows"])
    assert doc["totals"] is None or list(doc["totals"]) == keys


def test_json_numbers_are_numbers_and_times_carry_their_offset(database: Path) -> None:
    _, out = invoke("calls", "--db", str(database), "--format", "json", "--tz", "Europe/Madrid", "--limit", "2")
    second = json.loads(out)["rows"][1]
    assert second["started"] == "2025-03-10T18:29:00+01:00"
    assert second["duration_s"] == 159.5 and second["vip"] is False and second["wait_s"] == 39.0
    _, out = invoke("inbound", "--db", str(database), "--format", "json")
    totals = json.loads(out)["totals"]
    assert (totals["offered"], totals["answered"], totals["asr_pct"]) == (40, 26, 65.0)


def test_output_file_is_written_instead_of_standard_output(database: Path, tmp_path: Path) -> None:
    target = tmp_path / "summary.html"
    code, out = invoke("summary", "--db", str(database), "--format", "html", "-o", str(target))
    assert code == 0 and out == ""
    assert target.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


@pytest.mark.parametrize("fmt", ["table", "json", "html"])
def test_the_excel_csv_dialect_without_format_csv_is_a_usage_error(database: Path, tmp_path: Path, fmt: str) -> None:
    """``--csv-dialect excel -o march.csv`` without ``--format csv`` wrote an
    aligned table into march.csv, with exit status 0."""
    target = tmp_path / "march.csv"
    code, out = invoke("calls", "--db", str(database), "--csv-dialect", "excel", "-o", str(target),
                       *(["--format", fmt] if fmt != "table" else []))
    assert code == 2, out
    assert f"Invalid value for '--csv-dialect': excel is for --format csv, not {fmt}" in out
    assert not target.exists()


def test_options_filter_and_group(database: Path) -> None:
    _, out = invoke("summary", "--db", str(database), "--by", "hour", "--tz", "UTC", "--flow", "sales",
                    "--format", "json")
    assert [(r["key"], r["calls"]) for r in json.loads(out)["rows"]] == [("12", 1)]
    _, out = invoke("calls", "--db", str(database), "--caller", "+34600111203", "--format", "json")
    assert {r["caller"] for r in json.loads(out)["rows"]} == {"+34600111203"}
    _, out = invoke("calls", "--db", str(database), "--outcome", "not_answered", "--format", "json")
    assert len(json.loads(out)["rows"]) == 14
    _, out = invoke("fcr", "--db", str(database), "--window", "2d", "--by", "outcome", "--format", "json")
    assert json.loads(out)["options"] == {"window_hours": 48.0, "by": "outcome"}
    assert '"window_hours": 48,' in out  # a whole number as docs/reports.md writes one, not 48.0
    _, out = invoke("fcr", "--db", str(database), "--window", "1.5h", "--format", "json")
    assert '"window_hours": 1.5,' in out
    _, out = invoke("inbound", "--db", str(database), "--format", "json")
    assert '"short_abandon_s": 5,' in out and '"service_level_s": 20\n' in out


def test_the_filter_line_names_every_filter_and_json_keeps_the_moment_to_the_millisecond(database: Path,
                                                                                          tmp_path: Path) -> None:
    args = ("--db", str(database), "--tz", "UTC", "--flow-version", "3F2A", "--flow-version", "a81c03e9",
            "--until", "2025-03-10T10:00:00.250")
    _, out = invoke("inbound", *args)
    assert out.splitlines()[1].startswith("first call to 2025-03-10 10:00:00.250 (UTC), flow version 3f2a, a81c03e9,")
    page = tmp_path / "page.html"
    invoke("inbound", *args, "--format", "html", "-o", str(page))
    assert "flow version 3f2a, a81c03e9" in page.read_text(encoding="utf-8")
    _, out = invoke("inbound", *args, "--format", "json")
    assert json.loads(out)["filters"]["until"] == "2025-03-10T10:00:00.250Z"


def test_a_group_the_table_shows_as_a_dash_is_null_in_json_and_empty_in_csv(database: Path) -> None:
    _, out = invoke("inbound", "--db", str(database), "--by", "queue", "--width", "0")
    assert [line.split()[0] for line in out.splitlines()[5:7]] == ["support-premium", "-"]
    _, out = invoke("inbound", "--db", str(database), "--by", "queue", "--format", "json")
    assert [row["key"] for row in json.loads(out)["rows"]] == ["support-premium", None]
    _, out = invoke("inbound", "--db", str(database), "--by", "queue", "--format", "csv")
    assert [row[0] for row in csv.reader(io.StringIO(out))][1:] == ["support-premium", ""]


@pytest.mark.parametrize("args, message", [
    (["--since", "last tuesday"], "is not a date"),
    (["--until", "2025-02-30"], "day is out of range"),
    (["--tz", "Mars/Olympus"], "unknown time zone"),
    (["--tz", "localtime"], "unknown time zone"),  # a file some machines have, not --tz local
    (["--tz", "Europe/" + "x" * 300], "unknown time zone"),  # once an OSError traceback
    (["--tz", "A/" * 3000 + "B"], "unknown time zone"),  # once a RecursionError traceback
    (["--since", ""], "is not a date"),  # an unset shell variable: once a report of all calls
    (["--until", ""], "is not a date"),
    (["--tz", ""], "unknown time zone"),
])
def test_bad_times_and_zones_exit_2_saying_why(database: Path, args: list[str], message: str) -> None:
    code, out = invoke("calls", "--db", str(database), *args)
    assert code == 2 and message in out


@pytest.mark.parametrize("window", ["soon", "0h", "inf", "nan", "1e300h", "99999999999999999999999", "367d"])
def test_bad_fcr_window_exits_2(database: Path, window: str) -> None:
    code, out = invoke("fcr", "--db", str(database), "--window", window)
    assert code == 2 and "--window" in out and "more than 0 and at most 366d" in out


def test_the_fcr_window_help_says_what_the_docs_say() -> None:
    """``--help`` said ``--window HOURS``, "a repeat call within this time of
    the previous one" (the window runs from the caller's first call, and
    90m is read too), and ``--window 0`` was answered "give a time of at
    most 366d", which 0 is."""
    code, out = invoke("fcr", "--help")
    assert code == 0 and "--window TIME" in out
    assert "after the caller's first call" in " ".join(out.split()) and "90m" in out


def test_an_fcr_window_of_366_days_is_read(database: Path) -> None:
    code, out = invoke("fcr", "--db", str(database), "--window", "366d", "--format", "json")
    assert code == 0 and json.loads(out)["options"]["window_hours"] == 366 * 24


def test_a_missing_database_exits_1_naming_it(tmp_path: Path) -> None:
    code, out = invoke("summary", "--db", str(tmp_path / "nope.db"))
    assert code == 1 and f"the database {tmp_path / 'nope.db'} does not exist" in out


@pytest.mark.sqlite_only
def test_database_comes_from_the_config_by_default(database: Path, tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(f"database: {database.name}\n", encoding="utf-8")
    code, out = invoke("summary", "-c", str(config))
    assert code == 0 and "customer-sup" in out and " 44 " in out


def _now():  # type: ignore[no-untyped-def]
    from datetime import datetime, timezone
    return datetime(2025, 3, 20, tzinfo=timezone.utc)


def test_reports_read_while_the_cdr_writer_writes_and_never_block_it(tmp_path: Path) -> None:
    store = CdrStore(tmp_path / "live.db", batch_size=50, retry_delay=0.05)
    store.open()
    store.start()
    stop = threading.Event()

    def write() -> None:
        n = 0
        while not stop.is_set() and n < 4000:
            key = f"call{n}"
            store.call_started({"id": key, "call_id": f"1.{n}", "flow": "support", "caller": f"6{n % 50}",
                                "started_at": iso(1741597200 + n), "status": "in_progress"})
            store.step_finished(key, {"seq": 1, "flow": "support", "step": "menu", "type": "menu",
                                      "outcome": "1", "details": '{"timeouts": 1, "invalid": 0}'})
            store.call_ended(key, {"status": "completed", "duration": 3.0, "queue": "support",
                                   "queue_status": "ANSWERED", "queue_wait": 2.0, "talk_time": 1.0})
            n += 1
            if n % 100 == 0:
                time.sleep(0.02)

    writer = threading.Thread(target=write)
    writer.start()
    seen: list[int] = []
    try:
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:
            for kind in KINDS:
                report = run_report(store.path, kind, Filters(), _now(), charts=True)
                if kind == "summary":
                    assert report.totals is not None
                    seen.append(int(report.totals["calls"]))
                    # one snapshot: the hourly chart counts the same calls as the table
                    hourly = next(c for c in report.charts if c.title == "Calls per hour of the day")
                    assert sum(hourly.values) == report.totals["calls"]
    finally:
        stop.set()
        writer.join()
        assert store.close()
    assert store.failures == 0, "a report blocked the writer"
    assert seen == sorted(seen) and seen[-1] > seen[0]
    final = run_report(store.path, "summary", Filters(), _now())
    assert final.totals is not None and final.totals["calls"] == store.written // 3


def test_an_open_report_snapshot_neither_blocks_the_writer_nor_sees_half_written_calls(tmp_path: Path) -> None:
    from agi.reports.db import CdrReader
    store = CdrStore(tmp_path / "live.db", retry_delay=0.05)
    store.open()
    store.start()
    store.call_started({"id": "a", "call_id": "1.1", "flow": "support", "caller": "6",
                        "started_at": iso(1741597200), "status": "in_progress"})
    while store.written < 1:
        time.sleep(0.01)
    with CdrReader(store.path) as reader, reader.snapshot():
        store.call_ended("a", {"status": "completed", "duration": 3.0})
        store.call_started({"id": "b", "call_id": "1.2", "flow": "support", "caller": "7",
                            "started_at": iso(1741597300), "status": "in_progress"})
        deadline = time.monotonic() + 5
        while store.written < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert store.written == 3 and store.failures == 0  # committed while the report reads
        assert [tuple(r) for r in reader.rows("SELECT id, status FROM calls")] == [("a", "in_progress")]
        with pytest.raises(Exception, match="readonly|read-only|query_only"):
            reader.conn.execute("DELETE FROM calls")
    assert store.close()


def test_a_postgresql_server_that_does_not_answer_is_one_line() -> None:
    result = CliRunner().invoke(cli, ["report", "summary", "--db", "postgresql://postgres@127.0.0.1:1/none"])
    assert result.exit_code == 1
    assert result.output.startswith("error: cannot use the database postgresql://postgres@127.0.0.1:1/none: ")
    assert len(result.output.strip().splitlines()) == 1


#: Every report and grouping whose values are days, hours or outcomes, and the
#: values the table must show whole (docs/reports.md#formats: times, outcomes
#: and statuses are never cut).
WHOLE_KEYS = [
    (["summary", "--by", "day"], "2025-03-10"), (["inbound", "--by", "day"], "2025-03-10"),
    (["summary", "--by", "outcome"], "not_answered"), (["summary", "--by", "outcome"], "self_service"),
    (["summary", "--by", "status"], "caller_hangup"),
    (["consolidated", "--by", "day", "--by", "queue"], "2025-03-10"),
    (["consolidated", "--by", "outcome", "--by", "day"], "not_answered"),
    (["fcr", "--by", "day"], "2025-03-10"), (["fcr", "--by", "outcome"], "not_answered"),
    (["callbacks", "--by", "day"], "2025-03-10"), (["campaign", "--by", "day"], "2025-03-10"),
]


@pytest.mark.parametrize(("args", "value"), WHOLE_KEYS)
def test_days_and_outcomes_are_never_cut_to_fit_the_table(tmp_path: Path, args: list[str], value: str) -> None:
    cdr = CdrBuilder(tmp_path / "wide.db")
    # a day of long calls: its totals (hundreds of hours) leave little room for the key
    for i in range(40):
        cdr.add(f"2025-03-10 {8 + i % 10:02d}:{i:02d}:00", caller=f"+3460011{i:04d}", duration=86000.5,
                queue="support", queue_status="ANSWERED" if i % 2 else "TIMEOUT", queue_wait=3601.5,
                talk_time=86000.5 if i % 2 else None)
    cdr.add("2025-03-10 12:00:00", flow="campaign", direction="outbound", dial_status="ANSWER", talk_time=86000.5)
    cdr.add("2025-03-10 12:30:00", status="completed", duration=4)  # self_service
    cdr.add("2025-03-10 12:40:00", status="caller_hangup", duration=4)
    cdr.close()
    insert(tmp_path / "wide.db", "callbacks", [
        {"requested_at": "2025-03-10T08:00:00.000Z", "number": "+34600111222", "status": "done",
         "queue": "support", "source": "missed", "flow": "support", "done_at": "2025-03-11T09:00:00.000Z",
         "attempts": 123456789}])
    code, out = invoke(*args, "--db", str(tmp_path / "wide.db"), "--tz", "UTC")
    assert code == 0, out
    assert value in out, out  # a queue or a flow name may be cut instead, or the table be wider


def test_the_filter_line_tells_the_two_times_the_clocks_show_twice_apart(database: Path) -> None:
    """The night the clocks go back, 02:30 happens twice: the table's and the
    page's filter line give such a moment its UTC offset, so a range from the
    first 02:30 to the second does not read as an empty one."""
    args = ["--db", str(database), "--tz", "Europe/Madrid", "--since", "2025-10-26T02:30+02:00",
            "--until", "2025-10-26T02:30+01:00"]
    code, out = invoke("summary", *args)
    assert code == 0, out
    assert out.splitlines()[1].startswith("2025-10-26 02:30+02 to 2025-10-26 02:30+01 (Europe/Madrid)")
    code, out = invoke("summary", *args, "--format", "html")
    assert code == 0 and "2025-10-26 02:30+02 to 2025-10-26 02:30+01 (Europe/Madrid)" in out
    code, out = invoke("summary", "--db", str(database), "--tz", "Europe/Madrid", "--since", "2025-10-26T01:30",
                       "--until", "2025-10-26T03:30")
    assert out.splitlines()[1].startswith("2025-10-26 01:30 to 2025-10-26 03:30 (Europe/Madrid)")  # no offsets


def test_the_call_log_tells_the_two_times_the_clocks_show_twice_apart(tmp_path: Path) -> None:
    """Two calls at 02:30 the night the clocks go back in Madrid, an hour
    apart: the table and the page give each its UTC offset, as the filter
    line does; a time the clocks show once keeps none."""
    cdr = CdrBuilder(tmp_path / "fold.db")
    for start in ("2025-10-26 00:30:00", "2025-10-26 01:30:00", "2025-10-26 03:30:00"):
        cdr.add(start, caller="+34600111222")
    cdr.close()
    args = ("--db", str(tmp_path / "fold.db"), "--tz", "Europe/Madrid", "--since", "2025-10-26", "--until",
            "2025-10-26")
    for kind in ("calls", "tracking"):
        code, out = invoke(kind, *args, "--format", "html")
        assert code == 0, out
        if kind == "calls":
            assert "2025-10-26 02:30+02" in out and "2025-10-26 02:30+01" in out and "04:30+" not in out
    code, out = invoke("calls", *args, "--width", "0")
    assert code == 0, out
    assert ["02:30+01" in out, "02:30+02" in out, "2025-10-26 04:30 " in out] == [True, True, True]
    code, out = invoke("tracking", *args, "--width", "0")
    assert "2025-10-26 04:30" in out  # the last call, shown once


def test_the_filter_line_gives_seconds_when_a_bound_has_them(database: Path) -> None:
    """A range of half a minute does not read as an empty one from 09:30 to 09:30."""
    code, out = invoke("summary", "--db", str(database), "--tz", "UTC", "--since", "2025-03-10T09:30:15",
                       "--until", "2025-03-10T09:30:45.250")
    assert code == 0, out
    assert out.splitlines()[1].startswith("2025-03-10 09:30:15 to 2025-03-10 09:30:45.250 (UTC)"), out
    code, out = invoke("summary", "--db", str(database), "--tz", "Europe/Madrid", "--since",
                       "2025-10-26T02:30:10+01:00", "--until", "2025-10-26T03:00")
    assert out.splitlines()[1].startswith("2025-10-26 02:30:10+01 to 2025-10-26 03:00 (Europe/Madrid)"), out


@pytest.mark.parametrize("kind", ["summary", "calls"])
def test_a_report_whose_connection_the_server_ends_is_one_line(postgres_url: Any, kind: str,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """A PostgreSQL restart or pg_terminate_backend while a report reads: the
    aggregate reports (agiflow's libpq client) printed a traceback, the
    COMMIT that ends their snapshot failing in place of the error that said
    what happened."""
    import contextlib

    from agi.db import postgres as pg
    from agi.reports import db as report_db
    CdrBuilder(postgres_url).close()
    rows = report_db.CdrReader.rows

    def ended_meanwhile(reader: Any, sql: str, params: Any = None) -> Any:
        with contextlib.closing(pg.connect(postgres_url)) as admin:
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() "
                          "AND pid <> pg_backend_pid() AND application_name = 'agiflow report'")
        return rows(reader, sql, params)
    monkeypatch.setattr(report_db.CdrReader, "rows", ended_meanwhile)
    monkeypatch.setattr(report_db.CdrReader, "stream", lambda reader, sql, params=None: iter(
        ended_meanwhile(reader, sql, params)))
    result = CliRunner().invoke(cli, ["report", kind, "--db", postgres_url.url, "--since", "2025-03-01",
                                      "--until", "2025-04-01", "--no-rollups"])
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith(f"error: cannot read the CDR database {postgres_url}: ") \
        and result.stderr.count("\n") == 1, result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_an_output_file_that_is_a_link_is_written_through_the_link(database: Path, tmp_path: Path) -> None:
    """``-o latest.csv``, a link to this month's file: the report took the
    link's place as a file of its own; the file it led to stayed as it was."""
    (tmp_path / "reports").mkdir()
    month = tmp_path / "reports" / "2025-03.json"
    month.write_text("old\n", encoding="utf-8")
    latest = tmp_path / "latest.json"
    latest.symlink_to(Path("reports") / "2025-03.json")
    code, out = invoke("summary", "--db", str(database), "--format", "json", "-o", str(latest))
    assert code == 0 and out == ""
    assert latest.is_symlink() and os.readlink(latest) == str(Path("reports") / "2025-03.json")
    assert json.loads(month.read_text(encoding="utf-8"))["totals"]["offered"] == 40
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    assert [p.name for p in month.parent.iterdir()] == ["2025-03.json"]


def test_an_output_file_of_dev_stdout_writes_to_a_standard_output_redirected_to_a_file(
        database: Path, tmp_path: Path) -> None:
    """``-o /dev/stdout > out.json``: standard output is then a file, and
    the report was written to a new file beside the path given, which then
    took its place: as root, /dev/stdout itself became a regular file, and
    out.json stayed empty; under /dev/fd or /proc/self/fd the new file
    could not be made (`No such file or directory`). /dev/fd/1, which names
    the same file, keeps this test from changing /dev/stdout."""
    out = tmp_path / "out.json"
    with out.open("wb") as stdout:
        done = subprocess.run([sys.executable, "-m", "agi.cli", "report", "summary", "--db", str(database),
                               "--format", "json", "-o", "/dev/fd/1"],
                              stdout=stdout, stderr=subprocess.PIPE, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(out.read_text(encoding="utf-8"))["totals"]["offered"] == 40


def test_an_output_file_keeps_its_permissions_when_replaced(database: Path, tmp_path: Path) -> None:
    """A report of callers' numbers kept private (mode 0600, or 0640 for a
    group) became readable by every user of the machine the next time it
    was written: the file that replaced it took the mode of a new file."""
    for mode in (0o600, 0o640):
        target = tmp_path / f"calls-{mode:o}.csv"
        target.write_text("old\n", encoding="utf-8")
        target.chmod(mode)
        code, out = invoke("calls", "--db", str(database), "--format", "csv", "-o", str(target))
        assert code == 0 and out == ""
        assert target.read_text(encoding="utf-8") != "old\n"
        assert stat.S_IMODE(target.stat().st_mode) == mode


def test_a_negative_duration_is_written_with_its_sign_in_every_format(tmp_path: Path) -> None:
    """A call whose clock was set back while it ran (a duration of -5 s, a
    wait of -65.2 s): every h:mm:ss once read -5 s as -1:59:55 (nearly two
    hours) and -65 s as -1:58:55."""
    cdr = CdrBuilder(tmp_path / "skew.db")
    cdr.add("2025-03-10 09:00:00", duration=-5.0, queue="support", queue_status="ANSWERED", queue_wait=-65.2,
            talk_time=3725.0)
    cdr.close()
    common = ("--db", str(tmp_path / "skew.db"), "--tz", "UTC", "--width", "0")
    code, out = invoke("calls", *common)
    assert code == 0 and re.search(r"\s-1:05\s+-0:05$", out.splitlines()[-1]), out
    code, out = invoke("calls", *common, "--format", "csv")
    row = next(csv.DictReader(io.StringIO(out, newline="")))
    assert (row["Wait (s)"], row["Wait (h:mm:ss)"], row["Dur (s)"], row["Dur (h:mm:ss)"], row["Talk (h:mm:ss)"]) == \
        ("-65.2", "-0:01:05", "-5.0", "-0:00:05", "1:02:05")
    code, page = invoke("calls", *common, "--format", "html")
    assert "<td class=\"num\">-0:01:05</td>" in page and "<td class=\"num\">-0:00:05</td>" in page, page
