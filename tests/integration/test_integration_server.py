"""``agiflow serve`` as a real process, driven over TCP by the Asterisk simulator.

Every test starts the server the way an operator does (``agiflow serve -c
config.yaml``) on a temporary config: port 0, a temporary CDR database, a
copy of the shipped flows. The port comes from the ``agiflow listening on``
log line; ``run_simulated_call`` then plays Asterisk exactly as in the real
transcripts. CDRs are read back from the SQLite file the server writes.
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
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from agi.sim import CallerScript, EverySound, SimulatedAsterisk, make_environment, run_simulated_call
from agi.sim.client import SimulatedCallResult

pytestmark = pytest.mark.integration

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

    def wait_for_log(self, pattern: str, since: int = 0, timeout: float = 5.0) -> re.Match[str]:
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

    def wait_listening(self, timeout: float = 20.0) -> int:
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

    def wait_exit(self, timeout: float = 15.0) -> int:
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


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server shared by the tests that only make calls."""
    process = start_server(tmp_path_factory.mktemp("shared"))
    try:
        yield process
    finally:
        process.stop()


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


def finished_cdr(database: Path, uniqueid: str, timeout: float = 5.0) -> list[dict[str, Any]]:
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


# -- calls against the shared server -------------------------------------------

def test_support_call_completes_closes_socket_and_writes_cdr_with_steps(server: ServerProcess) -> None:
    uniqueid = new_uniqueid()
    sim = simulated("support", uniqueid, support_caller())

    result = call(server, sim)

    assert result.closed_by_server and not result.timed_out, result
    assert not result.pipelined
    assert sim.variables.get("AGIFLOW_STATUS") == "completed"
    assert sim.variables.get("QUEUESTATUS") == "TIMEOUT"
    [row] = finished_cdr(server.database, uniqueid)
    assert row["status"] == "completed"
    assert row["flow"] == "support" and row["requested_flow"] == "support"
    assert row["caller"] == "+34600111222" and row["caller_name"] == "Ana"
    assert row["called"] == "912345678"
    assert row["ended_at"] and row["answered_at"] and row["started_at"] <= row["ended_at"]
    steps = step_rows(server.database, row["id"])
    assert [s["step"] for s in steps] == SUPPORT_PATH
    assert [s["seq"] for s in steps] == list(range(1, len(SUPPORT_PATH) + 1))
    assert row["steps"] == len(steps)
    assert row["path"] == " > ".join(f"{s['step']}:{s['outcome']}" for s in steps)
    assert row["path"].startswith("answer:next > welcome:next > menu:2 > account:next")
    assert json.loads(row["fields"]) == {"account": "12345678", "department": "support"}


@pytest.mark.parametrize("notice", ["transcript", "after_reply", "before_next_reply"])
def test_caller_hanging_up_at_every_step_of_support_leaves_one_complete_cdr_and_a_closed_socket(
        server: ServerProcess, notice: str) -> None:
    """Hang up before the first command (0) and during each command 1..N of
    a full support call; ``notice`` is where Asterisk puts its HANGUP line."""
    since = server.mark()
    full = call(server, simulated("support", new_uniqueid(), support_caller()))
    assert full.closed_by_server and not full.timed_out, full
    n = len(full.commands)
    assert n >= len(SUPPORT_PATH)

    problems: list[str] = []
    uniqueids = []
    for k in range(0, n + 1):
        uniqueid = new_uniqueid()
        uniqueids.append(uniqueid)
        sim = simulated("support", uniqueid, support_caller(hangup_during=k), hangup_notice=notice)
        result = call(server, sim, timeout=5)
        if not result.closed_by_server or result.timed_out:
            problems.append(f"hangup during command {k}: socket not closed by the server "
                            f"(timed out: {result.timed_out}) after {result.commands}")
        elif result.seconds > 0.5:
            problems.append(f"hangup during command {k}: socket closed only after {result.seconds:.2f}s")
        if result.pipelined:
            problems.append(f"hangup during command {k}: pipelined {result.pipelined}")
        rows = finished_cdr(server.database, uniqueid)
        if len(rows) != 1:
            problems.append(f"hangup during command {k}: {len(rows)} CDR rows")
        for row in rows:
            if row["status"] not in HANGUP_STATUSES or not row["ended_at"]:
                problems.append(f"hangup during command {k}: CDR status {row['status']!r}, "
                                f"ended_at {row['ended_at']!r}, error {row['error']!r}, path {row['path']!r}; "
                                f"commands {result.commands}")
    for uniqueid in uniqueids:
        server.wait_for_log(rf"\[{re.escape(uniqueid)} support\] call ended", since=since)
    problems += [f"log: {line}" for line in error_lines(server.log(since))]
    assert not problems, "\n".join(problems)


def test_twenty_concurrent_calls_all_complete_and_leave_twenty_cdrs(server: ServerProcess) -> None:
    uniqueids = [new_uniqueid() for _ in range(20)]
    sims = [simulated("support", u, support_caller()) for u in uniqueids]
    barrier = threading.Barrier(len(sims))

    def one(sim: SimulatedAsterisk) -> SimulatedCallResult:
        barrier.wait(10)
        return call(server, sim, timeout=20)

    with ThreadPoolExecutor(max_workers=len(sims)) as pool:
        results = list(pool.map(one, sims))

    assert all(r.closed_by_server and not r.timed_out for r in results), results
    assert all(s.variables.get("AGIFLOW_STATUS") == "completed" for s in sims)
    statuses = {u: [r["status"] for r in finished_cdr(server.database, u)] for u in uniqueids}
    assert statuses == {u: ["completed"] for u in uniqueids}


def test_half_environments_silent_clients_and_port_probes_leave_no_cdr_and_no_busy_loop(
        server: ServerProcess) -> None:
    since = server.mark()
    before = query(server.database, "SELECT count(*) AS n FROM calls")[0]["n"]

    half = run_simulated_call(HOST, server.port, simulated("support", new_uniqueid()),
                              timeout=5, close_after_env_lines=5)
    assert not half.environment_sent

    silent = socket.create_connection((HOST, server.port), timeout=5)
    started = time.monotonic()
    try:
        data = silent.recv(1024)
    except ConnectionResetError:
        data = b""
    silent_for = time.monotonic() - started
    silent.close()
    assert data == b"" and 0.3 <= silent_for < 2.0, f"silent client closed after {silent_for:.2f}s with {data!r}"

    for n in range(500):
        probe = socket.create_connection((HOST, server.port), timeout=5)
        if n % 2:  # a port scanner resets, a health check closes cleanly
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        probe.close()

    uniqueid = new_uniqueid()
    sim = simulated("support", uniqueid, support_caller())
    result = call(server, sim)
    assert result.closed_by_server and not result.timed_out, result
    assert [r["status"] for r in finished_cdr(server.database, uniqueid)] == ["completed"]
    after = query(server.database, "SELECT count(*) AS n FROM calls")[0]["n"]
    assert after - before == 1, "connections that never sent a whole environment left CDR rows"

    time.sleep(0.3)
    cpu = server.cpu_seconds()
    time.sleep(1.0)
    idle_cpu = server.cpu_seconds() - cpu
    assert idle_cpu <= 0.15, f"server used {idle_cpu:.2f}s of CPU in 1s of idleness: a busy loop"
    assert server.proc.poll() is None
    assert "Traceback" not in server.log(since)


def test_unknown_flow_sets_agiflow_status_closes_and_writes_cdr(server: ServerProcess) -> None:
    uniqueid = new_uniqueid()
    sim = simulated("no_such_flow", uniqueid)

    result = call(server, sim)

    assert result.closed_by_server and not result.timed_out, result
    assert sim.variables.get("AGIFLOW_STATUS") == "unknown_flow"
    [row] = finished_cdr(server.database, uniqueid)
    assert row["status"] == "unknown_flow"
    assert row["requested_flow"] == "no_such_flow"
    assert row["ended_at"]


# -- reload ---------------------------------------------------------------------

CLOSED_V2 = "agiflow/office-closed-v2"


def played(result: SimulatedCallResult) -> list[str]:
    return [c for c in result.commands if c.upper().startswith("STREAM FILE")]


def closed_call(server: ServerProcess) -> SimulatedCallResult:
    result = call(server, simulated("closed", new_uniqueid()))
    assert result.closed_by_server and not result.timed_out, result
    return result


def replace_file(path: Path, text: str) -> None:
    """Write atomically, as an editor or deployment would."""
    temporary = path.parent.parent / f"{path.name}.new"
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def broken_closed_flow(original: str) -> tuple[str, int]:
    """closed.yaml with a dangling ``next``; the text and the line of the error."""
    text = original.replace("next: bye", "next: byee", 1)
    line = next(i for i, l in enumerate(text.splitlines(), 1) if "next: byee" in l)
    return text, line


def test_changed_flow_file_is_used_by_new_calls_and_an_invalid_one_is_reported_and_ignored(
        tmp_path: Path, servers: list[ServerProcess]) -> None:
    process = start_server(tmp_path, watch_interval=0.2)
    servers.append(process)
    flow = tmp_path / "flows" / "closed.yaml"
    original = flow.read_text(encoding="utf-8")
    assert not any(CLOSED_V2 in c for c in played(closed_call(process)))

    replace_file(flow, original.replace("agiflow/office-closed", CLOSED_V2))
    deadline = time.monotonic() + 3
    while not any(CLOSED_V2 in c for c in played(closed_call(process))):
        assert time.monotonic() < deadline, f"new calls still use the old flow; log:\n{process.log()}"
        time.sleep(0.1)

    since = process.mark()
    broken, line = broken_closed_flow(original)
    replace_file(flow, broken)
    process.wait_for_log(rf"closed\.yaml:{line}: .*byee", since=since, timeout=3)
    process.wait_for_log(r"flows not reloaded", since=since, timeout=3)
    assert any(CLOSED_V2 in c for c in played(closed_call(process))), "the old flows were dropped"
    uniqueid = new_uniqueid()
    support = call(process, simulated("support", uniqueid, support_caller()))
    assert support.closed_by_server and not support.timed_out
    assert [r["status"] for r in finished_cdr(process.database, uniqueid)] == ["completed"]
    assert process.proc.poll() is None
    assert "Traceback" not in process.log()


def test_sighup_reloads_the_flows(tmp_path: Path, servers: list[ServerProcess]) -> None:
    process = start_server(tmp_path, watch_interval=0)
    servers.append(process)
    flow = tmp_path / "flows" / "closed.yaml"
    assert not any(CLOSED_V2 in c for c in played(closed_call(process)))

    replace_file(flow, flow.read_text(encoding="utf-8").replace("agiflow/office-closed", CLOSED_V2))
    time.sleep(0.4)
    assert not any(CLOSED_V2 in c for c in played(closed_call(process))), \
        "watch_interval 0 should reload only on SIGHUP"
    since = process.mark()
    process.proc.send_signal(signal.SIGHUP)
    process.wait_for_log(r"loaded \d+ flows", since=since, timeout=3)

    assert any(CLOSED_V2 in c for c in played(closed_call(process)))
    assert process.proc.poll() is None


# -- start and stop ---------------------------------------------------------------

def test_serve_refuses_to_start_on_an_invalid_flow_and_prints_file_line_message(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    flow = tmp_path / "flows" / "closed.yaml"
    broken, line = broken_closed_flow(flow.read_text(encoding="utf-8"))
    flow.write_text(broken, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(REPO)}

    done = subprocess.run(
        [sys.executable, "-c", "from agi.cli.main import cli; cli()", "serve", "-c", str(config)],
        cwd=tmp_path, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30)

    assert done.returncode == 1, done.stderr
    assert re.search(rf"{re.escape(str(flow))}:{line}: \S.*byee", done.stderr), done.stderr
    assert "listening" not in done.stderr
    assert "Traceback" not in done.stderr


def test_sigterm_stops_accepting_lets_the_running_call_finish_and_exits_0(
        tmp_path: Path, servers: list[ServerProcess]) -> None:
    process = start_server(tmp_path, drain_timeout=10)
    servers.append(process)
    uniqueid = new_uniqueid()
    held = HeldCall(process.port, simulated("support", uniqueid, support_caller()), "support")
    try:
        pending = held.hold_at(3)
        assert pending.upper().startswith("GET DATA")

        process.proc.send_signal(signal.SIGTERM)
        process.wait_for_log(r"draining 1 calls", timeout=5)
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((HOST, process.port), timeout=2).close()
        assert process.proc.poll() is None, "the server exited with a call in progress"

        held.finish(pending)
    finally:
        held.close()
    assert held.sim.variables.get("AGIFLOW_STATUS") == "completed"
    assert process.wait_exit() == 0, process.log()
    assert [r["status"] for r in call_rows(process.database, uniqueid)] == ["completed"]
    assert "Traceback" not in process.log()


def test_calls_cut_by_a_killed_server_are_marked_interrupted_by_the_next_one(
        tmp_path: Path, servers: list[ServerProcess]) -> None:
    first = start_server(tmp_path)
    servers.append(first)
    uniqueid = new_uniqueid()
    held = HeldCall(first.port, simulated("support", uniqueid, support_caller()), "support")
    try:
        held.hold_at(3)
        deadline = time.monotonic() + 5
        while [r["status"] for r in call_rows(first.database, uniqueid)] != ["in_progress"]:
            assert time.monotonic() < deadline, "the call's CDR row was never written"
            time.sleep(0.02)
        first.proc.kill()
        first.wait_exit()
    finally:
        held.close()

    second = ServerProcess(first.config)
    servers.append(second)
    second.wait_listening()
    [row] = call_rows(second.database, uniqueid)
    assert row["status"] == "interrupted"
    assert row["ended_at"]
    second.wait_for_log(r"marked 1 calls? .*interrupted")


def test_sigterm_cuts_a_call_still_running_at_drain_timeout_and_its_cdr_says_interrupted(
        tmp_path: Path, servers: list[ServerProcess]) -> None:
    process = start_server(tmp_path, drain_timeout=0.5)
    servers.append(process)
    uniqueid = new_uniqueid()
    held = HeldCall(process.port, simulated("support", uniqueid, support_caller()), "support")
    try:
        held.hold_at(3)
        process.proc.send_signal(signal.SIGTERM)
        process.wait_for_log(r"draining 1 calls", timeout=5)
        started = time.monotonic()
        assert held.next_command() is None, "the server kept the call after drain_timeout"
        assert time.monotonic() - started < 3
    finally:
        held.close()
    assert process.wait_exit() == 0, process.log()
    [row] = call_rows(process.database, uniqueid)
    assert row["status"] == "interrupted" and row["ended_at"], row
    assert "Traceback" not in process.log()
