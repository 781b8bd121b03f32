"""``agiflow serve`` under twenty callers while its database's disk turns
hostile: a 2 MB disk that fills up, database files made immutable. Calls
go on, the server never dies, and every call that ended has its CDR once
the disk takes writes again. Needs root (a tmpfs, chattr); skipped otherwise.
"""
from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.server_process import (REPO, ServerProcess, call, new_uniqueid, query, simulated, start_server,
                                    support_caller)

pytestmark = pytest.mark.integration


class Callers:
    """Twenty callers calling the support flow one call after another,
    until stopped or, with ``each``, after that many calls each."""

    def __init__(self, server: ServerProcess, count: int = 20, each: int | None = None) -> None:
        self.server = server
        self.each = each
        self.made: list[tuple[str, Any, Any]] = []
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._call) for _ in range(count)]
        for thread in self.threads:
            thread.start()

    def _call(self) -> None:
        for _ in range(self.each or sys.maxsize):
            if self.stop.is_set():
                return
            uniqueid = new_uniqueid()
            sim = simulated("support", uniqueid, support_caller())
            self.made.append((uniqueid, call(self.server, sim), sim.variables.get("AGIFLOW_STATUS")))

    def finish(self) -> list[tuple[str, Any, Any]]:
        """Stop calling (or, with ``each``, let every caller make its calls); the calls made."""
        if self.each is None:
            self.stop.set()
        for thread in self.threads:
            thread.join(30)
        return self.made


def without_cdr(server: ServerProcess, made: list[tuple[str, Any, Any]]) -> list[str]:
    rows = {row["call_id"]: row["status"] for row in query(server.database, "SELECT call_id, status FROM calls")}
    return [uniqueid for uniqueid, *_ in made if rows.get(uniqueid) != "completed"]


def test_twenty_callers_on_a_small_disk_that_fills_up_lose_no_cdr_once_space_returns(
        tiny_disk: Path, servers: list[ServerProcess]) -> None:
    """400 calls' CDRs (about 1.2 MB: a support call queues with the queue
    step and its columns) on a 2 MB disk with 700 KB free: the
    WAL fills the disk, the calls go on, and once the filler is gone every
    CDR is written (a WAL checkpointed only every 4 MB filled the disk
    again, and nothing more was ever written)."""
    process = start_server(tiny_disk)
    servers.append(process)
    filler = tiny_disk / "filler"
    filler.write_bytes(b"\0" * 1_200_000)
    since = process.mark()
    made = Callers(process, each=20).finish()
    assert len(made) == 400
    assert all(r.closed_by_server and status == "completed" for _, r, status in made), made[:2]
    process.wait_for_log(r"cannot write CDRs .*full", since=since, timeout=10)
    filler.unlink()
    process.wait_for_log(r"CDR database writable again", since=since, timeout=15)
    process.stop()
    assert process.proc.returncode == 0, process.log()[-2000:]
    assert without_cdr(process, made) == []


@pytest.fixture
def immutable(tmp_path: Path) -> Iterator[list[str]]:
    if os.geteuid() != 0:
        pytest.skip("chattr +i needs root")
    files: list[str] = []
    yield files
    subprocess.run(["chattr", "-i", *files], check=False)


def test_database_files_made_immutable_under_load_never_kill_the_server_and_their_cdrs_follow(
        tmp_path: Path, servers: list[ServerProcess], immutable: list[str]) -> None:
    process = start_server(tmp_path)
    servers.append(process)
    callers = Callers(process)
    time.sleep(0.5)
    immutable.extend(str(tmp_path / name) for name in ("cdr.db", "cdr.db-wal", "cdr.db-shm"))
    for _ in range(4):
        if subprocess.run(["chattr", "+i", *immutable], capture_output=True).returncode:
            pytest.skip("this file system has no immutable attribute")
        os.sync()  # written back: the next write to the mapped -shm faults
        time.sleep(0.4)
        assert process.proc.poll() is None, process.log()[-2000:]
        subprocess.run(["chattr", "-i", *immutable], check=True)
        time.sleep(0.2)
    made = callers.finish()
    assert all(r.closed_by_server and status == "completed" for _, r, status in made), made[:2]
    process.stop()
    assert process.proc.returncode == 0, process.log()[-2000:]
    assert without_cdr(process, made) == []
    assert "immutable (chattr +i)" in process.log()


def test_a_sigbus_from_a_database_file_made_immutable_waits_for_it_instead_of_killing(tmp_path: Path,
                                                                                     immutable: list[str]) -> None:
    """The race the check before each use cannot close: the file becomes
    immutable while a transaction runs."""
    script = textwrap.dedent(f"""
        import os, sqlite3, subprocess, threading, time
        from agi.db.sqlite_files import guard_against_sigbus
        path = {str(tmp_path / "t.db")!r}
        assert guard_against_sigbus(path)
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("CREATE TABLE t (x)")
        conn.execute("INSERT INTO t VALUES (1)")
        subprocess.run(["chattr", "+i", path + "-shm"], check=True)
        os.sync()
        threading.Timer(1.0, subprocess.run, (["chattr", "-i", path + "-shm"],)).start()
        for n in range(100):
            conn.execute("INSERT INTO t VALUES (?)", (n,))
        print(conn.execute("SELECT count(*) FROM t").fetchone()[0])
    """)
    immutable.append(str(tmp_path / "t.db-shm"))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=30,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert (done.returncode, done.stdout.strip()) == (0, "101"), done.stderr[-2000:]
    assert "SIGBUS" in done.stderr and "is immutable (chattr +i)" in done.stderr


def test_checking_the_files_attributes_keeps_every_lock_sqlite_holds_on_them(tmp_path: Path) -> None:
    """Closing any descriptor of a database file drops the POSIX locks the
    process holds on it: the check must never open the files."""
    from agi.db.sqlite_files import attribute_problem
    path = tmp_path / "cdr.db"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("CREATE TABLE t (x)")
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("INSERT INTO t VALUES (1)")
    assert attribute_problem(str(path)) is None
    other = subprocess.run([sys.executable, "-c", textwrap.dedent(f"""
        import sqlite3
        conn = sqlite3.connect({str(path)!r}, timeout=0, isolation_level=None)
        try:
            conn.execute("BEGIN IMMEDIATE")
            print("took the write lock")
        except sqlite3.OperationalError as exc:
            print(exc)
    """)], capture_output=True, text=True, timeout=30)
    conn.execute("COMMIT")
    assert other.stdout.strip() == "database is locked"
