"""``agiflow callbacks``: what the person who calls customers back sees,
on a real SQLite file written by the CDR writer, including while the
writer keeps writing."""
from __future__ import annotations

import csv
import io
import json
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from agi.lists.csvio import ReadReport, read_entries
from agi.lists.numbers import Normaliser
from agi.storage.callbacks import CALLBACK_COLUMNS, StoredCallbackRequests
from agi.storage.cdr_writer import CdrStore
from agi.storage.stores import list_admin
from agi.vocabulary import iso
from agi.cli.main import cli
from agi.config import load_config
from agi.db.location import PostgresUrl

NOW = datetime.now(timezone.utc)


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database: Any) -> Path:
    """A config naming a SQLite file in var/, or a PostgreSQL database (the ``database`` fixture)."""
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "config.yaml"
    path.write_text(f"database: {database.url if isinstance(database, PostgresUrl) else 'var/agiflow.db'}\n",
                    encoding="utf-8")
    return path


def database(config: Path) -> Any:
    return load_config(config).database


def request(n: int, age: timedelta, number: str = "+34600111222") -> dict[str, Any]:
    return {"requested_at": iso((NOW - age).timestamp()), "call_id": f"1741595400.{n}", "flow": "support",
            "caller": number.replace("+34", ""), "number": number, "raw_number": number.replace("+34", ""),
            "queue": "support", "reason": "queue timeout"}


def store_requests(config: Path, *rows: dict[str, Any], robinson: str = "") -> None:
    """``rows`` stored, beside a robinson list holding ``robinson``'s numbers (a line each)."""
    store = CdrStore(database(config))
    store.open()
    store.start()
    for row in rows:
        StoredCallbackRequests(store).request(row)
    assert store.close()
    with list_admin(database(config)) as admin:
        admin.create("robinson")
        if robinson:
            admin.import_entries("robinson", read_entries(io.StringIO(robinson), Normaliser("ES"), ReadReport()))


def agiflow(config: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["callbacks", *args, "-c", str(config)])


def test_list_shows_pending_requests_oldest_first_in_an_aligned_table(config: Path) -> None:
    store_requests(config, request(1, timedelta(hours=1), "+34600111222"),
                   request(2, timedelta(hours=3), "+34911222333"))

    result = agiflow(config, "list")

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["id", "requested_at", "number", "caller", "queue", "reason", "flow", "status",
                                "done_at", "note"]
    assert [line.split()[0] for line in lines[1:]] == ["2", "1"]
    assert "+34911222333  911222333" in lines[1]
    assert lines[1].index("+34911222333") == lines[0].index("number")


def test_done_marks_a_request_so_it_leaves_the_pending_list_and_keeps_the_note(config: Path) -> None:
    store_requests(config, request(1, timedelta(hours=1)), request(2, timedelta(hours=2)))

    done = agiflow(config, "done", "1", "--note", "called back, ticket 4411")

    assert done.exit_code == 0, done.output
    assert done.stdout == "callback request 1 (+34600111222) is done\n"
    assert [line.split()[0] for line in agiflow(config, "list").stdout.splitlines()[1:]] == ["2"]
    listed = agiflow(config, "list", "--status", "done").stdout
    assert "called back, ticket 4411" in listed and "done" in listed


def test_a_request_cannot_be_closed_twice_or_when_it_does_not_exist(config: Path) -> None:
    store_requests(config, request(1, timedelta(hours=1)))
    assert agiflow(config, "cancel", "1", "--note", "customer called again").exit_code == 0

    again = agiflow(config, "done", "1")
    missing = agiflow(config, "done", "7")

    assert again.exit_code == 1 and "callback request 1 is already cancelled" in again.stderr
    assert missing.exit_code == 1 and "no callback request 7" in missing.stderr


@pytest.mark.parametrize("command", ["done", "cancel"])
@pytest.mark.parametrize("request_id", [str(2**63), "1" + "0" * 30, "0"])
def test_an_id_no_database_can_hold_is_a_usage_error_not_a_traceback(config: Path, command: str,
                                                                      request_id: str) -> None:
    store_requests(config, request(1, timedelta(hours=1)))
    result = agiflow(config, command, request_id)
    assert result.exit_code == 2, result.output
    assert f"{request_id} is not in the range 1<=x<=9223372036854775807" in result.stderr
    assert agiflow(config, command, str(2**63 - 1)).stderr == f"error: no callback request {2**63 - 1}\n"


def test_since_keeps_only_recent_requests_and_all_shows_every_status(config: Path) -> None:
    store_requests(config, request(1, timedelta(days=3)), request(2, timedelta(hours=2)))
    agiflow(config, "done", "2")

    recent = agiflow(config, "list", "--since", "1d", "--status", "all")
    assert [line.split()[0] for line in recent.stdout.splitlines()[1:]] == ["2"]
    assert "no pending callback requests" in agiflow(config, "list", "--since", "1d").stdout
    assert agiflow(config, "list", "--since", "last tuesday").exit_code == 2


def test_export_writes_every_column_as_csv_for_the_dialer(config: Path) -> None:
    store_requests(config, request(1, timedelta(hours=1)), request(2, timedelta(minutes=5), "+34911222333"))

    result = agiflow(config, "export")

    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert list(rows[0]) == [column for column in CALLBACK_COLUMNS if column != "request_key"]
    assert [(r["id"], r["number"], r["status"]) for r in rows] == [("1", "+34600111222", "pending"),
                                                                  ("2", "+34911222333", "pending")]


def test_export_as_json_to_a_file(config: Path) -> None:
    store_requests(config, request(1, timedelta(hours=1)))
    out = config.parent / "out" / "callbacks.json"
    out.parent.mkdir()

    result = agiflow(config, "export", "--format", "json", "-o", str(out), "--status", "all")

    assert result.exit_code == 0 and "1 callback request written" in result.stderr
    [row] = json.loads(out.read_text(encoding="utf-8"))
    assert row["number"] == "+34600111222" and row["done_at"] is None and row["id"] == 1


def test_export_as_csv_has_the_columns_of_the_json_export_and_no_internal_key(config: Path) -> None:
    """The table's internal request key is never shown: the JSON export left
    it out, while the CSV header named it over an empty column."""
    store_requests(config, request(1, timedelta(hours=1)))

    header = next(csv.reader(io.StringIO(agiflow(config, "export").stdout)))
    [row] = json.loads(agiflow(config, "export", "--format", "json").stdout)

    assert "request_key" not in header
    assert sorted(header) == sorted(row)


def test_export_leaves_out_a_pending_request_whose_number_a_dnc_list_holds_now(config: Path) -> None:
    """A dialer reads the export: a caller who asked for a call back and
    then joined the Robinson list was exported, and called."""
    store_requests(config, request(1, timedelta(hours=2), "+34600111222"), request(2, timedelta(hours=1), "+34911222333"),
                   robinson="600111222\n")

    result = agiflow(config, "export")

    assert result.exit_code == 0, result.output
    assert [r["number"] for r in csv.DictReader(io.StringIO(result.stdout))] == ["+34911222333"]
    assert "callback 1 +34600111222: left out, in do-not-call list robinson (+34600111222)" in result.stderr
    everything = agiflow(config, "export", "--no-dnc")
    assert [r["number"] for r in csv.DictReader(io.StringIO(everything.stdout))] == ["+34600111222", "+34911222333"]


def test_a_request_no_longer_pending_is_exported_as_it_is_whatever_the_lists_hold(config: Path) -> None:
    store_requests(config, request(1, timedelta(hours=2)), robinson="600111222\n")
    assert agiflow(config, "done", "1").exit_code == 0

    result = agiflow(config, "export", "--status", "done", "--format", "json")

    assert result.exit_code == 0 and [row["id"] for row in json.loads(result.stdout)] == [1]


def test_an_export_whose_dnc_list_cannot_be_read_writes_nothing_and_exits_1(config: Path) -> None:
    store_requests(config, request(1, timedelta(hours=1)))
    last = config.parent / "callbacks.csv"
    last.write_text("id,number\n7,+34911222333\n", encoding="utf-8")

    to_file = agiflow(config, "export", "--dnc", "robinson", "--dnc", "nope", "-o", str(last))
    to_stdout = agiflow(config, "export", "--dnc", "nope")

    assert to_file.exit_code == 1 and "do-not-call list nope cannot be read" in to_file.stderr
    assert "nothing exported" in to_file.stderr and "Traceback" not in to_file.output
    assert last.read_text(encoding="utf-8") == "id,number\n7,+34911222333\n"
    assert to_stdout.exit_code == 1 and to_stdout.stdout == ""


@pytest.mark.sqlite_only
def test_an_export_onto_a_full_disk_leaves_the_last_export_as_it_was(config: Path, tiny_disk: Path) -> None:
    """The file was opened for writing at once: a write that failed (a full
    disk) left it empty, and the dialer that reads it found no request."""
    from support.tinydisk import fill
    store_requests(config, *(request(n, timedelta(minutes=n)) for n in range(1, 200)))
    last = tiny_disk / "callbacks.csv"
    last.write_text("id,number\n7,+34600111222\n", encoding="utf-8")
    fill(tiny_disk)
    result = agiflow(config, "export", "-o", str(last))
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    assert last.read_text(encoding="utf-8") == "id,number\n7,+34600111222\n"


@pytest.mark.sqlite_only
def test_without_a_database_the_commands_say_where_they_looked(config: Path) -> None:
    result = agiflow(config, "list")
    assert result.exit_code == 1
    assert result.stderr == f"error: the database {database(config)} does not exist\n"


def test_listing_and_closing_while_the_writer_keeps_writing_never_fails(config: Path) -> None:
    store = CdrStore(database(config))
    store.open()
    store.start()
    requests = StoredCallbackRequests(store)
    stop = threading.Event()

    def keep_writing() -> None:
        for n in range(2000):  # about 2,000 calls a second, for a second
            if stop.is_set():
                return
            requests.request(request(n, timedelta(seconds=n)))
            if n % 20 == 0:
                stop.wait(0.01)

    writer = threading.Thread(target=keep_writing)
    writer.start()
    try:
        counts: list[int] = []
        deadline = time.monotonic() + 10
        while len(counts) < 10 or counts[-1] == 0:  # until the writer has written some
            assert time.monotonic() < deadline, f"no request written in 10 s: {counts}"
            listed = agiflow(config, "list")
            assert listed.exit_code == 0, listed.output
            counts.append(len(listed.stdout.splitlines()) - 1)
        closed = agiflow(config, "done", "1")
        assert closed.exit_code == 0, closed.output
    finally:
        stop.set()
        writer.join()
        assert store.close()
    assert counts == sorted(counts) and counts[-1] > 0


def test_closing_a_request_waits_at_most_5_seconds_for_a_lock_then_fails(config: Path) -> None:
    """callbacks.md: an update waits its turn for up to 5 seconds. On
    PostgreSQL a lock held elsewhere (a long transaction, a migration) held
    done and cancel for 30 s, the statement timeout."""
    from support import table_rows
    store_requests(config, request(1, timedelta(hours=1)))
    with table_rows.write_locked(database(config), "callbacks"):
        started = time.monotonic()
        result = agiflow(config, "done", "1")
        waited = time.monotonic() - started
    assert result.exit_code == 1 and "error: " in result.stderr, result.output
    assert 4 < waited < 10
    assert agiflow(config, "done", "1").exit_code == 0

