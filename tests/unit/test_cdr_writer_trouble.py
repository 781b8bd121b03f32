"""The CDR writer on a hostile disk: a small disk its own WAL fills up,
database files made immutable, a database down for longer than the queue
holds. Nothing that fits in the queue is lost; beyond it, whole calls are
left out and counted."""
from __future__ import annotations

import logging
import os
import shutil
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlite_utils

from agi.lists.numbers import Normaliser
from agi.storage.cdr_writer import CdrStore, iso
from agi.db.sqlite_files import attribute_problem, guard_against_sigbus


def call(store: CdrStore, key: str, path: str = "answer:next") -> None:
    store.call_started({"id": key, "call_id": f"1795385106.{key}", "started_at": iso(1_800_000_000),
                        "status": "in_progress", "path": path})
    store.step_finished(key, {"seq": 1, "step": "answer", "outcome": "next", "details": "{}"})
    store.call_ended(key, {"status": "completed"})


def wait_until(condition, timeout: float = 5.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_a_wal_that_filled_a_small_disk_gives_its_room_back_and_every_row_is_written_once_space_returns(
        tiny_disk: Path, caplog: pytest.LogCaptureFixture) -> None:
    filler = tiny_disk / "filler"
    filler.write_bytes(b"\0" * 1_000_000)  # half the disk; the WAL fills the rest
    store = CdrStore(tiny_disk / "cdr.db", retry_delay=0.05, flush_interval=0.01)
    store.open()
    store.start()
    for n in range(1500):
        call(store, f"c{n}", "p" * 300)
        if n % 100 == 0:
            time.sleep(0.01)
    assert wait_until(lambda: "full" in caplog.text)
    filler.unlink()
    assert store.close(stall_timeout=5)
    db = sqlite_utils.Database(tiny_disk / "cdr.db")
    assert (db["calls"].count, db["call_steps"].count) == (1500, 1500)
    assert {row["status"] for row in db["calls"].rows} == {"completed"}


def test_a_queue_full_while_the_database_is_locked_keeps_what_fits_and_leaves_out_whole_new_calls(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "cdr.db"
    store = CdrStore(path, retry_delay=0.05, flush_interval=0.01, max_pending=30)
    store.open()
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    store.start()
    for n in range(10):
        call(store, f"a{n}")  # 30 operations: they fit
    store.call_started({"id": "late", "call_id": "1795385106.late", "started_at": iso(1_800_000_000),
                        "status": "in_progress"})
    store.step_finished("late", {"seq": 1, "step": "answer", "outcome": "next"})
    store.call_ended("late", {"status": "completed"})
    store.submit("insert_callback", {"number": "+34600111222", "requested_at": iso(1_800_000_000)})
    assert store.pending == 30
    assert "the CDR queue is full (30 operations" in caplog.text
    blocker.execute("COMMIT")
    blocker.close()
    assert store.close(stall_timeout=5) is False
    assert "1 calls got no CDR, 4 operations dropped" in caplog.text
    db = sqlite_utils.Database(path)
    assert sorted(r["id"] for r in db["calls"].rows) == [f"a{n}" for n in range(10)]
    assert db["call_steps"].count == 10 and db["callbacks"].count == 0


def test_a_call_whose_start_was_queued_keeps_every_row_even_past_the_limit(tmp_path: Path) -> None:
    path = tmp_path / "cdr.db"
    store = CdrStore(path, retry_delay=0.05, flush_interval=0.01, max_pending=2)
    store.open()
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    store.start()
    call(store, "kept")  # its start fits; its step and end follow it past the limit
    blocker.execute("COMMIT")
    blocker.close()
    assert store.close(stall_timeout=5)
    db = sqlite_utils.Database(path)
    assert [(r["id"], r["status"]) for r in db["calls"].rows] == [("kept", "completed")]
    assert db["call_steps"].count == 1


@pytest.fixture
def chattr(tmp_path: Path) -> Iterator[list[Path]]:
    """Files the test makes immutable; made mutable again at teardown."""
    if os.geteuid() != 0 or shutil.which("chattr") is None:
        pytest.skip("chattr +i needs root and e2fsprogs")
    probe = tmp_path / "probe"
    probe.touch()
    if subprocess.run(["chattr", "+i", str(probe)], capture_output=True).returncode:
        pytest.skip("this file system has no immutable attribute")
    subprocess.run(["chattr", "-i", str(probe)], check=True)
    files: list[Path] = []
    yield files
    subprocess.run(["chattr", "-i", "-a", *map(str, files)], check=False)


@pytest.mark.parametrize("flag, word", [("+i", "immutable"), ("+a", "append-only")])
def test_immutable_and_append_only_database_files_are_named(
        tmp_path: Path, chattr: list[Path], flag: str, word: str) -> None:
    db = tmp_path / "cdr.db"
    db.touch()
    assert attribute_problem(str(db)) is None
    chattr.append(db)
    subprocess.run(["chattr", flag, str(db)], check=True)
    assert attribute_problem(str(db)) == f"{db} is {word} (chattr {flag})"


def test_the_writer_leaves_immutable_database_files_alone_and_writes_their_rows_once_they_are_not(
        tmp_path: Path, chattr: list[Path], caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "cdr.db"
    guard_against_sigbus(str(path))  # as agiflow serve does, should a file change between check and write
    store = CdrStore(path, retry_delay=0.05, flush_interval=0.01)
    store.open()
    store.start()
    call(store, "before")
    assert wait_until(lambda: store.pending == 0)
    chattr.extend(tmp_path / name for name in ("cdr.db", "cdr.db-wal", "cdr.db-shm") if (tmp_path / name).exists())
    subprocess.run(["chattr", "+i", *map(str, chattr)], check=True)
    with caplog.at_level(logging.ERROR, logger="agiflow.cdr"):
        call(store, "during")
        assert wait_until(lambda: "immutable (chattr +i): not touched until it is writable" in caplog.text)
        assert store.pending == 3 and store.written == 3
    subprocess.run(["chattr", "-i", *map(str, chattr)], check=True)
    assert store.close(stall_timeout=5)
    assert sorted(r["id"] for r in sqlite_utils.Database(path)["calls"].rows) == ["before", "during"]


def test_list_lookups_and_schedule_overrides_leave_an_immutable_database_alone(
        tmp_path: Path, chattr: list[Path]) -> None:
    from datetime import datetime, timezone

    from agi.lists.admin import ListAdmin
    from agi.lists.store import server_lists
    from agi.services import ListUnavailable, OverridesUnavailable
    from agi.storage.overrides import server_overrides
    path = tmp_path / "cdr.db"
    with ListAdmin(path) as admin:
        admin.add("robinson", Normaliser("ES").entry("+34600111222"))
    lists, overrides = server_lists(path, "ES"), server_overrides(path)
    assert lists.match("robinson", "600111222") is not None
    chattr.extend(tmp_path / name for name in ("cdr.db", "cdr.db-wal", "cdr.db-shm") if (tmp_path / name).exists())
    subprocess.run(["chattr", "+i", *map(str, chattr)], check=True)
    with pytest.raises(ListUnavailable, match="immutable"):
        lists.match("robinson", "600111222")
    with pytest.raises(OverridesUnavailable, match="immutable"):
        overrides.active("support", datetime(2025, 3, 10, tzinfo=timezone.utc))
    subprocess.run(["chattr", "-i", *map(str, chattr)], check=True)
    assert lists.match("robinson", "600111222") is not None


def test_the_log_counts_the_trouble_from_the_write_that_waited_for_it(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A write that waits for a lock (SQLite's busy timeout, PostgreSQL's
    30 s statement timeout) before it fails is trouble from its start: the
    log said ``for 0s`` after 30 s of a locked table, and ``writable again
    after 5s`` after 35 s."""
    path = tmp_path / "cdr.db"
    store = CdrStore(path, retry_delay=0.05, flush_interval=0.01, busy_timeout=1.0)
    store.open()
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    store.start()
    call(store, "a")
    assert wait_until(lambda: "cannot write CDRs" in caplog.text)
    blocker.execute("COMMIT")
    blocker.close()
    assert store.close(stall_timeout=5)
    assert "(database is locked) for 1s" in caplog.text
    again = [r.getMessage() for r in caplog.records if "writable again" in r.getMessage()]
    assert again and not again[0].startswith("CDR database writable again after 0s")
