"""CDRs land in a real SQLite file, from a background thread, and survive
trouble: a locked, read-only, missing or full database delays them (and
says so), a killed server leaves its calls marked interrupted."""
from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from pathlib import Path

import pytest
import sqlite_utils
from hypothesis import given, settings
from hypothesis import strategies as st
from support.tinydisk import fill

from agi.storage.cdr_schema import MARK_INTERRUPTED
from agi.storage.cdr_writer import CdrStore
from agi.vocabulary import as_json, iso


def row(key: str) -> dict:
    return {"id": key, "call_id": f"1795385106.{key}", "flow": "demo", "started_at": iso(1_800_000_000),
            "status": "in_progress"}


def test_rows_are_written_and_completed(tmp_path: Path) -> None:
    store = CdrStore(tmp_path / "cdr.db")
    store.open()
    store.start()
    store.call_started(row("a"))
    store.step_finished("a", {"seq": 1, "step": "answer", "outcome": "next"})
    store.call_ended("a", {"status": "completed", "path": "answer:next"})
    assert store.close()
    db = sqlite_utils.Database(tmp_path / "cdr.db")
    [call] = list(db["calls"].rows)
    assert call["status"] == "completed" and call["path"] == "answer:next"
    assert [s["step"] for s in db["call_steps"].rows] == ["answer"]
    assert db.journal_mode == "wal"


def test_calls_left_running_by_a_killed_server_are_marked_interrupted(tmp_path: Path) -> None:
    first = CdrStore(tmp_path / "cdr.db")
    first.open()
    first.start()
    first.call_started(row("a"))
    first.call_started(row("b"))
    first.call_ended("b", {"status": "completed"})
    first.close()
    second = CdrStore(tmp_path / "cdr.db", clock=lambda: 1_800_000_100)
    assert second.open() == 1
    db = sqlite_utils.Database(tmp_path / "cdr.db")
    statuses = {r["id"]: (r["status"], r["ended_at"]) for r in db["calls"].rows}
    assert statuses == {"a": ("interrupted", iso(1_800_000_100)), "b": ("completed", None)}


def test_locked_database_delays_rows_without_losing_them(tmp_path: Path) -> None:
    path = tmp_path / "cdr.db"
    store = CdrStore(path, retry_delay=0.05)
    store.open()
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("PRAGMA busy_timeout = 0")
    blocker.execute("BEGIN EXCLUSIVE")
    store.start()
    # busy_timeout in the writer is 5 s; keep the lock shorter than that twice over
    store.call_started(row("a"))
    time.sleep(0.3)
    assert store.written == 0
    blocker.execute("COMMIT")
    blocker.close()
    assert store.close(stall_timeout=10)
    assert [r["id"] for r in sqlite_utils.Database(path)["calls"].rows] == ["a"]


def test_a_bad_operation_is_dropped_without_stopping_the_writer(tmp_path: Path) -> None:
    store = CdrStore(tmp_path / "cdr.db")
    store.open()
    store.start()
    store.call_ended("never-started", {"status": "completed"})
    store.call_started(row("a"))
    assert store.close()
    assert [r["id"] for r in sqlite_utils.Database(tmp_path / "cdr.db")["calls"].rows] == ["a"]


def test_enqueueing_never_waits_for_sqlite(tmp_path: Path) -> None:
    path = tmp_path / "cdr.db"
    store = CdrStore(path, retry_delay=0.05)
    store.open()
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    store.start()
    returned = threading.Event()

    def enqueue() -> None:
        for i in range(1000):
            store.call_started(row(str(i)))
        returned.set()

    threading.Thread(target=enqueue).start()
    assert returned.wait(2), "call_started blocked while the database was locked"
    blocker.execute("COMMIT")
    blocker.close()
    assert store.close(stall_timeout=20)
    assert sqlite_utils.Database(path)["calls"].count == 1000


def test_close_reports_rows_it_could_not_write_when_the_database_stays_locked(tmp_path: Path, caplog) -> None:
    path = tmp_path / "cdr.db"
    store = CdrStore(path, retry_delay=0.05, busy_timeout=0.05)
    store.open()
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    store.start()
    store.call_started(row("a"))
    assert store.close(stall_timeout=0.5) is False
    assert "operations unwritten" in caplog.text
    blocker.execute("COMMIT")
    blocker.close()


# -- database trouble: read-only, gone, full --------------------------------------

def wait_until(condition, timeout: float = 5.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


class ReadOnlyWhile:
    """Opens the writer's connection as SQLite does when it may not write the
    file (``mode=ro``) while ``on`` is set; a normal connection after."""

    def __init__(self) -> None:
        self.on = True
        self.opened = 0

    def __call__(self, path: str) -> sqlite3.Connection:
        self.opened += 1
        mode = "ro" if self.on else "rw"
        return sqlite3.connect(f"file:{path}?mode={mode}", uri=True, isolation_level=None, check_same_thread=False)


def test_read_only_database_keeps_rows_logs_it_and_writes_them_once_writable(tmp_path: Path, caplog) -> None:
    readonly = ReadOnlyWhile()
    store = CdrStore(tmp_path / "cdr.db", retry_delay=0.05, flush_interval=0.01, connector=readonly)
    store.open()
    store.start()
    store.call_started(row("a"))
    store.call_ended("a", {"status": "completed"})
    assert wait_until(lambda: store.failures >= 3)
    assert store.written == 0 and store.pending == 2
    assert "cannot write CDRs" in caplog.text and "readonly" in caplog.text
    ours = [r for r in caplog.records if "cannot write CDRs" in r.getMessage() and str(tmp_path) in r.getMessage()]
    assert len(ours) == 1, "the same trouble is logged once, not on every retry"
    readonly.on = False
    assert store.close(stall_timeout=5)
    assert readonly.opened >= 2, "the writer reconnects after a read-only error"
    assert [(r["id"], r["status"]) for r in sqlite_utils.Database(tmp_path / "cdr.db")["calls"].rows] == [
        ("a", "completed")]
    assert "writable again" in caplog.text


def test_rows_a_read_only_database_never_took_are_counted_at_close(tmp_path: Path, caplog) -> None:
    store = CdrStore(tmp_path / "cdr.db", retry_delay=0.05, flush_interval=0.01, connector=ReadOnlyWhile())
    store.open()
    store.start()
    for key in "abc":
        store.call_started(row(key))
    assert store.close(stall_timeout=0.5) is False
    assert "3 operations unwritten" in caplog.text


def test_database_that_cannot_be_opened_keeps_rows_until_it_can(tmp_path: Path, caplog) -> None:
    folder = tmp_path / "cdr"
    store = CdrStore(folder / "cdr.db", retry_delay=0.05, flush_interval=0.01)
    store.open()
    folder.rename(tmp_path / "elsewhere")
    store.start()
    store.call_started(row("a"))
    store.call_started(row("b"))
    assert wait_until(lambda: store.failures >= 2) and store.pending == 2
    assert "unable to open database file" in caplog.text
    (tmp_path / "elsewhere").rename(folder)
    assert store.close(stall_timeout=5)
    assert sorted(r["id"] for r in sqlite_utils.Database(folder / "cdr.db")["calls"].rows) == ["a", "b"]


def remove_database(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def test_a_database_file_removed_while_calls_run_is_created_again_with_their_rows(tmp_path: Path, caplog) -> None:
    path = tmp_path / "cdr.db"
    store = CdrStore(path, flush_interval=0.01)
    store.open()
    store.start()
    store.call_started(row("running"))
    store.call_started(row("ended"))
    store.call_ended("ended", {"status": "completed"})
    assert wait_until(lambda: store.written == 3)
    remove_database(path)  # by mistake, or a cleanup script: once every later row went to the removed file
    store.call_ended("running", {"status": "completed", "path": "answer:next"})
    store.call_started(row("new"))
    assert store.close()
    calls = {r["id"]: r["status"] for r in sqlite_utils.Database(path)["calls"].rows}
    assert calls == {"running": "completed", "new": "in_progress"}
    assert f"the CDR database {path} was removed while the server ran" in caplog.text


def test_a_database_file_replaced_while_calls_run_gets_their_rows(tmp_path: Path) -> None:
    path = tmp_path / "cdr.db"
    other = tmp_path / "restored.db"
    CdrStore(other).open()  # a backup with agiflow's tables, moved into place
    store = CdrStore(path, flush_interval=0.01)
    store.open()
    store.start()
    store.call_started(row("running"))
    assert wait_until(lambda: store.written == 1)
    remove_database(path)
    other.rename(path)
    store.call_ended("running", {"status": "completed"})
    assert store.close()
    assert [(r["id"], r["status"]) for r in sqlite_utils.Database(path)["calls"].rows] == [("running", "completed")]


def test_a_copy_of_the_database_put_in_its_place_while_a_call_runs_gets_the_calls_end(tmp_path: Path) -> None:
    """A copy taken while the call ran already holds its first row, which the
    writer writes there again with the call's end: the end was lost and
    the call stayed in progress."""
    path = tmp_path / "cdr.db"
    store = CdrStore(path, flush_interval=0.01)
    store.open()
    store.start()
    store.call_started(row("running"))
    assert wait_until(lambda: store.written == 1)
    copy = tmp_path / "copy.db"
    source = sqlite3.connect(path)
    source.backup(sqlite3.connect(copy))
    source.close()
    os.replace(copy, path)
    store.call_ended("running", {"status": "completed"})
    assert store.close()
    assert [(r["id"], r["status"]) for r in sqlite_utils.Database(path)["calls"].rows] == [("running", "completed")]


@pytest.mark.parametrize("how", ["replaced", "removed"])
def test_a_database_file_replaced_or_removed_alone_leaves_its_wal_out_of_the_next_file(tmp_path: Path, how: str) -> None:
    """``mv backup.db cdr.db`` or ``rm cdr.db`` takes the file and leaves its
    ``-wal`` at the path, full of the old file's pages: SQLite applied them
    to the file now at the path, which was then malformed (every later CDR
    unreadable). The old file gets its pages; the new one starts clean."""
    path = tmp_path / "cdr.db"
    store = CdrStore(path, flush_interval=0.01)
    store.open()
    store.start()
    for n in range(100):  # pages in the WAL, not yet in the file
        store.call_started({**row(f"old{n}"), "path": "x" * 2000})
        store.call_ended(f"old{n}", {"status": "completed"})
    store.call_started(row("running"))
    assert wait_until(lambda: store.written == 201)
    assert Path(f"{path}-wal").stat().st_size > 0
    os.link(path, tmp_path / "old.db")  # where the operator keeps the old file
    if how == "replaced":
        other = tmp_path / "restored.db"
        CdrStore(other).open()  # a database with agiflow's tables, moved into place
        os.replace(other, path)
    else:
        path.unlink()
    store.call_ended("running", {"status": "completed"})
    store.call_started(row("new"))
    store.call_ended("new", {"status": "completed"})
    assert store.close()
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    assert sorted(db.execute("SELECT id, status FROM calls")) == [("new", "completed"), ("running", "completed")]
    db.close()
    old = sqlite3.connect(tmp_path / "old.db")
    assert old.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    assert old.execute("SELECT count(*) FROM calls WHERE id LIKE 'old%' AND status = 'completed'").fetchall() == [(100,)]


def test_one_bad_row_in_a_batch_is_dropped_alone(tmp_path: Path, caplog) -> None:
    store = CdrStore(tmp_path / "cdr.db", flush_interval=0.2)
    store.open()
    store.start()
    store.call_started(row("a"))
    store.call_started({**row("c"), "call_id": None})  # NOT NULL: this row cannot be inserted
    store.call_started(row("b"))
    store.step_finished("b", {"seq": 1, "step": "answer", "outcome": "next"})
    assert store.close()
    db = sqlite_utils.Database(tmp_path / "cdr.db")
    assert sorted(r["id"] for r in db["calls"].rows) == ["a", "b"]
    assert db["call_steps"].count == 1
    assert "dropping CDR operation insert_call" in caplog.text


def test_full_disk_keeps_rows_until_space_is_freed(tiny_disk: Path, caplog) -> None:
    store = CdrStore(tiny_disk / "cdr.db", retry_delay=0.05, flush_interval=0.01)
    store.open()
    store.start()
    filler = fill(tiny_disk)
    for i in range(200):
        store.call_started({**row(f"call{i}"), "path": "x" * 2000})
    assert wait_until(lambda: store.failures >= 2)
    assert "full" in caplog.text
    filler.unlink()
    assert store.close(stall_timeout=5)
    assert sqlite_utils.Database(tiny_disk / "cdr.db")["calls"].count == 200


def traced_store(path: Path, flush_interval: float) -> tuple[CdrStore, list[str]]:
    """A started writer whose connection records every SQL statement it runs."""
    statements: list[str] = []

    def connect(database: str) -> sqlite3.Connection:
        conn = sqlite3.connect(database, isolation_level=None, check_same_thread=False)
        conn.set_trace_callback(statements.append)
        return conn

    store = CdrStore(path, flush_interval=flush_interval, connector=connect)
    store.open()
    store.start()
    return store, statements


def test_a_call_that_starts_and_ends_in_one_batch_is_written_by_one_insert(tmp_path: Path) -> None:
    store, statements = traced_store(tmp_path / "cdr.db", flush_interval=0.2)
    store.call_started(row("a"))
    store.step_finished("a", {"seq": 1, "step": "answer", "outcome": "next"})
    store.call_ended("a", {"status": "completed", "path": "answer:next", "ended_at": iso(1_800_000_001)})
    assert store.close()
    assert not [s for s in statements if s.startswith("UPDATE calls")]
    [call] = list(sqlite_utils.Database(tmp_path / "cdr.db")["calls"].rows)
    assert (call["status"], call["path"], call["ended_at"], call["flow"]) == (
        "completed", "answer:next", iso(1_800_000_001), "demo")


def test_a_call_that_ends_in_a_later_batch_is_updated(tmp_path: Path) -> None:
    store, statements = traced_store(tmp_path / "cdr.db", flush_interval=0.01)
    store.call_started(row("a"))
    deadline = time.monotonic() + 10
    while store.pending and time.monotonic() < deadline:
        time.sleep(0.01)
    [call] = list(sqlite_utils.Database(tmp_path / "cdr.db")["calls"].rows)
    assert call["status"] == "in_progress"
    store.call_ended("a", {"status": "completed"})
    assert store.close()
    assert [s for s in statements if s.startswith("UPDATE calls")]
    [call] = list(sqlite_utils.Database(tmp_path / "cdr.db")["calls"].rows)
    assert call["status"] == "completed"


def test_a_bad_end_of_a_call_keeps_the_row_its_start_wrote(tmp_path: Path, caplog) -> None:
    store = CdrStore(tmp_path / "cdr.db", flush_interval=0.2)
    store.open()
    store.start()
    store.call_started(row("a"))
    store.call_ended("a", {"status": "completed", "duration": object()})  # no SQLite type
    store.call_started(row("b"))
    store.call_ended("b", {"status": "completed"})
    assert store.close()
    statuses = {r["id"]: r["status"] for r in sqlite_utils.Database(tmp_path / "cdr.db")["calls"].rows}
    assert statuses == {"a": "in_progress", "b": "completed"}
    assert "dropping CDR operation update_call" in caplog.text


def test_only_running_calls_are_indexed_by_status(tmp_path: Path) -> None:
    path = tmp_path / "cdr.db"
    db = sqlite_utils.Database(path)
    db["calls"].create({"id": str, "call_id": str, "started_at": str, "status": str}, pk="id")
    db["calls"].create_index(["status"])  # what earlier versions created
    db.close()
    store = CdrStore(path)
    store.open()
    db = sqlite_utils.Database(path)
    indexes = {index.name: index for index in db["calls"].indexes}
    assert "idx_calls_status" not in indexes and "idx_calls_in_progress" in indexes
    plan = db.execute("EXPLAIN QUERY PLAN " + MARK_INTERRUPTED, {"interrupted": "x", "now": "y"}).fetchall()
    assert "idx_calls_in_progress" in str(plan)


#: What steps note in a CDR: JSON values, tuples, and objects JSON has no form for.
CDR_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text() | st.builds(object) | st.dates(),
    lambda inner: st.lists(inner, max_size=4) | st.tuples(inner, inner) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12)


@settings(max_examples=300, deadline=None)
@given(CDR_VALUES)
def test_cdr_values_are_the_json_that_json_dumps_writes(value: object) -> None:
    assert as_json(value) == json.dumps(value, sort_keys=True, default=str, ensure_ascii=False)
