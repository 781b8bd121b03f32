"""The database on both backends (the ``database`` fixture): the CDR writer,
its journal, the schema's migrations, ``agiflow db``, overrides, callbacks,
and what one node changes being seen by another at once."""
from __future__ import annotations

import contextlib
import fcntl
import io
import json
import logging
import re
import sqlite3
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from support.cdr_builder import CdrBuilder
from support.postgres import dml_role

from agi.cli.main import cli
from agi.db.location import PostgresUrl, parse_database, redacted
from agi.db.postgres_params import pyformat
from agi.lists import schema as list_schema
from agi.lists.csvio import ReadReport, read_entries
from agi.lists.numbers import Normaliser
from agi.reports import run_report
from agi.reports.model import Filters
from agi.services import Override, OverridesUnavailable
from agi.storage.callbacks import StoredCallbackRequests
from agi.storage.cdr_writer import CdrStore
from agi.storage.copy import copy_database
from agi.storage.journal import Journal
from agi.storage.supervisors import supervisors_store
from support import table_rows
from agi.storage.migrations import MIGRATIONS, SchemaError, upgrade, version
from agi.storage.schema_version import SCHEMA_VERSION
from agi.storage.overrides import server_overrides, writable_overrides
from agi.storage.stores import callback_book, list_admin, number_lists
from agi.vocabulary import iso

NOW = datetime(2026, 3, 10, 9, 0, tzinfo=timezone.utc)


def row(key: str) -> dict[str, Any]:
    return {"id": key, "call_id": f"1795385106.{key}", "flow": "demo", "started_at": iso(1_800_000_000),
            "status": "in_progress", "caller": "600111222"}


def rows_of(database: Any, sql: str) -> list[tuple[Any, ...]]:
    """Plain tuples from either backend."""
    if isinstance(database, PostgresUrl):
        import psycopg
        with psycopg.connect(parameters_url(database)) as conn:
            return [tuple(r) for r in conn.execute(sql).fetchall()]
    import sqlite3
    conn = sqlite3.connect(database)
    try:
        return [tuple(r) for r in conn.execute(sql).fetchall()]
    finally:
        conn.close()


def parameters_url(url: PostgresUrl) -> str:
    from psycopg import conninfo

    from agi.db.postgres import parameters
    return conninfo.make_conninfo(**parameters(url))


# -- the CDR writer ------------------------------------------------------------------

def write_one_call(database: Any) -> None:
    """Call "a" and its answer step, written by the server's CDR store as ``database``'s user."""
    store = CdrStore(database)
    store.open()
    store.start()
    store.call_started(row("a"))
    store.step_finished("a", {"seq": 1, "step": "answer", "outcome": "next"})
    assert store.close()


def test_calls_steps_and_callbacks_are_written_on_each_backend(database: Any) -> None:
    store = CdrStore(database)
    store.open()
    store.start()
    store.call_started(row("a"))
    store.step_finished("a", {"seq": 1, "step": "answer", "outcome": "next", "type": "answer"})
    store.call_ended("a", {"status": "completed", "path": "answer:next", "vip": True})
    StoredCallbackRequests(store).request({"requested_at": iso(1_800_000_000), "number": "+34600111222"})
    assert store.close()
    assert rows_of(database, "SELECT id, status, path, vip FROM calls") == [("a", "completed", "answer:next", 1)]
    assert rows_of(database, "SELECT call, seq, step FROM call_steps") == [("a", 1, "answer")]
    assert rows_of(database, "SELECT number, status FROM callbacks") == [("+34600111222", "pending")]


def test_operations_written_twice_are_stored_once(database: Any) -> None:
    store = CdrStore(database, flush_interval=0.01)
    store.open()
    store.start()
    step = {"seq": 1, "step": "answer", "outcome": "next"}
    request = {"requested_at": iso(1_800_000_000), "number": "+34600111222", "request_key": "k1"}
    for _ in range(2):  # as a retried batch or a replayed journal would
        store.call_started(row("a"))
        store.step_finished("a", step)
        store.submit("insert_callback", request)
        time.sleep(0.05)
    store.call_ended("a", {"status": "completed"})
    assert store.close()
    assert rows_of(database, "SELECT count(*) FROM calls") == [(1,)]
    assert rows_of(database, "SELECT count(*) FROM call_steps") == [(1,)]
    assert rows_of(database, "SELECT count(*) FROM callbacks") == [(1,)]


def test_calls_left_running_are_marked_interrupted_at_the_next_start(database: Any) -> None:
    first = CdrStore(database)
    first.open()
    first.start()
    first.call_started(row("a"))
    assert first.close()
    assert CdrStore(database, clock=lambda: 1_800_000_100).open() == 1
    assert rows_of(database, "SELECT status, ended_at FROM calls") == [("interrupted", iso(1_800_000_100))]


# -- the journal ------------------------------------------------------------------------

class Refusing:
    """A connector that fails while ``down`` is set, as a stopped server does."""

    def __init__(self, database: Any) -> None:
        from agi.storage import connections
        self.real = connections.writer_connector(database, 5.0)
        self.down = True

    def __call__(self, path: str) -> Any:
        if self.down:
            import sqlite3
            raise sqlite3.OperationalError("connection refused (the database is down)")
        return self.real(path)


def test_past_the_queue_bound_operations_wait_in_the_journal_and_are_written_in_order_once(
        database: Any, tmp_path: Path) -> None:
    connector = Refusing(database)
    store = CdrStore(database, connector=connector, journal=tmp_path / "journal.jsonl", max_queue=5,
                     retry_delay=0.02, flush_interval=0.01)
    store.open()
    store.start()
    for i in range(20):
        store.call_started(row(f"c{i}"))
        store.call_ended(f"c{i}", {"status": "completed", "duration": float(i)})
    assert store.journal is not None and store.journal.lines >= 30
    assert len((tmp_path / "journal.jsonl").read_text().splitlines()) == store.journal.lines
    connector.down = False
    deadline = time.monotonic() + 10
    while store.journal.active and time.monotonic() < deadline:
        time.sleep(0.02)
    assert store.close()
    assert (tmp_path / "journal.jsonl").read_text() == ""
    assert rows_of(database, "SELECT count(*), sum(duration) FROM calls WHERE status = 'completed'") == [(20, 190.0)]


def test_once_a_write_fails_every_operation_waits_in_the_journal_not_in_memory(
        database: Any, tmp_path: Path) -> None:
    """What a process killed during an outage would lose is what waits in
    memory: after the first refused write nothing does, in order."""
    journal = tmp_path / "journal.jsonl"
    connector = Refusing(database)
    store = CdrStore(database, connector=connector, journal=journal, retry_delay=0.02, flush_interval=0.01)
    store.open()
    store.start()
    store.call_started(row("a"))
    store.step_finished("a", {"seq": 1, "step": "answer", "outcome": "next"})
    deadline = time.monotonic() + 10
    while store.pending and time.monotonic() < deadline:
        time.sleep(0.01)
    assert store.pending == 0  # moved, not kept in memory
    store.call_ended("a", {"status": "completed", "duration": 3.0})  # straight to the journal
    assert store.pending == 0
    lines = [json.loads(line) for line in journal.read_text().splitlines()]
    assert [(name, arg["id"] if name == "insert_call" else arg[0]) for name, arg in lines] == [
        ("insert_call", "a"), ("insert_step", "a"), ("update_call", "a")]
    connector.down = False
    while store.journal is not None and store.journal.active and time.monotonic() < deadline:
        time.sleep(0.02)
    assert store.close()
    assert journal.read_text() == ""
    assert rows_of(database, "SELECT id, status, duration FROM calls") == [("a", "completed", 3.0)]
    assert rows_of(database, "SELECT count(*) FROM call_steps") == [(1,)]


def started_in_an_outage(database: Any, journal: Path) -> CdrStore:
    """A store whose database refuses connections, with call ``a`` started:
    its first row moved to the journal."""
    store = CdrStore(database, connector=Refusing(database), journal=journal, retry_delay=0.02, flush_interval=0.01)
    store.open()
    store.start()
    store.call_started(row("a"))
    deadline = time.monotonic() + 10
    while store.pending and time.monotonic() < deadline:
        time.sleep(0.01)
    return store


def test_a_journal_removed_during_an_outage_is_written_again_so_a_kill_loses_nothing(
        database: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A cleanup script (or a rotation) took the journal away while it held
    an outage's operations: the server went on appending to the removed
    file, and a server killed before the database came back left those
    calls without a row (6 of 6 calls, with a real server)."""
    journal = tmp_path / "var" / "journal.jsonl"
    store = started_in_an_outage(database, journal)
    assert journal.exists()
    journal.unlink()
    store.call_ended("a", {"status": "completed", "duration": 3.0})
    store.call_started(row("b"))
    # killed here: no close, the database still down
    assert "the CDR journal" in caplog.text and "was removed" in caplog.text
    journal.unlink()  # again, and no call comes: the writer's next retry writes it again
    deadline = time.monotonic() + 10
    while not journal.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    kept = store.waiting.journal
    assert kept is not None
    with kept._lock:  # the writer may be putting the new file in place: the system lets go of a killed server's
        fcntl.flock(kept._file.fileno(), fcntl.LOCK_UN)
    again = CdrStore(database, journal=journal)
    again.open()
    assert rows_of(database, "SELECT id, status FROM calls ORDER BY id") == [("a", "completed"), ("b", "interrupted")]
    store.close(stall_timeout=0.1)  # its writer, still retrying, would log into later tests


def test_what_cannot_be_written_at_shutdown_is_kept_in_the_journal_for_the_next_start(
        database: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    journal = tmp_path / "journal.jsonl"
    connector = Refusing(database)
    store = CdrStore(database, connector=connector, journal=journal, retry_delay=0.02, flush_interval=0.01)
    store.open()
    store.start()
    store.call_started(row("a"))
    store.step_finished("a", {"seq": 1, "step": "answer", "outcome": "next"})
    assert store.close(stall_timeout=0.3)  # nothing lost: in the journal
    assert "kept in the journal" in caplog.text
    assert len(journal.read_text().splitlines()) == 2
    again = CdrStore(database, journal=journal)
    assert again.open() == 1  # written first, then marked interrupted
    assert journal.read_text() == ""
    assert rows_of(database, "SELECT id, status FROM calls") == [("a", "interrupted")]
    assert rows_of(database, "SELECT count(*) FROM call_steps") == [(1,)]


def test_a_shutdown_during_an_outage_does_not_wait_when_the_journal_holds_everything(
        database: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Once every unwritten operation is in the journal, waiting for the
    database at shutdown protects nothing: a stop (a rolling restart, a
    host shutting down) took the whole stall timeout, 30 s, for nothing."""
    journal = tmp_path / "journal.jsonl"
    store = started_in_an_outage(database, journal)
    store.call_ended("a", {"status": "completed", "duration": 3.0})
    started = time.monotonic()
    assert store.close(stall_timeout=20)
    assert time.monotonic() - started < 5
    assert "made no progress" not in caplog.text
    assert "2 CDR operations kept in the journal" in caplog.text
    again = CdrStore(database, journal=journal)
    assert again.open() == 0
    assert rows_of(database, "SELECT id, status FROM calls") == [("a", "completed")]


def test_a_journal_line_cut_short_by_a_crash_is_dropped_and_the_rest_kept(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    path.write_text(json.dumps(["insert_call", row("a")]) + "\n" + '["insert_call", {"id": "b"', encoding="utf-8")
    journal = Journal(path)
    assert journal.open() == 1
    [(batch, _)] = list(journal.batches(10))
    assert batch == [("insert_call", row("a"))]


def test_damaged_journal_lines_are_skipped_and_every_whole_operation_around_them_written(
        database: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "journal.jsonl"
    damaged = ['{"not": "an operation"}', '["insert_call", null]', '["update_call", ["a"]]', '["insert_step", 7]',
               "\x00\x00\x00", '["insert_call", {"id": "c"', "[" * 100_000 + "]" * 100_000]  # the last: nested
    # deeper than the JSON reader recurses (once a RecursionError that stopped the start)
    lines = [json.dumps(["insert_call", row("a")]), *damaged, json.dumps(["insert_call", row("b")]),
             json.dumps(["update_call", ["b", {"status": "completed"}]])]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    CdrStore(database, journal=path).open()
    assert rows_of(database, "SELECT id, status FROM calls ORDER BY id") == [("a", "interrupted"), ("b", "completed")]
    assert caplog.text.count("skipping a line that is not an operation") == len(damaged)
    assert path.read_text(encoding="utf-8") == ""


def test_a_journal_line_longer_than_any_operation_is_skipped_without_reading_it_whole(
        database: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A damaged journal (a disk error, a crash that left a run of bytes
    without a line end) once had each line read whole: one line of 300 MB
    took 1.3 GB of memory and 11 s before the server listened."""
    import tracemalloc
    path = tmp_path / "journal.jsonl"
    with open(path, "wb") as file:
        file.write(json.dumps(["insert_call", row("a")]).encode() + b"\n")
        file.write(b'["insert_call",{"id":"' + b"x" * (24 << 20) + b'"}]\n')  # far longer than any operation
        file.write(json.dumps(["insert_call", row("b")]).encode() + b"\n")
        file.write(b'["insert_call",{"id":"' + b"\x00" * (24 << 20))  # cut short, and long
    tracemalloc.start()
    try:
        CdrStore(database, journal=path).open()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20
    assert rows_of(database, "SELECT id, status FROM calls ORDER BY id") == [("a", "interrupted"), ("b", "interrupted")]
    assert "skipping a line longer than 1048576 bytes" in caplog.text
    assert path.read_bytes() == b""


def test_operations_kept_in_the_journal_at_a_shutdown_are_not_said_to_fill_the_queue(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A server stopped while its first write hung (a frozen database) once
    logged 'CDR queue full (10000 operations)' for the 3 it kept; a full
    queue is said once, when it fills."""
    from agi.storage.cdr_waiting import Waiting
    from agi.storage.journal import Journal
    journal = Journal(tmp_path / "journal.jsonl")
    journal.open()
    waiting = Waiting(journal, 10, in_trouble=lambda: False, remind=lambda why: None)
    for i in range(3):
        waiting.put(("insert_call", row(f"c{i}")))
    with caplog.at_level(logging.WARNING, logger="agiflow.cdr"):
        assert waiting.keep_for_next_start()
    assert "queue full" not in caplog.text and "3 CDR operations kept in the journal" in caplog.text
    caplog.clear()
    full = Waiting(Journal(tmp_path / "full.jsonl"), 2, in_trouble=lambda: False, remind=lambda why: None)
    assert full.journal is not None
    full.journal.open()
    with caplog.at_level(logging.WARNING, logger="agiflow.cdr"):
        for i in range(5):
            full.put(("insert_call", row(f"f{i}")))
    assert caplog.text.count("CDR queue full (2 operations)") == 1 and full.journal.lines == 3


def test_when_the_journal_cannot_be_written_operations_stay_in_memory(tmp_path: Path,
                                                                      caplog: pytest.LogCaptureFixture) -> None:
    database = tmp_path / "cdr.db"
    connector = Refusing(database)
    store = CdrStore(database, connector=connector, journal=tmp_path / "journal.jsonl", max_queue=2,
                     retry_delay=0.02)
    store.open()
    assert store.journal is not None
    store.journal.close()  # as when its disk is gone
    store.start()
    for i in range(5):
        store.call_started(row(f"c{i}"))
    assert store.pending == 5 and "not writable" in caplog.text
    connector.down = False
    assert store.close(stall_timeout=5)
    assert rows_of(database, "SELECT count(*) FROM calls") == [(5,)]


def test_ends_that_the_journal_could_not_take_are_written_after_the_starts_it_holds(
        database: Any, tmp_path: Path) -> None:
    connector = Refusing(database)
    store = CdrStore(database, connector=connector, journal=tmp_path / "journal.jsonl", max_queue=2,
                     retry_delay=0.02, flush_interval=0.01)
    store.open()
    store.start()
    for i in range(5):
        store.call_started(row(f"c{i}"))  # c2 to c4 wait in the journal
    assert store.journal is not None and store.journal.lines == 3
    journal_file, store.journal._file = store.journal._file, None  # its disk is full now
    for i in range(5):
        store.call_ended(f"c{i}", {"status": "completed", "duration": float(i)})
    assert store.pending == 7
    store.journal._file = journal_file  # room again
    connector.down = False
    assert store.close(stall_timeout=5)
    assert rows_of(database, "SELECT count(*), sum(duration) FROM calls WHERE status = 'completed'") == [(5, 10.0)]


def test_what_waits_in_memory_at_shutdown_goes_before_the_newer_lines_of_the_journal(
        database: Any, tmp_path: Path) -> None:
    journal = tmp_path / "journal.jsonl"
    connector = Refusing(database)
    store = CdrStore(database, connector=connector, journal=journal, max_queue=2, retry_delay=0.02,
                     flush_interval=0.01)
    store.open()
    store.start()
    for i in range(3):
        store.call_started(row(f"c{i}"))  # c0 and c1 in memory, c2 in the journal
    for i in range(3):
        store.call_ended(f"c{i}", {"status": "completed", "duration": float(i)})  # every end in the journal
    assert store.close(stall_timeout=0.3)
    assert [json.loads(line)[0] for line in journal.read_text().splitlines()][:2] == ["insert_call", "insert_call"]
    CdrStore(database, journal=journal).open()
    assert rows_of(database, "SELECT count(*), sum(duration) FROM calls WHERE status = 'completed'") == [(3, 3.0)]


def test_without_room_to_write_the_journal_anew_what_waits_in_memory_is_appended_after_its_lines(
        database: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    journal = tmp_path / "journal.jsonl"
    connector = Refusing(database)
    store = CdrStore(database, connector=connector, journal=journal, max_queue=2, retry_delay=0.02,
                     flush_interval=0.01)
    store.open()
    store.start()
    for i in range(3):
        store.call_started(row(f"c{i}"))
    store.call_ended("c2", {"status": "completed", "duration": 2.0})

    def no_room(*written: Any) -> None:
        raise OSError(28, "No space left on device")
    assert store.journal is not None
    monkeypatch.setattr(store.journal, "put_first_lines", no_room)
    assert store.close(stall_timeout=0.3)  # nothing lost: every start is kept
    assert "appended after its lines" in caplog.text
    CdrStore(database, journal=journal).open()
    assert rows_of(database, "SELECT id, status FROM calls ORDER BY id") == [
        ("c0", "interrupted"), ("c1", "interrupted"), ("c2", "completed")]


# -- schema versions ----------------------------------------------------------------------

def test_a_new_database_gets_every_table_at_the_current_version_and_a_second_upgrade_does_nothing(
        database: Any) -> None:
    assert version(database) == 0
    assert [m.version for m in upgrade(database)] == list(range(1, SCHEMA_VERSION + 1))
    assert version(database) == SCHEMA_VERSION
    assert upgrade(database) == []


def test_a_new_sqlite_database_is_upgraded_while_another_connection_writes(tmp_path: Path) -> None:
    """The first start of a server on a database an ``agiflow lists`` or
    ``schedule`` command made, while such a command writes: the upgrade
    waits for it, as for any lock. Its first step read the schema and kept
    that read open, so its CREATE TABLE got SQLITE_BUSY at once, without
    waiting (the server said "not starting: ... database is locked")."""
    database = tmp_path / "cdr.db"
    with contextlib.closing(sqlite3.connect(database, isolation_level=None)) as made:
        list_schema.ensure_schema(made)  # as ``agiflow lists create`` leaves it
    writer = sqlite3.connect(database, isolation_level=None, check_same_thread=False)
    writer.execute("BEGIN IMMEDIATE")
    released = threading.Timer(0.3, writer.execute, ("COMMIT",))
    released.start()
    try:
        assert [m.version for m in upgrade(database)] == list(range(1, SCHEMA_VERSION + 1))
    finally:
        released.join()
        writer.close()
    assert upgrade(database) == []


def test_a_role_with_rights_on_the_tables_alone_writes_cdrs_on_a_current_schema(postgres_url: PostgresUrl) -> None:
    """A least-privilege role (SELECT, INSERT, UPDATE, DELETE on the tables,
    no CREATE on the schema, as PostgreSQL 15 has it on public) could not
    start `agiflow serve`, nor run a command that writes, on a schema an
    owner had brought up to date: each first ran CREATE TABLE IF NOT EXISTS
    ('permission denied for schema')."""
    import uuid
    import psycopg
    upgrade(postgres_url)  # by the owner
    role = f"r_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(parameters_url(postgres_url), autocommit=True) as conn:
        schema = conn.execute("SELECT current_schema()").fetchone()[0]  # type: ignore[index]
        conn.execute(f"CREATE ROLE {role} LOGIN")
        conn.execute(f"GRANT USAGE ON SCHEMA {schema} TO {role}")
        conn.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {role}")
        conn.execute(f"GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA {schema} TO {role}")
    try:
        as_role = PostgresUrl(str(postgres_url).replace("://postgres@", f"://{role}@", 1))
        assert upgrade(as_role, online_only=True) == []
        write_one_call(as_role)
        assert rows_of(postgres_url, "SELECT id FROM calls") == [("a",)]
    finally:
        with psycopg.connect(parameters_url(postgres_url), autocommit=True) as conn:
            conn.execute(f"DROP OWNED BY {role}")
            conn.execute(f"DROP ROLE {role}")


def test_a_database_newer_than_this_agiflow_is_refused(database: Any) -> None:
    upgrade(database)
    if isinstance(database, PostgresUrl):
        import psycopg
        with psycopg.connect(parameters_url(database), autocommit=True) as conn:
            conn.execute("INSERT INTO agiflow_schema VALUES (99, 'x')")
    else:
        import sqlite3
        with sqlite3.connect(database) as conn:
            conn.execute("INSERT INTO agiflow_schema VALUES (99, 'x')")
    with pytest.raises(SchemaError, match="version 99, newer than this agiflow knows"):
        upgrade(database, online_only=True)


def test_a_version_2_database_is_upgraded_online_to_the_current_version_and_keeps_its_rows(database: Any) -> None:
    upgrade(database)
    table_rows.insert(database, "schedule_overrides", [{"schedule": "office", "state": "closed", "until": 2e9,
                                                        "reason": "old", "set_at": 1e9, "start": 1e9}])
    for statement in ("DROP TABLE supervisor_pins", "DROP TABLE supervisor_audit", "DROP TABLE call_rollups",
                      "DROP INDEX idx_callbacks_number_status", "DROP INDEX idx_calls_e164_started",
                      "DELETE FROM agiflow_schema WHERE version >= 3",
                      *(f"ALTER TABLE {table} DROP COLUMN {column}" for table, column in (
                          ("calls", "agent"), ("calls", "agent_interface"), ("calls", "direction"),
                          ("calls", "caller_e164"), ("calls", "ring_time"), ("calls", "hangup_cause"),
                          ("callbacks", "arrived_at"),
                          ("callbacks", "source"), ("callbacks", "attempts"), ("callbacks", "dialled_at"),
                          ("schedule_overrides", "set_by"), ("schedule_overrides", "set_how")))):
        table_rows.execute(database, statement)  # as version 2 left it
    assert version(database) == 2
    assert [m.version for m in upgrade(database, online_only=True)] == [3, 4, 5, 6, 7]
    table_rows.insert(database, "calls", [{"id": "k", "call_id": "u", "started_at": "t", "status": "completed",
                                           "direction": "outbound", "caller_e164": "+34600111222",
                                           "ring_time": 3.5, "hangup_cause": "16"}])
    [override] = server_overrides(database).all_active(datetime(2030, 1, 1, tzinfo=timezone.utc))
    assert (override.reason, override.set_by, override.set_how) == ("old", "", "")
    table_rows.insert(database, "callbacks", [{"requested_at": "x", "number": "+34600111222", "status": "pending",
                                               "arrived_at": "a", "source": "missed", "attempts": 0}])
    supervisors_store(database).set_pin("+34600111222", "4321", NOW, "ana")
    assert rows_of(database, "SELECT count(*) FROM supervisor_audit") == [(1,)]


def test_db_upgrade_says_what_it_did(database: Any, tmp_path: Path) -> None:
    target = database.url if isinstance(database, PostgresUrl) else str(database)
    first = CliRunner().invoke(cli, ["db", "upgrade", "--database", target])
    assert first.exit_code == 0, first.output
    assert f"schema version 0 -> {SCHEMA_VERSION}" in first.output
    second = CliRunner().invoke(cli, ["db", "upgrade", "--database", target])
    assert f"schema version {SCHEMA_VERSION}, up to date" in second.output


def test_db_rollups_on_a_schema_that_is_behind_asks_for_db_upgrade_and_changes_nothing(database: Any) -> None:
    """cli.md: a database whose schema is not the current one is one line,
    exit 1. The command's check upgraded it first (online), so it rolled on."""
    upgrade(database)
    table_rows.execute(database, f"DELETE FROM agiflow_schema WHERE version = {SCHEMA_VERSION}")
    target = database.url if isinstance(database, PostgresUrl) else str(database)
    result = CliRunner().invoke(cli, ["db", "rollups", "--database", target])
    assert result.exit_code == 1, result.output
    assert "run `agiflow db upgrade`" in result.output and "Traceback" not in result.output
    assert version(database) == SCHEMA_VERSION - 1


def test_a_postgresql_error_is_told_without_the_statement_it_came_from(postgres_url: PostgresUrl) -> None:
    """psycopg's message goes on with 'LINE 1: ...FROM number_lis... ^', a
    piece of agiflow's SQL that tells the operator nothing."""
    import psycopg

    from agi.db import postgres as pg
    with psycopg.connect(**pg.parameters(postgres_url)) as conn:
        with pytest.raises(psycopg.Error) as failed:
            conn.execute("SELECT name FROM number_lists")
    said = pg.one_line(failed.value)
    assert said == 'relation "number_lists" does not exist', said
    from agi.db import libpq
    conn = libpq.open_connection(postgres_url, "agiflow")
    try:
        with pytest.raises(libpq.PostgresError) as failed_here:
            conn.execute("SELECT name FROM number_lists")
    finally:
        conn.close()
    assert str(failed_here.value).endswith('relation "number_lists" does not exist'), str(failed_here.value)


def test_db_upgrade_that_waited_for_another_servers_upgrade_says_the_version_it_found(
        database: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import agi.cli.db as db_command
    target = database.url if isinstance(database, PostgresUrl) else str(database)

    def upgraded_by_another_server(where: Any) -> list[Any]:
        upgrade(where)  # the other server's steps, done while this one waited for the lock
        return []
    monkeypatch.setattr(db_command, "upgrade", upgraded_by_another_server)
    result = CliRunner().invoke(cli, ["db", "upgrade", "--database", target])
    assert result.exit_code == 0, result.output
    assert result.output.endswith(f"schema version {SCHEMA_VERSION}, up to date\n")


@pytest.mark.parametrize("kind, message", [
    ("folder", "is a directory, not a database file"),
    ("text", "is not an SQLite database"),
    ("foreign_calls", "is not agiflow's: its table 'calls' has other columns"),
    ("foreign", "is not agiflow's: it has none of agiflow's tables"),
])
def test_db_upgrade_refuses_what_is_not_an_agiflow_database_and_leaves_it_unchanged(
        tmp_path: Path, kind: str, message: str) -> None:
    import sqlite3
    target = tmp_path / "x.db"
    if kind == "folder":
        target.mkdir()
    elif kind == "text":
        target.write_text("hello\n")
    else:
        with sqlite3.connect(target) as conn:
            conn.execute("CREATE TABLE calls (a)" if kind == "foreign_calls" else "CREATE TABLE notes (a)")
    before = target.read_bytes() if target.is_file() else None
    done = CliRunner().invoke(cli, ["db", "upgrade", "--database", str(target)])
    assert done.exit_code == 1, done.output
    assert done.stderr.startswith(f"error: the database {target} {message}") and done.stderr.count("\n") == 1
    assert (target.read_bytes() if target.is_file() else None) == before


def test_a_user_with_only_the_table_rights_serves_and_writes_once_the_schema_is_current(
        postgres_url: PostgresUrl) -> None:
    """database.md: CREATE on the schema is for `agiflow db upgrade`; the
    servers and commands need SELECT, INSERT, UPDATE and DELETE. Each of them
    ran CREATE TABLE IF NOT EXISTS agiflow_schema first, which PostgreSQL
    refuses without CREATE ('permission denied for schema public') even
    when the table is there: a server with a least-privilege user never started."""

    from agi.cli.database import Need, database_problem
    upgrade(postgres_url)
    with dml_role(postgres_url, "agiflow_dml") as user_url:
        assert database_problem(user_url, Need.WRITE) is None  # what every command that writes checks first
        assert upgrade(user_url, online_only=True) == []
        store = CdrStore(user_url)
        store.open()
        store.start()
        StoredCallbackRequests(store).request({"requested_at": "2026-03-10T09:00:00.000Z", "number": "+34600111222"})
        assert store.close()
        with list_admin(user_url) as lists:
            lists.create("vip")
        assert rows_of(postgres_url, "SELECT count(*) FROM callbacks") == [(1,)]


# -- copy ---------------------------------------------------------------------------------

def test_db_copy_moves_every_kind_of_row_and_a_second_copy_adds_nothing(database: Any, tmp_path: Path) -> None:
    source = tmp_path / "source.db"
    cdr = CdrBuilder(source)
    cdr.add("2025-03-10 08:00:00", queue="support", queue_status="ANSWERED", talk_time=10,
            steps=[("menu", "menu", "1", {"timeouts": 1})])
    cdr.add("2025-03-10 09:00:00", flow="sales", duration=12)
    cdr.close()
    store = CdrStore(source)
    store.open()
    store.start()
    StoredCallbackRequests(store).request({"requested_at": iso(1_800_000_000), "number": "+34600111222"})
    assert store.close()
    with list_admin(source) as admin:
        admin.import_entries("robinson", read_entries(io.StringIO("+34600111222,asked\n+3490*\n"),
                                                      Normaliser("ES"), ReadReport()))
    writable_overrides(source).set(Override("office", "closed", NOW + timedelta(days=1), "strike", None,
                                            "+34600999888", "phone"), NOW)
    supervisors_store(source).set_pin("+34600999888", "4321", NOW, "ana")
    target = database if isinstance(database, PostgresUrl) else tmp_path / "target.db"
    counts = copy_database(source, target)
    assert counts["calls"] == 2 and counts["call_steps"] == 1 and counts["list_entries"] == 2
    assert copy_database(source, target)["calls"] == 2  # read again, nothing doubled
    assert rows_of(target, "SELECT count(*) FROM calls") == [(2,)]
    assert number_lists(target, "ES").match("robinson", "902123456") is not None
    assert callback_book(target).requests()[0]["id"] == 1
    [override] = server_overrides(target).all_active(NOW)
    assert (override.schedule, override.state, override.reason) == ("office", "closed", "strike")
    assert (override.set_by, override.set_how) == ("+34600999888", "phone")
    pins = supervisors_store(target)
    assert pins.check_pin("+34600999888", "4321", NOW, "1.1").result == "ok"
    assert [e["action"] for e in pins.audit_log()] == ["set_pin", "pin"]  # the copied entry, then the new one
    report = run_report(target, "summary", Filters(), NOW)
    assert report.totals is not None and report.totals["calls"] == 2


@pytest.mark.parametrize("side", ["--from", "--to"])
@pytest.mark.parametrize("make, said", [
    (lambda path: path.write_text("number,note\n+34600111222,asked\n"), "is not an SQLite database"),
    (lambda path: path.mkdir(), "is a directory, not a database file"),
])
def test_db_copy_names_the_file_that_is_not_a_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, side: str,
                                                        make: Any, said: str) -> None:
    monkeypatch.chdir(tmp_path)
    CdrBuilder(tmp_path / "good.db").close()
    make(tmp_path / "a.csv")
    sides = {"--from": "good.db", "--to": "new.db", side: "a.csv"}
    result = CliRunner().invoke(cli, ["db", "copy", *(item for pair in sides.items() for item in pair)])
    assert result.exit_code == 1, result.output
    assert result.stderr == f"error: {side}: the database a.csv {said}" + (
        " (file is not a database)\n" if "SQLite" in said else "\n")
    assert not (tmp_path / "new.db").exists()


# -- one node's change seen by the others -------------------------------------------------

def test_an_import_an_override_and_a_callback_on_one_node_are_seen_by_another_within_a_second(
        database: Any) -> None:
    upgrade(database)
    reader_lists = number_lists(database, "ES", read_only=False)
    reader_overrides = server_overrides(database)
    with list_admin(database) as admin:
        admin.create("robinson")
    assert reader_lists.match("robinson", "600111222") is None  # the other node has looked once
    assert reader_overrides.active("office", NOW) is None
    started = time.monotonic()
    with list_admin(database) as admin:  # node 1
        admin.import_entries("robinson", read_entries(io.StringIO("600111222\n"), Normaliser("ES"), ReadReport()))
    writable_overrides(database).set(Override("office", "open", NOW + timedelta(hours=1)), NOW)
    store = CdrStore(database)
    store.open()
    store.start()
    StoredCallbackRequests(store).request({"requested_at": iso(1_800_000_000), "number": "+34600111222"})
    assert store.close()
    assert reader_lists.match("robinson", "600111222") is not None  # node 2, next lookup
    override = reader_overrides.active("office", NOW)
    assert override is not None and override.state == "open"
    assert len(callback_book(database).requests()) == 1
    assert time.monotonic() - started < 1.0


def test_an_override_change_its_call_stopped_waiting_for_is_not_made(database: Any) -> None:
    """The override step waits 3 s for its change; one that takes longer (a
    connection opened again after a failover, a lock) was committed after
    the supervisor heard that nothing changed. The store asks, just before
    it commits, whether the call still waits."""
    upgrade(database)
    overrides = writable_overrides(database)
    overrides.set(Override("office", "open", NOW + timedelta(hours=1)), NOW)
    with pytest.raises(OverridesUnavailable, match="stopped waiting"):
        overrides.set(Override("office", "closed", NOW + timedelta(hours=2)), NOW, wanted=lambda: False)
    with pytest.raises(OverridesUnavailable, match="stopped waiting"):
        overrides.clear("office", wanted=lambda: False)
    override = server_overrides(database).active("office", NOW)
    assert override is not None and override.state == "open"


def test_an_override_in_a_database_file_put_in_place_of_the_old_one_is_seen_at_once(tmp_path: Path) -> None:
    """The server's connections read the file now at the path (a backup put
    back, a database created again after it was removed), not the old one."""
    path = tmp_path / "agiflow.db"
    upgrade(path)
    reader = server_overrides(path)
    assert reader.active("office", NOW) is None
    restored = tmp_path / "restored.db"
    upgrade(restored)
    writer = writable_overrides(restored)
    writer.set(Override("office", "closed", NOW + timedelta(hours=1), "strike"), NOW)
    writer.close()
    for suffix in ("-wal", "-shm"):  # the old file's, which SQLite would read with the new one
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    restored.replace(path)
    override = reader.active("office", NOW)
    assert override is not None and override.reason == "strike"


# -- number lists ------------------------------------------------------------------------

def test_an_import_leaves_the_database_ready_for_the_next_lookups(database: Any) -> None:
    """PostgreSQL has statistics of the entries (the planner probes the
    index: no autovacuum needed); SQLite has the import out of its WAL."""
    upgrade(database)
    with list_admin(database) as admin:
        admin.import_entries("robinson", read_entries(io.StringIO("".join(f"6001{n:05d}\n" for n in range(500))),
                                                      Normaliser("ES"), ReadReport()))
    if isinstance(database, PostgresUrl):
        assert rows_of(database, "SELECT last_analyze IS NOT NULL FROM pg_stat_user_tables "
                                 "WHERE relname = 'list_entries'") == [(True,)]
    else:
        wal = Path(f"{database}-wal")
        assert not wal.exists() or wal.stat().st_size == 0
    assert number_lists(database, "ES").match("robinson", "600100499") is not None


# -- URLs ------------------------------------------------------------------------------------

def test_a_postgresql_url_is_kept_whole_and_shown_without_its_password(tmp_path: Path) -> None:
    url = parse_database("postgresql://agiflow:s3cret@db1:5432/agiflow?sslmode=require&password=x", tmp_path)
    assert isinstance(url, PostgresUrl) and url.url.endswith("sslmode=require&password=x")
    assert "s3cret" not in str(url) and "password=x" not in str(url)
    assert redacted("postgresql://db1/agiflow") == "postgresql://db1/agiflow"
    assert parse_database("sqlite:var/a.db", tmp_path) == tmp_path / "var" / "a.db"
    assert parse_database("var/a.db", tmp_path) == tmp_path / "var" / "a.db"
    with pytest.raises(ValueError, match="names no database"):
        parse_database("postgresql://db1:5432")


def test_statements_written_for_sqlite_run_on_psycopg() -> None:
    assert pyformat("SELECT a FROM t WHERE b = ? AND c = :name AND d::text LIKE '%?:x' AND e = '50%'") == \
        "SELECT a FROM t WHERE b = %s AND c = %(name)s AND d::text LIKE '%%?:x' AND e = '50%%'"


def test_a_config_with_an_unreadable_url_is_an_error_with_its_line(tmp_path: Path) -> None:
    from agi.config import ConfigError, load_config
    config = tmp_path / "config.yaml"
    config.write_text("flows: flows\ndatabase: postgresql://db1:notaport/agiflow\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"config.yaml:2: database: not a PostgreSQL URL"):
        load_config(config)


@pytest.mark.parametrize("query, reason", [("foo=bar", 'invalid URI query parameter: "foo"'),
                                           ("sslmode", 'missing key/value separator "=" in URI query parameter')])
def test_a_config_with_a_url_libpq_cannot_read_is_an_error_with_its_line(
        tmp_path: Path, query: str, reason: str) -> None:
    """Once 'ok' from validate, and a start that failed on 'cannot use the database' (exit 1)."""
    from agi.config import ConfigError, load_config
    config = tmp_path / "config.yaml"
    config.write_text(f"flows: flows\ndatabase: postgresql://agiflow:ps3cret@db1/agiflow?{query}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"config.yaml:2: database: libpq cannot read the PostgreSQL URL") as refused:
        load_config(config)
    assert reason in str(refused.value) and "ps3cret" not in str(refused.value)
    result = CliRunner().invoke(cli, ["db", "upgrade", "--database", f"postgresql://db1/agiflow?{query}"])
    assert result.exit_code == 2 and reason in result.stderr, result.output


@pytest.mark.parametrize("setting", ["postgressql://agiflow@db1/agiflow", "postgresql+psycopg://agiflow@db1/agiflow",
                                     "mysql://agiflow@db1/agiflow"])
def test_a_url_of_another_scheme_is_a_config_error_not_a_sqlite_file_of_that_name(
        tmp_path: Path, setting: str) -> None:
    """Once taken as a path: a node whose URL was misspelt wrote its CDRs to a
    file of its own and read no shared list."""
    from agi.config import ConfigError, load_config
    config = tmp_path / "config.yaml"
    config.write_text(f"flows: flows\ndatabase: {setting}\n", encoding="utf-8")
    scheme = setting.split("://")[0]
    with pytest.raises(ConfigError, match=rf"config.yaml:2: database: {re.escape(scheme)}:// is not a database"):
        load_config(config)
    assert parse_database("sqlite:///tmp/a.db") == Path("/tmp/a.db")


def test_db_commands_refuse_a_url_of_another_scheme_and_create_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.db").touch()
    for args in (["db", "upgrade", "--database", "mysql://db1/agiflow"],
                 ["db", "copy", "--from", "a.db", "--to", "mysql://db1/agiflow"]):
        result = CliRunner().invoke(cli, args)
        assert result.exit_code in (1, 2) and "mysql:// is not a database agiflow can use" in result.output, \
            result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.db"]


@pytest.mark.parametrize("url", [
    "postgresql://agiflow:to@ps3cret@db1/agiflow",  # libpq ends the password at the first '@'
    "postgresql://agiflow:to/ps3cret@db1/agiflow",  # ... and the address at the first '/'
    "postgresql://agiflow:to?ps3cret@db1/agiflow",  # urlsplit ends it at '?' and would show the rest
    "postgresql://agiflow:to#ps3cret@db1/agiflow",
])
def test_a_password_with_url_delimiters_is_refused_without_showing_it(url: str) -> None:
    with pytest.raises(ValueError, match="percent-encoded") as refused:
        parse_database(url)
    assert "ps3cret" not in str(refused.value)
    encoded = parse_database("postgresql://agiflow:to%40ps3cret%2F%3F%23@db1/agiflow")
    assert str(encoded) == "postgresql://agiflow:***@db1/agiflow"


@pytest.mark.parametrize("url", [
    "postgresql://agiflow:50%offps3cret@db1/agiflow",  # libpq's error quoted the whole password
    "postgresql://agiflow@db1/agiflow?password=50%offps3cret",
    "postgresql://agiflow:ps3cret@db1/agi%flow",
    "postgresql://agiflow:ps3cret@db1/agiflow?options=-csearch_path%3Ds1%",
])
def test_a_percent_sign_that_encodes_nothing_is_refused_without_showing_the_password(url: str) -> None:
    with pytest.raises(ValueError, match="%25") as refused:
        parse_database(url)
    assert "ps3cret" not in str(refused.value)
    encoded = parse_database("postgresql://agiflow:50%25offps3cret@db1/agiflow?options=-csearch_path%3Ds1")
    assert str(encoded) == "postgresql://agiflow:***@db1/agiflow?options=-csearch_path%3Ds1"


def test_several_hosts_with_their_ports_are_taken_as_libpq_takes_them() -> None:
    url = parse_database("postgresql://agiflow:s3cret@db1:5432,db2:5433/agiflow?target_session_attrs=read-write")
    assert isinstance(url, PostgresUrl)
    assert str(url) == "postgresql://agiflow:***@db1:5432,db2:5433/agiflow?target_session_attrs=read-write"
    with pytest.raises(ValueError, match="a port is not a number"):
        parse_database("postgresql://db1:5432,db2:54x/agiflow")


@pytest.mark.parametrize("url", ["postgresql://agiflow:ps3cret@[::1]x/agiflow",
                                 "postgresql://agiflow:ps3cret@db1,[::1]x:5432/agiflow"])
def test_an_ipv6_address_followed_by_anything_but_its_port_is_refused_without_showing_the_password(url: str) -> None:
    """libpq's error quoted the whole URL: 'unexpected character "x" at position 29 in URI ...'."""
    with pytest.raises(ValueError, match="not a PostgreSQL URL") as refused:
        parse_database(url)
    assert "ps3cret" not in str(refused.value)
    assert str(parse_database("postgresql://agiflow:ps3cret@[::1]:5432,db2/agiflow")) == \
        "postgresql://agiflow:***@[::1]:5432,db2/agiflow"


def test_a_url_whose_database_comes_from_a_service_file_or_the_environment_is_taken(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """libpq reads the database from the service file (pg_service.conf) or
    PGDATABASE: 'names no database' refused postgresql://?service=agiflow."""
    monkeypatch.delenv("PGDATABASE", raising=False)
    monkeypatch.delenv("PGSERVICE", raising=False)
    assert str(parse_database("postgresql://?service=agiflow")) == "postgresql://?service=agiflow"
    with pytest.raises(ValueError, match="names no database"):
        parse_database("postgresql://db1:5432")
    monkeypatch.setenv("PGDATABASE", "agiflow")
    assert str(parse_database("postgresql://db1:5432")) == "postgresql://db1:5432"
    monkeypatch.delenv("PGDATABASE")
    monkeypatch.setenv("PGSERVICE", "agiflow")
    assert str(parse_database("postgresql://")) == "postgresql://"


def test_a_url_without_a_host_is_shown_as_it_was_written() -> None:
    assert str(parse_database("postgresql:///agiflow?host=/var/run/postgresql")) == \
        "postgresql:///agiflow?host=/var/run/postgresql"


@pytest.mark.parametrize("command", [["db", "upgrade", "--database"], ["db", "rollups", "--database"],
                                     ["report", "summary", "--db"], ["report", "import-queue-log", "-", "--db"]])
def test_a_database_option_with_an_unreadable_url_is_a_usage_error_that_hides_the_password(
        command: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, [*command, "postgresql://agiflow:to/ps3cret@db1/agiflow"], input="")
    assert result.exit_code == 2, result.output
    assert "percent-encoded" in result.stderr and "Traceback" not in result.output
    assert "ps3cret" not in result.output


@pytest.mark.parametrize("args", [["lists", "add", "vip", "600111222"], ["callbacks", "done", "1"],
                                  ["schedule", "override", "office_hours", "open", "--until", "1h"],
                                  ["lists", "delete", "vip", "--yes"]])
def test_a_command_that_writes_refuses_a_database_of_a_newer_agiflow_in_one_line(
        database: Any, tmp_path: Path, args: list[str]) -> None:
    upgrade(database)
    table_rows.insert(database, "agiflow_schema", [{"version": SCHEMA_VERSION + 1, "upgraded_at": "x"}])
    (tmp_path / "flows").mkdir()
    (tmp_path / "flows" / "schedules.yaml").write_text(
        "schedules:\n  office_hours:\n    timezone: Europe/Madrid\n    hours: {mon-fri: '09:00-18:00'}\n")
    config = tmp_path / "config.yaml"
    config.write_text(json.dumps({"database": database.url if isinstance(database, PostgresUrl) else str(database),
                                  "flows": str(tmp_path / "flows")}))
    done = CliRunner().invoke(cli, [*args, "-c", str(config)])
    assert done.exit_code == 1, (done.output, done.exception)
    assert done.stderr.startswith("error: the database ") and done.stderr.count("\n") == 1
    assert f"schema version {SCHEMA_VERSION + 1}, newer than this agiflow knows" in done.stderr
    assert done.stderr.rstrip().endswith("upgrade agiflow")


@pytest.mark.parametrize("args", [["report", "summary"], ["lists", "show"], ["callbacks", "list"]])
def test_on_postgresql_a_command_that_reads_refuses_a_database_of_a_newer_agiflow_too(
        postgres_url: PostgresUrl, tmp_path: Path, args: list[str]) -> None:
    upgrade(postgres_url)
    table_rows.insert(postgres_url, "agiflow_schema", [{"version": SCHEMA_VERSION + 1, "upgraded_at": "x"}])
    config = tmp_path / "config.yaml"
    config.write_text(json.dumps({"database": postgres_url.url}))
    done = CliRunner().invoke(cli, [*args, "-c", str(config)])
    assert done.exit_code == 1, (done.output, done.exception)
    assert done.stderr == (f"error: the database {postgres_url}: the database has schema version "
                           f"{SCHEMA_VERSION + 1}, newer than this agiflow knows ({SCHEMA_VERSION}): upgrade agiflow\n")


def test_the_schema_version_is_the_last_migrations() -> None:
    assert [m.version for m in MIGRATIONS] == list(range(1, SCHEMA_VERSION + 1))


def test_calls_go_on_while_the_writer_moves_its_queue_to_the_journal(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Moving the queue encodes every operation (10,000 take 50 ms and more);
    a new call's CDR waited for all of it, and with it the reactor. It now
    waits only for the write; the journal keeps the order of the calls."""
    import threading

    from agi.storage import cdr_waiting
    from agi.storage.journal import Journal, decode
    journal = Journal(tmp_path / "journal.jsonl")
    journal.open()
    waiting = cdr_waiting.Waiting(journal, 100, in_trouble=lambda: True, remind=lambda why: None)
    waiting.memory.extend(("insert_call", row(f"m{i}")) for i in range(3))
    batch = waiting.take_batch(1)
    encode = cdr_waiting.encode_lines
    during: list[bool] = []

    def encode_while_a_call_ends(operations: list[Any]) -> bytes:
        if not during:
            caller = threading.Thread(target=waiting.put, args=(("insert_call", row("new")),))
            caller.start()
            caller.join(5)
            during.append(not caller.is_alive())
        return encode(operations)

    monkeypatch.setattr(cdr_waiting, "encode_lines", encode_while_a_call_ends)
    assert waiting.spill(batch)
    assert during == [True], "the new call's CDR waited for the move"
    lines = (tmp_path / "journal.jsonl").read_text(encoding="utf-8").splitlines()
    assert [decode(line)[1]["id"] for line in lines] == ["m0", "m1", "m2", "new"]
    assert journal.lines == 4 and not waiting.memory


def test_an_online_upgrade_waiting_behind_a_long_report_does_not_hold_up_the_servers_writes(
        postgres_url: PostgresUrl) -> None:
    """A server that starts on a database one version behind runs the online
    steps; version 7 replaces the triggers on `calls`, which takes a lock a
    running report's snapshot holds off. Queued behind the report, that lock
    request held up every other server's call inserts until the report
    ended (their 30 s statement timeout, the CDRs left to the journal). The
    upgrade waits its turn half a second at a time, and lets them write in
    between."""
    import psycopg

    from agi.db import postgres as pg
    from test_campaign_rollups import _as_version_6
    upgrade(postgres_url)
    _as_version_6(postgres_url)
    done: list[Any] = []
    with psycopg.connect(**pg.parameters(postgres_url)) as report, \
            psycopg.connect(**pg.parameters(postgres_url), autocommit=True) as server:
        report.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        report.execute("SELECT count(*) FROM calls").fetchone()
        upgrading = threading.Thread(target=lambda: done.append(upgrade(postgres_url, online_only=True)))
        upgrading.start()
        time.sleep(1.0)
        server.execute("SET statement_timeout = 2000")
        started = time.monotonic()
        server.execute("INSERT INTO calls (id, call_id, started_at, status) "
                       "VALUES ('a', '1.1', '2026-03-10T09:00:00.000Z', 'completed')")
        assert time.monotonic() - started < 1.0
        assert not done and version(postgres_url) == 6
        report.rollback()
        upgrading.join(30)
    assert [m.version for m in done[0]] == [7] and version(postgres_url) == 7


def test_db_upgrade_that_cannot_get_its_tables_in_time_is_one_line_and_changes_nothing(
        postgres_url: PostgresUrl, monkeypatch: pytest.MonkeyPatch) -> None:
    import psycopg

    import agi.storage.migrations as migrations
    from agi.db import postgres as pg
    from test_campaign_rollups import _as_version_6
    upgrade(postgres_url)
    _as_version_6(postgres_url)
    monkeypatch.setattr(migrations, "PG_LOCK_WAIT", 1.0)
    monkeypatch.setattr(migrations, "PG_LOCK_PAUSE", 0.2)
    with psycopg.connect(**pg.parameters(postgres_url)) as report:
        report.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        report.execute("SELECT count(*) FROM calls").fetchone()
        result = CliRunner().invoke(cli, ["db", "upgrade", "--database", postgres_url.url])
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr
    assert "waited 1 s for tables other transactions hold (a long report?)" in result.stderr
    assert version(postgres_url) == 6


def test_an_upgrade_gives_the_roles_that_use_calls_the_same_rights_on_the_tables_it_adds(
        postgres_url: PostgresUrl) -> None:
    """database.md: servers run as a role with rights on the tables, the
    schema upgraded by its owner. The tables an upgrade made (version 7's
    rollups_pending and campaign_rollups) were the owner's alone: once the
    owner had upgraded, every CDR insert, whose trigger marks rollups_pending,
    was refused (`permission denied for table rollups_pending`), on the
    upgraded nodes and on the older ones still running, and a report role
    could not read the campaign rollups."""
    from test_campaign_rollups import _as_version_6
    upgrade(postgres_url)
    _as_version_6(postgres_url)
    with dml_role(postgres_url, "agiflow_kept") as user_url:
        assert [m.version for m in upgrade(postgres_url)] == [7]  # by the owner
        write_one_call(user_url)
        assert rows_of(postgres_url, "SELECT id FROM calls") == [("a",)]
        assert rows_of(user_url, "SELECT count(*) FROM rollups_pending") == [(1,)]
        assert rows_of(user_url, "SELECT count(*) FROM call_rollups_pending") == [(1,)]
        assert rows_of(user_url, "SELECT count(*) FROM campaign_rollups") == [(0,)]


def test_a_role_without_ddl_rights_on_a_schema_behind_is_asked_for_db_upgrade_by_the_owner(
        postgres_url: PostgresUrl) -> None:
    """database.md: a role with rights on the tables alone cannot apply a
    newer agiflow's online steps. Every command that writes, and serve, said
    only `permission denied for schema public`."""

    from test_campaign_rollups import _as_version_6
    upgrade(postgres_url)
    _as_version_6(postgres_url)
    schema = re.search(r"search_path%3D(\w+)", postgres_url.url).group(1)  # type: ignore[union-attr]
    with dml_role(postgres_url, "agiflow_behind") as user_url:
        with pytest.raises(SchemaError) as refused:
            upgrade(user_url, online_only=True)
        assert str(refused.value) == (
            "the database has schema version 6, this agiflow needs 7, and this role cannot upgrade it "
            f"(permission denied for schema {schema}): run `agiflow db upgrade` as the tables' owner")
        assert version(postgres_url) == 6
