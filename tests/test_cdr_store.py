"""CDRs land in a real SQLite file, from a background thread, and survive
trouble: a locked database delays them, a killed server leaves its calls
marked interrupted."""
from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import sqlite_utils

from agi.cdr.store import CdrStore, iso


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
