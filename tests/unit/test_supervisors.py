"""Supervisors' PINs, on both backends: stored only as salted scrypt hashes,
wrong PINs counted and locking a number, every check and action audited,
never a PIN in the database, the audit log or a log line; ``agiflow
supervisors`` manages them."""
from __future__ import annotations

import logging
import sqlite3
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from agi.cli import supervisors as supervisors_cli
from agi.cli.main import cli
from agi.config import load_config
from agi.db.location import Database, PostgresUrl
from agi.services import (PIN_LOCKED, PIN_NONE, PIN_OK, PIN_WRONG, SUPERVISOR_LOCK_WAIT, SUPERVISOR_WAIT, Override,
                          SupervisorsUnavailable)
from agi.steps.supervisor_auth import CHECK_TIMEOUT
from agi.services_from_config import live_services
from agi.stdio.transport import DebugStream
from agi.storage.migrations import upgrade
from agi.storage.overrides import SqliteOverrides, writable_overrides
from agi.storage.supervisors import (LOCK_SECONDS, MAX_FAILURES, PostgresSupervisors, SqliteSupervisors, hash_pin,
                                     pin_matches, pin_problem, server_supervisors, supervisors_store)
from support import table_rows
from support.held_lock import hold_lock

NOW = datetime(2025, 3, 10, 20, 0, tzinfo=timezone.utc)
NUMBER = "+34600111222"


@pytest.fixture
def store(database: Database) -> SqliteSupervisors:
    """The PINs of the ``database`` fixture's database (either backend), NUMBER's PIN 4321."""
    upgrade(database)
    supervisors = supervisors_store(database)
    supervisors.set_pin(NUMBER, "4321", NOW, "ana")
    return supervisors


def everything_stored(database: Database) -> str:
    """Every value of the PIN tables, the PIN hashes written as ``scrypt$...``
    (their random salt and digest may hold any four digits)."""
    values = [value for table in ("supervisor_pins", "supervisor_audit")
              for row in table_rows.select(database, f"SELECT * FROM {table}") for value in row.values()]
    hashes = [value for value in values if isinstance(value, str) and value.startswith("scrypt$")]
    assert hashes, "no PIN hash stored"
    return repr(["scrypt$..." if value in hashes else value for value in values])


def test_a_pin_is_stored_as_a_salted_scrypt_hash_and_never_as_itself(store: SqliteSupervisors,
                                                                      database: Database) -> None:
    store.check_pin(NUMBER, "4321", NOW, "1.1")
    store.check_pin(NUMBER, "9999", NOW, "1.2")
    stored = everything_stored(database)
    assert "4321" not in stored and "9999" not in stored
    first, second = hash_pin("4321"), hash_pin("4321")
    assert first != second and first.startswith("scrypt$16384$8$1$")  # a salt of its own each time
    assert pin_matches("4321", first) and not pin_matches("4320", first) and not pin_matches("4321", "md5$x")


def test_the_right_pin_is_ok_and_a_wrong_one_is_counted(store: SqliteSupervisors) -> None:
    assert store.check_pin(NUMBER, "1111", NOW, "1.1").result == PIN_WRONG
    assert store.check_pin(NUMBER, "2222", NOW, "1.2").failures == 2
    assert store.check_pin(NUMBER, "4321", NOW, "1.3").result == PIN_OK
    assert store.check_pin(NUMBER, "1111", NOW, "1.4").failures == 1  # a right PIN starts the count again


def test_too_many_wrong_pins_lock_the_number_even_for_the_right_pin(store: SqliteSupervisors) -> None:
    for attempt in range(MAX_FAILURES):
        check = store.check_pin(NUMBER, "0000", NOW + timedelta(seconds=attempt), f"1.{attempt}")
    assert check.locked_until == NOW + timedelta(seconds=MAX_FAILURES - 1 + LOCK_SECONDS)
    assert store.check_pin(NUMBER, "4321", NOW + timedelta(minutes=5), "2.1").result == PIN_LOCKED
    later = NOW + timedelta(seconds=LOCK_SECONDS + 60)
    assert store.check_pin(NUMBER, "4321", later, "3.1").result == PIN_OK


def test_pin_checks_leave_when_the_pin_was_set_as_it_was(store: SqliteSupervisors) -> None:
    """``agiflow supervisors list`` says when the PIN was set: every wrong
    or right PIN check once moved that time to the check's."""
    later = NOW + timedelta(hours=3)
    store.check_pin(NUMBER, "0000", later, "1.1")
    store.check_pin(NUMBER, "4321", later + timedelta(seconds=1), "1.2")
    for _ in range(MAX_FAILURES):
        store.check_pin(NUMBER, "0000", later + timedelta(seconds=2), "1.3")
    [row] = store.pins()
    assert row["updated_at"] == "2025-03-10T20:00:00.000Z" and row["failures"] == MAX_FAILURES


def test_a_number_without_a_pin_is_never_let_in(store: SqliteSupervisors) -> None:
    assert store.check_pin("+34600999999", "4321", NOW, "1.1").result == PIN_NONE


def test_every_check_and_change_is_audited(store: SqliteSupervisors) -> None:
    store.check_pin(NUMBER, "0000", NOW, "1.1")
    store.check_pin(NUMBER, "4321", NOW, "1.1")
    store.audit(NUMBER, "override", "ok", NOW, "1.1", "office_hours: closed")
    store.remove(NUMBER, NOW, "ana")
    log = [(r["action"], r["result"], r["call_id"], r["detail"]) for r in store.audit_log()]
    assert log == [("set_pin", "ok", None, "by ana"), ("pin", "wrong", "1.1", ""), ("pin", "ok", "1.1", ""),
                   ("override", "ok", "1.1", "office_hours: closed"), ("remove_pin", "ok", None, "by ana")]


def test_wrong_pins_keyed_at_once_on_several_nodes_are_all_counted(store: SqliteSupervisors,
                                                                    database: Database) -> None:
    results: list[Any] = []

    def check(n: int) -> None:
        node = supervisors_store(database)  # a node of its own: its own connection
        results.append(node.check_pin(NUMBER, "0000", NOW, f"1.{n}").failures)
        node.close()

    threads = [threading.Thread(target=check, args=(n,)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [1, 2, 3]
    assert store.pins()[0]["failures"] == 3


def hold_pin_row(database: Database, seconds: float) -> threading.Thread:
    return hold_lock(database, seconds, f"SELECT * FROM supervisor_pins WHERE number = '{NUMBER}' FOR UPDATE")


def test_a_database_locked_for_a_second_and_a_half_still_lets_the_supervisor_in(store: SqliteSupervisors,
                                                                                 database: Database) -> None:
    """A check waits for the lock almost as long as the step waits for the
    check (3 seconds): a database another node holds for 1.5 s is no refusal."""
    server = server_supervisors(database)
    holder = hold_pin_row(database, 1.5)
    started = time.monotonic()
    try:
        assert server.check_pin(NUMBER, "4321", NOW, "1.1").result == PIN_OK
    finally:
        holder.join()
        server.close()
    assert 1.0 < time.monotonic() - started < CHECK_TIMEOUT


def test_the_server_stops_waiting_for_a_lock_before_the_step_stops_waiting(database: Database) -> None:
    """The lock wait and, on PostgreSQL, the statement timeout fit in the
    step's 3 seconds, leaving time for scrypt and the writes; a command
    (``agiflow supervisors``) may wait longer."""
    server = server_supervisors(database)
    if isinstance(server, PostgresSupervisors):
        assert server.lock_timeout_ms is not None
        assert 2000 <= server.lock_timeout_ms < server.statement_timeout_ms <= CHECK_TIMEOUT * 1000
    else:
        assert 2.0 <= server.busy_timeout < CHECK_TIMEOUT
    assert SUPERVISOR_LOCK_WAIT < CHECK_TIMEOUT == SUPERVISOR_WAIT


def test_an_override_set_from_a_phone_waits_for_a_database_locked_for_a_second_and_a_half(
        store: SqliteSupervisors, database: Database, tmp_path: Path) -> None:
    """The server's store for the ``override`` step's change waits for a
    lock as long as a PIN check does, within the step's 3 seconds (once a
    quarter of a second on SQLite, the schedule step's read wait, and 1 s
    on PostgreSQL: the change failed with 'database is locked')."""
    path = tmp_path / "server.yaml"
    path.write_text(f"database: {database.url if isinstance(database, PostgresUrl) else database}\n",
                    encoding="utf-8")
    changes = live_services(load_config(path)).override_changes
    assert changes is not None
    until = NOW + timedelta(hours=3)
    changes.set(Override("office_hours", "open", until, "by phone"), NOW)
    holder = hold_lock(database, 1.5, "SELECT * FROM schedule_overrides FOR UPDATE")
    started = time.monotonic()
    try:
        changes.set(Override("office_hours", "closed", until, "by phone", set_by=NUMBER, set_how="phone"), NOW)
    finally:
        holder.join()
    assert 1.0 < time.monotonic() - started < CHECK_TIMEOUT
    assert [o.state for o in writable_overrides(database).all_active(NOW)] == ["closed"]


def test_a_store_without_a_database_is_unavailable(tmp_path: Path) -> None:
    with pytest.raises(SupervisorsUnavailable, match="no database"):
        SqliteSupervisors(tmp_path / "none.db").check_pin(NUMBER, "1234", NOW, "1.1")


@pytest.mark.parametrize("pin", ["123", "1234567890123", "12a4", "", "١٢٣٤"])
def test_a_pin_is_four_to_twelve_digits(pin: str) -> None:
    assert pin_problem(pin) is not None
    assert pin_problem("1234") is None and pin_problem("123456789012") is None


def test_plain_agi_mode_never_logs_keyed_digits(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    stream = DebugStream(logging.getLogger("agiflow.agi"))
    stream.write('    COMMAND: GET DATA "agiflow/enter-pin" "6000" "12"\n')
    stream.write("    RESULT_LINE: 200 result=4321\n")
    stream.write("    RESULT_DICT: {'result': ('4321', '')}\n")
    stream.write('    COMMAND: STREAM FILE "agiflow/now-open" ""\n')
    stream.write("    RESULT_LINE: 200 result=0 endpos=8000\n")
    assert "4321" not in caplog.text
    assert "RESULT_LINE: (keys not logged)" in caplog.text and "result=0 endpos=8000" in caplog.text


# -- overrides say who set them, how and when -----------------------------------------------

def test_an_override_keeps_who_set_it_how_and_when(database: Database) -> None:
    upgrade(database)
    overrides = writable_overrides(database)
    overrides.set(Override("office_hours", "open", NOW + timedelta(hours=2), "", None, NUMBER, "phone"), NOW)
    stored = overrides.active("office_hours", NOW + timedelta(minutes=1))
    assert stored is not None and (stored.set_by, stored.set_how, stored.set_at) == (NUMBER, "phone", NOW)


def test_an_older_overrides_table_gets_the_new_columns_and_is_read_before_it(tmp_path: Path) -> None:
    path = tmp_path / "cdr.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE schedule_overrides (schedule TEXT PRIMARY KEY, state TEXT NOT NULL, "
                     "until REAL NOT NULL, reason TEXT NOT NULL DEFAULT '', set_at REAL NOT NULL, start REAL)")
        conn.execute("INSERT INTO schedule_overrides VALUES ('office_hours', 'closed', ?, 'old', ?, ?)",
                     ((NOW + timedelta(hours=1)).timestamp(), NOW.timestamp(), NOW.timestamp()))
    old = SqliteOverrides(path, readonly=True).active("office_hours", NOW)
    assert old is not None and (old.set_by, old.set_how) == ("", "")
    SqliteOverrides(path).ensure_schema()
    assert SqliteOverrides(path).active("office_hours", NOW).reason == "old"  # type: ignore[union-attr]


# -- agiflow supervisors ----------------------------------------------------------------------

@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database: Database) -> Path:
    """A config naming a SQLite file in var/, or a PostgreSQL database (the ``database`` fixture)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(supervisors_cli, "now", lambda: NOW)
    monkeypatch.setattr(supervisors_cli, "_user", lambda: "ana")
    path = tmp_path / "config.yaml"
    path.write_text(f"database: {database.url if isinstance(database, PostgresUrl) else 'var/agiflow.db'}\n",
                    encoding="utf-8")
    return path


def configured(config: Path) -> SqliteSupervisors:
    return supervisors_store(load_config(config).database)


def agiflow(config: Path, *args: str, stdin: str | None = None) -> object:
    return CliRunner().invoke(cli, ["supervisors", *args, "-c", str(config)], input=stdin)


def test_the_pin_is_asked_twice_without_echo_and_never_shown(config: Path) -> None:
    result = agiflow(config, "pin", "600 111 222", stdin="4321\n4321\n")
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    assert "+34600111222: PIN set" in result.output and "4321" not in result.output  # type: ignore[attr-defined]
    store = configured(config)
    assert store.check_pin(NUMBER, "4321", NOW, "x").result == PIN_OK


def test_a_pin_from_stdin_is_checked_and_a_bad_one_refused(config: Path) -> None:
    assert agiflow(config, "pin", NUMBER, "--stdin", stdin="12\n").exit_code == 2  # type: ignore[attr-defined]
    assert agiflow(config, "pin", NUMBER, "--stdin", stdin="123456\n").exit_code == 0  # type: ignore[attr-defined]


def test_list_audit_and_remove(config: Path) -> None:
    agiflow(config, "pin", NUMBER, "--stdin", stdin="123456\n")
    configured(config).check_pin(NUMBER, "000000", NOW, "1.7")
    listed = agiflow(config, "list").output  # type: ignore[attr-defined]
    assert NUMBER in listed and "123456" not in listed
    audit = agiflow(config, "audit", "--number", "600111222").output  # type: ignore[attr-defined]
    assert "pin  wrong  1.7" in audit and "set_pin  ok  -  by ana" in audit
    assert agiflow(config, "remove", NUMBER).exit_code == 0  # type: ignore[attr-defined]
    assert agiflow(config, "remove", NUMBER).exit_code == 1  # type: ignore[attr-defined]
    assert agiflow(config, "list").output == "no supervisor PINs\n"  # type: ignore[attr-defined]


def test_the_audit_puts_no_escape_sequence_from_a_call_on_the_terminal(config: Path) -> None:
    """The uniqueid is whatever the peer sent: an audit entry's once
    reached the terminal with its OSC sequence (a window title changed)."""
    agiflow(config, "pin", NUMBER, "--stdin", stdin="123456\n")
    configured(config).check_pin(NUMBER, "000000", NOW, "1.7\x1b]0;pwned\x07\x1b[2J")
    configured(config).audit(NUMBER, "supervise", "ok", NOW, "1.7", "PJSIP/201:\x9b2J listen 3s")
    output = agiflow(config, "audit").output  # type: ignore[attr-defined]
    assert "pin  wrong  1.7" in output and "listen 3s" in output
    assert not any(c in output for c in "\x1b\x07\x9b"), output


def test_list_shows_a_lock_only_while_it_holds(config: Path) -> None:
    """A lock that had run out was still listed with its 5 wrong PINs, as if
    the number were locked: its next PIN is checked, and counts from 1."""
    agiflow(config, "pin", NUMBER, "--stdin", stdin="123456\n")
    store = configured(config)
    for _ in range(MAX_FAILURES):
        store.check_pin(NUMBER, "000000", NOW - timedelta(minutes=20), "1.1")
    [line] = [line for line in agiflow(config, "list").output.splitlines() if NUMBER in line]  # type: ignore[attr-defined]
    assert line.split()[1:3] == ["0", "2025-03-10T20:00:00.000Z"], line  # no lock, no wrong PIN in a row left
    for _ in range(MAX_FAILURES):
        store.check_pin(NUMBER, "000000", NOW - timedelta(minutes=1), "1.2")
    [line] = [line for line in agiflow(config, "list").output.splitlines() if NUMBER in line]  # type: ignore[attr-defined]
    assert line.split()[1:3] == ["5", "2025-03-10T20:14:00.000Z"], line
