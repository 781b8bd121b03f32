"""``agiflow serve`` as a real process for the integration tests: start it on a
temporary config, place simulated calls over TCP, read its CDRs back.

The port comes from the ``agiflow listening on`` log line; the ``servers``
fixture (registered in tests/conftest.py) stops every server a test started.
"""
from __future__ import annotations

import contextlib

import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agi.sim import CallerScript, EverySound, SimulatedAsterisk, make_environment, run_simulated_call
from agi.sim.client import SimulatedCallResult


REPO = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"
LISTENING = re.compile(r"agiflow listening on 127\.0\.0\.1:(\d+)")
#: The support flow when the caller presses 2, then a valid account number.
SUPPORT_PATH = ["answer", "welcome", "menu", "account", "tag_account", "support_queue",
                "queue_support", "goodbye", "hangup"]
#: Statuses a call may end with when the caller hangs up (never error or in_progress).
HANGUP_STATUSES = {"completed", "caller_hangup"}


# -- the server process ------------------------------------------------------

def write_config(folder: Path, **server: Any) -> Path:
    """A config in ``folder`` with its own flows folder (a copy of the shipped
    flows) and database; ``server`` overrides the server settings."""
    flows = folder / "flows"
    if not flows.exists():
        flows.mkdir(parents=True)
        for flow in sorted((REPO / "flows").glob("*.yaml")):
            shutil.copy(flow, flows / flow.name)
    settings = {"host": HOST, "port": 0, "env_timeout": 0.5, "watch_interval": 0.2,
                "drain_timeout": 10, **server}
    config = folder / "config.yaml"
    # JSON is YAML: no YAML writer needed.
    config.write_text(json.dumps({"server": settings, "flows": "flows", "database": "cdr.db",
                                  "log_level": "INFO"}, indent=2), encoding="utf-8")
    return config


class ServerProcess:
    """``agiflow serve -c CONFIG`` in a child process; stderr is collected
    line by line by a background thread so the child never blocks on it."""

    def __init__(self, config: Path) -> None:
        self.config = config
        self.folder = config.parent
        self.database = self.folder / "cdr.db"
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            [str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])])}
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "from agi.cli.main import cli; cli()", "serve", "-c", str(config)],
            cwd=self.folder, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.port = 0

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for raw in self.proc.stderr:
            self.lines.append(raw.decode("utf-8", "replace").rstrip("\n"))

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log(self, since: int = 0) -> str:
        return "\n".join(self.lines[since:])

    def mark(self) -> int:
        """Where the log is now: ``log(since=mark)`` is what came after."""
        return len(self.lines)

    def wait_for_log(self, pattern: str, since: int = 0, timeout: float = 20.0) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        regex = re.compile(pattern)
        while True:
            for line in self.lines[since:]:
                found = regex.search(line)
                if found:
                    return found
            if time.monotonic() > deadline:
                raise AssertionError(f"no log line matching {pattern!r} within {timeout}s; log:\n{self.log()}")
            time.sleep(0.02)

    def wait_listening(self, timeout: float = 60.0) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                found = LISTENING.search(line)
                if found:
                    self.port = int(found.group(1))
                    return self.port
            if self.proc.poll() is not None:
                self._reader.join(2)
                raise AssertionError(f"agiflow serve exited with {self.proc.returncode}; log:\n{self.log()}")
            time.sleep(0.02)
        raise AssertionError(f"agiflow serve did not listen within {timeout}s; log:\n{self.log()}")

    def wait_exit(self, timeout: float = 60.0) -> int:
        code = self.proc.wait(timeout)
        self._reader.join(2)
        return code

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it does not end; safe to call twice."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._reader.join(2)

    def pids(self) -> list[int]:
        """The server's processes: it, and its workers when it has several."""
        found = [self.pid]
        for pid in found:
            with contextlib.suppress(OSError):
                found += [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
        return found

    def cpu_seconds(self) -> float:
        """User + system CPU time the server's processes have used so far."""
        total = 0
        for pid in self.pids():
            with contextlib.suppress(OSError):
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])
        return total / os.sysconf("SC_CLK_TCK")

    def open_sockets(self) -> int:
        """Sockets the server's processes hold open (a worker opens its
        database files on its first call: only sockets tell connections)."""
        count = 0
        for pid in self.pids():
            with contextlib.suppress(OSError):
                for fd in os.listdir(f"/proc/{pid}/fd"):
                    with contextlib.suppress(OSError):
                        count += os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:")
        return count


@contextlib.contextmanager
def running_server(config: Path) -> Iterator[ServerProcess]:
    """``agiflow serve -c config``, listening, for the length of a with block."""
    process = ServerProcess(config)
    try:
        process.wait_listening()
        yield process
    finally:
        process.stop()


def start_server(folder: Path, **server: Any) -> ServerProcess:
    process = ServerProcess(write_config(folder, **server))
    try:
        process.wait_listening()
    except BaseException:
        process.stop()
        raise
    return process


@pytest.fixture
def servers() -> Iterator[list[ServerProcess]]:
    """Servers a test starts itself; all stopped at teardown."""
    started: list[ServerProcess] = []
    try:
        yield started
    finally:
        for process in started:
            process.stop()


# -- calls and CDRs -----------------------------------------------------------

_ids = iter(range(1, 1_000_000))


def new_uniqueid() -> str:
    return f"1795385106.{next(_ids)}"


def support_caller(**script: Any) -> CallerScript:
    """Presses 2 (support), then a valid account number; the queue times out."""
    return CallerScript(**{"dtmf": ["2", "12345678"], "sounds": EverySound(8000), **script})


def simulated(flow: str, uniqueid: str, script: CallerScript | None = None, **sim: Any) -> SimulatedAsterisk:
    env = make_environment(flow, uniqueid=uniqueid, callerid="+34600111222",
                           calleridname="Ana", dnid="912345678")
    return SimulatedAsterisk(env, script or CallerScript(sounds=EverySound(8000)), **sim)


def call(server: ServerProcess, sim: SimulatedAsterisk, timeout: float = 10.0) -> SimulatedCallResult:
    return run_simulated_call(HOST, server.port, sim, timeout=timeout)


def query(database: Path, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    if not database.exists():
        return []
    conn = sqlite3.connect(database, timeout=5)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(row) for row in conn.execute(sql, params)]
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return []
        raise
    finally:
        conn.close()


def call_rows(database: Path, uniqueid: str) -> list[dict[str, Any]]:
    return query(database, "SELECT * FROM calls WHERE call_id = ?", (uniqueid,))


def finished_cdr(database: Path, uniqueid: str, timeout: float = 20.0) -> list[dict[str, Any]]:
    """The CDR rows of a call once it has one that is no longer in progress
    (the writer thread is asynchronous); every row for that uniqueid."""
    deadline = time.monotonic() + timeout
    while True:
        rows = call_rows(database, uniqueid)
        if rows and all(r["status"] != "in_progress" for r in rows):
            return rows
        if time.monotonic() > deadline:
            return rows
        time.sleep(0.02)


def step_rows(database: Path, key: str) -> list[dict[str, Any]]:
    return query(database, "SELECT * FROM call_steps WHERE call = ? ORDER BY seq", (key,))


def error_lines(log: str) -> list[str]:
    return [line for line in log.splitlines() if "Traceback" in line or re.search(r"\bERROR\b", line)]


class HeldCall:
    """Asterisk over a raw socket that can hold back the reply to one
    command: a call that is in progress for as long as the test wants."""

    def __init__(self, port: int, sim: SimulatedAsterisk, flow: str, timeout: float = 15.0) -> None:
        self.sim = sim
        self.commands: list[str] = []
        self.buffer = b""
        self.sock = socket.create_connection((HOST, port), timeout=timeout)
        self.sock.sendall("".join(f"{line}\n" for line in sim.env_lines(flow)).encode())

    def next_command(self) -> str | None:
        """The next command line, or None once the server closed."""
        while b"\n" not in self.buffer:
            try:
                data = self.sock.recv(65536)
            except (ConnectionResetError, ConnectionAbortedError):
                data = b""
            if not data:
                return None
            self.buffer += data
        line, _, self.buffer = self.buffer.partition(b"\n")
        self.commands.append(line.decode())
        return self.commands[-1]

    def answer(self, command: str) -> None:
        self.sock.sendall("".join(f"{line}\n" for line in self.sim.handle(command)).encode())

    def hold_at(self, n: int) -> str:
        """Answer the first n-1 commands; return the n-th, unanswered."""
        for _ in range(n - 1):
            command = self.next_command()
            assert command is not None, f"server closed after {self.commands}"
            self.answer(command)
        command = self.next_command()
        assert command is not None, f"server closed after {self.commands}"
        return command

    def finish(self, pending: str) -> None:
        """Answer ``pending`` and every later command until the server closes
        the socket (socket.timeout if it never does)."""
        self.answer(pending)
        while (command := self.next_command()) is not None:
            self.answer(command)

    def close(self) -> None:
        self.sock.close()

def replace_file(path: Path, text: str) -> None:
    """Write atomically, as an editor or deployment would."""
    temporary = path.parent.parent / f"{path.name}.new"
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)
