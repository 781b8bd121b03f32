"""Faults and bad input against ``agiflow serve`` over real TCP.

Each test plays a misbehaving Asterisk, client or database against a real
server process (the one docs/robustness.md maps to the faults of
FASTAGI_PROTOCOL.md). After every fault the server must keep serving other
calls, close the socket of the call it ended, leave exactly one CDR row for
a call that reached a flow, and use no CPU while idle. The server process
helpers come from support/server_process.py.
"""
from __future__ import annotations

import os
import signal
import socket
import sqlite3
import struct
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from support.server_process import (HOST, HeldCall, ServerProcess, call, error_lines, finished_cdr, new_uniqueid,
                                    query, replace_file, simulated, start_server, support_caller, write_config)
from support.tinydisk import fill

from agi.sim import run_simulated_call

pytestmark = pytest.mark.integration

SET_STATUS = 'SET VARIABLE "AGIFLOW_STATUS"'


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    process = start_server(tmp_path_factory.mktemp("faults"), max_reply_line=8192)
    try:
        yield process
    finally:
        process.stop()


class Asterisk(HeldCall):
    """A support call over a raw socket: the simulator answers, except the
    commands numbered in ``replies`` (1-based), which get those bytes."""

    def __init__(self, port: int, uniqueid: str, replies: dict[int, bytes] | None = None, **sim: Any) -> None:
        super().__init__(port, simulated("support", uniqueid, support_caller(), **sim), "support", timeout=5)
        self.replies = replies or {}

    def answer(self, command: str) -> None:
        own = self.replies.get(len(self.commands))
        if own is None:
            super().answer(command)
        else:
            self.sim.handle(command)  # keep the simulator's count of commands
            self.sock.sendall(own)

    def run(self) -> list[str]:
        """Answer until the server closes; the commands it sent."""
        first = self.next_command()
        if first is not None:
            self.finish(first)
        self.close()
        return self.commands

    def silent_for(self, seconds: float) -> bool:
        """True when the server sends nothing for ``seconds``."""
        self.sock.settimeout(seconds)
        try:
            return not self.sock.recv(1, socket.MSG_PEEK)
        except socket.timeout:
            return True
        finally:
            self.sock.settimeout(5)


def one_row(server: ServerProcess, uniqueid: str) -> dict[str, Any]:
    rows = finished_cdr(server.database, uniqueid)
    assert len(rows) == 1, f"{len(rows)} CDR rows for {uniqueid}"
    return rows[0]


def still_serves(server: ServerProcess) -> None:
    uniqueid = new_uniqueid()
    result = call(server, simulated("support", uniqueid, support_caller()))
    assert result.closed_by_server and not result.timed_out, result
    assert one_row(server, uniqueid)["status"] == "completed"


# -- HANGUP lines --------------------------------------------------------------

def test_hangup_right_after_the_environment_ends_the_call_at_its_first_command(server: ServerProcess) -> None:
    """The HANGUP line comes in the same segment as the environment; the
    first command (already on its way) gets Asterisk's dead-channel 511."""
    uniqueid = new_uniqueid()
    sim = simulated("support", uniqueid)
    with socket.create_connection((HOST, server.port), timeout=5) as sock:
        sock.sendall("".join(f"{line}\n" for line in sim.env_lines("support")).encode() + b"HANGUP\n")
        reader = sock.makefile("rb")
        assert reader.readline() == b"ANSWER\n"
        sock.sendall(b"511 Command Not Permitted on a dead channel or intercept routine\n")
        assert reader.readline() == b'GET VARIABLE "HANGUPCAUSE"\n'
        sock.sendall(b"200 result=1 (16)\n")
        assert reader.readline().decode().startswith(SET_STATUS + ' "caller_hangup"')
        sock.sendall(b"200 result=1\n")
        assert reader.read() == b"", "the server must close after the dead-channel status"
    row = one_row(server, uniqueid)
    assert row["status"] == "caller_hangup" and row["path"] == "answer:hangup" and row["hangup_cause"] == "16"


def test_two_hangup_lines_before_a_reply_leave_later_replies_in_step(server: ServerProcess) -> None:
    uniqueid = new_uniqueid()
    asterisk = Asterisk(server.port, uniqueid, {2: b"HANGUP\nHANGUP\n200 result=-1 endpos=1200\n", 3: b"200 result=1\n"})
    commands = asterisk.run()
    assert commands[:2] == ["ANSWER", 'STREAM FILE "agiflow/welcome" ""']
    assert commands[2:] == ['GET VARIABLE "HANGUPCAUSE"', SET_STATUS + ' "caller_hangup"']
    row = one_row(server, uniqueid)
    assert row["status"] == "caller_hangup" and row["path"] == "answer:next > welcome:hangup"


def test_511_after_a_hangup_asterisk_did_not_announce_ends_the_call(server: ServerProcess) -> None:
    """AGISIGHUP=no: no HANGUP line, only a failed prompt and then 511."""
    uniqueid = new_uniqueid()
    sim = simulated("support", uniqueid, support_caller(hangup_during=3), variables={"AGISIGHUP": "no"})
    result = call(server, sim)
    assert result.closed_by_server and not result.timed_out and not result.pipelined, result
    assert any(line.startswith("511") for _, answer in sim.log for line in answer)
    row = one_row(server, uniqueid)
    assert row["status"] == "caller_hangup" and row["ended_at"]


# -- 520 usage replies -----------------------------------------------------------

USAGE = (b"520-Invalid command syntax.  Proper usage follows:\n"
         b"Stream the given file, and receive DTMF data.\n"
         b"520 End of proper usage.\n")


def test_multi_line_520_is_read_to_its_last_line_before_the_next_command(server: ServerProcess) -> None:
    uniqueid = new_uniqueid()
    first, rest = USAGE.split(b"\n", 1)
    asterisk = Asterisk(server.port, uniqueid, {2: first + b"\n"})
    asterisk.answer(asterisk.hold_at(1))
    asterisk.answer(asterisk.hold_at(1))  # the first line of the usage only
    assert asterisk.silent_for(0.3), "the server sent a command before the 520 reply was complete"
    asterisk.sock.sendall(rest)
    commands = asterisk.run()
    assert commands[2:] == [SET_STATUS + ' "error"']
    row = one_row(server, uniqueid)
    assert row["status"] == "error" and row["path"] == "answer:next > welcome:error" and "520" in row["error"]


def test_single_line_520_is_a_whole_reply(server: ServerProcess) -> None:
    uniqueid = new_uniqueid()
    asterisk = Asterisk(server.port, uniqueid, {2: b"520 Invalid command syntax.  Proper usage not available.\n"})
    started = time.monotonic()
    commands = asterisk.run()
    assert time.monotonic() - started < 2
    assert commands[2:] == [SET_STATUS + ' "error"']
    assert one_row(server, uniqueid)["status"] == "error"


# -- framing and bytes -----------------------------------------------------------

def test_environment_and_replies_in_one_byte_segments_make_a_whole_call(server: ServerProcess) -> None:
    uniqueid = new_uniqueid()
    sim = simulated("support", uniqueid, support_caller())
    result = run_simulated_call(HOST, server.port, sim, timeout=20, split_segments=True)
    assert result.closed_by_server and not result.timed_out and not result.pipelined, result
    assert sim.variables.get("AGIFLOW_STATUS") == "completed"
    assert one_row(server, uniqueid)["status"] == "completed"


def test_caller_name_cut_in_the_middle_of_a_character_and_colons_reach_the_cdr(server: ServerProcess) -> None:
    uniqueid = new_uniqueid()
    sim = simulated("support", uniqueid, support_caller())
    sim.environment["calleridname"] = "Jos\udcc3: VIP"  # b"Jos\xc3: VIP" on the wire
    result = run_simulated_call(HOST, server.port, sim, timeout=10)
    assert result.closed_by_server and not result.timed_out, result
    row = one_row(server, uniqueid)
    assert row["status"] == "completed" and row["caller_name"] == "Jos\ufffd: VIP"


def test_environment_line_over_the_limit_closes_that_connection_only(server: ServerProcess) -> None:
    before = query(server.database, "SELECT count(*) AS n FROM calls")[0]["n"]
    with socket.create_connection((HOST, server.port), timeout=5) as sock:
        sock.sendall(b"agi_network: yes\nagi_calleridname: " + b"x" * 20000 + b"\n\n")
        try:
            assert sock.recv(1024) == b""
        except ConnectionResetError:
            pass  # cut at once: a reset is a close too
    still_serves(server)
    assert query(server.database, "SELECT count(*) AS n FROM calls")[0]["n"] == before + 1


def test_reply_over_the_limit_ends_the_call_with_its_cdr(server: ServerProcess) -> None:
    uniqueid = new_uniqueid()
    commands = Asterisk(server.port, uniqueid, {2: b"200 result=0 (" + b"x" * 20000 + b")\n"}).run()
    assert len(commands) == 2
    row = one_row(server, uniqueid)
    assert row["status"] == "interrupted" and "max_reply_line" in row["error"]
    still_serves(server)


# -- probes and idleness ---------------------------------------------------------

def test_two_thousand_probes_during_a_call_leave_no_cdr_no_open_socket_and_no_busy_loop(
        server: ServerProcess) -> None:
    since = server.mark()
    before = query(server.database, "SELECT count(*) AS n FROM calls")[0]["n"]
    files = server.open_sockets()
    uniqueid = new_uniqueid()
    held = Asterisk(server.port, uniqueid)
    pending = held.hold_at(3)

    def probe(n: int) -> None:
        with socket.create_connection((HOST, server.port), timeout=5) as sock:
            if n % 2:  # a port scanner resets, a health check closes cleanly
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            elif n % 10 == 4:
                sock.sendall(b"agi_network: yes\nagi_network_scr")

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(probe, range(2000)))
    held.finish(pending)
    held.close()
    assert one_row(server, uniqueid)["status"] == "completed"
    assert query(server.database, "SELECT count(*) AS n FROM calls")[0]["n"] == before + 1
    deadline = time.monotonic() + 5
    while server.open_sockets() > files and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.open_sockets() <= files, "probes left sockets open"
    time.sleep(0.3)
    cpu = server.cpu_seconds()
    time.sleep(1.0)
    assert server.cpu_seconds() - cpu <= 0.1, "the server is busy while nothing happens"
    assert not error_lines(server.log(since))


# -- flow reload under load --------------------------------------------------------

def test_flow_reloads_valid_and_invalid_under_load_drop_no_call(
        tmp_path: Path, servers: list[ServerProcess]) -> None:
    process = start_server(tmp_path, watch_interval=0.05)
    servers.append(process)
    flow = tmp_path / "flows" / "support.yaml"
    original = flow.read_text(encoding="utf-8")
    versions = [original.replace("agiflow/goodbye", "agiflow/goodbye-v2"),
                original.replace("next: hangup", "next: hangupp", 1), original]
    stop = threading.Event()
    made: list[tuple[str, Any]] = []

    def caller() -> None:
        while not stop.is_set():
            uniqueid = new_uniqueid()
            made.append((uniqueid, call(process, simulated("support", uniqueid, support_caller()))))

    threads = [threading.Thread(target=caller) for _ in range(4)]
    for thread in threads:
        thread.start()
    try:
        for n in range(9):
            since = process.mark()
            replace_file(flow, versions[n % 3])
            if n % 2:
                process.proc.send_signal(signal.SIGHUP)
            if n % 3 == 1:  # the broken version is seen, however slow the machine, before it is replaced
                process.wait_for_log("flows not reloaded", since=since)
            time.sleep(0.15)
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
    assert len(made) >= 20
    assert all(r.closed_by_server and not r.timed_out for _, r in made), [r for _, r in made if r.timed_out][:2]
    statuses = {u: [row["status"] for row in finished_cdr(process.database, u)] for u, _ in made}
    assert {u: s for u, s in statuses.items() if s != ["completed"]} == {}
    assert "flows not reloaded" in process.log()
    assert "Traceback" not in process.log()


def test_flow_files_nested_too_deeply_too_large_or_with_huge_numbers_are_reported_and_the_watcher_goes_on(
        tmp_path: Path, servers: list[ServerProcess]) -> None:
    """Once a deeply nested file, or a number of 5,000 digits, stopped the file
    watcher for good (an uncaught RecursionError or ValueError), and a 60 MB
    file held the server for a minute and a half."""
    process = start_server(tmp_path)
    servers.append(process)
    flow = tmp_path / "flows" / "support.yaml"
    original = flow.read_text(encoding="utf-8")
    nested = original + "x-nested: " + "[" * 5000 + "]" * 5000 + "\n"
    huge = original + "#" + "x" * (8 << 20) + "\n"
    cases = [(nested, rf"support\.yaml:{original.count(chr(10)) + 1}: invalid YAML: nested too deeply"),
             (huge, r"support\.yaml:1: flow file larger than 262144 bytes"),
             (original.replace("timeout: 5", "timeout: 1" + "0" * 5000, 1),
              rf"support\.yaml:{original[:original.index('timeout: 5')].count(chr(10)) + 1}: number with too many digits")]
    for n, (text, error) in enumerate(cases):
        since = process.mark()
        started = time.monotonic()
        replace_file(flow, text)
        process.wait_for_log(error, since=since)
        process.wait_for_log("every worker keeps the flows it serves", since=since)
        assert time.monotonic() - started < 30  # a 60 MB file held it for 90 s; well under on a loaded machine
        uniqueid = new_uniqueid()
        result = call(process, simulated("support", uniqueid, support_caller()))
        assert result.closed_by_server and not result.timed_out, result
        assert [row["status"] for row in finished_cdr(process.database, uniqueid)] == ["completed"]
        since = process.mark()
        replace_file(flow, original.replace("agiflow/goodbye", f"agiflow/goodbye-v{n}"))
        process.wait_for_log(r"all \d+ workers serve the new flows", since=since)
    assert "Traceback" not in process.log() and "Unhandled" not in process.log()


def test_a_flow_file_that_becomes_a_broken_link_or_a_named_pipe_is_reported_and_its_flow_kept(
        tmp_path: Path, servers: list[ServerProcess]) -> None:
    """Once such a file was left out without a word: the reload dropped its
    flow, and its calls ended unknown_flow."""
    process = start_server(tmp_path)
    servers.append(process)
    flow = tmp_path / "flows" / "support.yaml"
    original = flow.read_text(encoding="utf-8")
    for make, error in [(lambda: flow.symlink_to(tmp_path / "gone.yaml"), "a symbolic link to .*gone.yaml"),
                        (lambda: os.mkfifo(flow), "not a file but a named pipe")]:
        since = process.mark()
        flow.unlink()
        make()
        process.wait_for_log(rf"support\.yaml:1: .*{error}", since=since)
        process.wait_for_log("every worker keeps the flows it serves", since=since)
        uniqueid = new_uniqueid()
        assert call(process, simulated("support", uniqueid, support_caller())).closed_by_server
        assert [row["status"] for row in finished_cdr(process.database, uniqueid)] == ["completed"]
        flow.unlink()
        replace_file(flow, original)
    assert "Traceback" not in process.log()


# -- database trouble --------------------------------------------------------------

def test_calls_go_on_while_the_cdr_database_is_locked_and_their_rows_follow(
        tmp_path: Path, servers: list[ServerProcess]) -> None:
    process = start_server(tmp_path)
    servers.append(process)
    still_serves(process)
    blocker = sqlite3.connect(process.database, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    uniqueids = [new_uniqueid() for _ in range(5)]
    try:
        for uniqueid in uniqueids:
            result = call(process, simulated("support", uniqueid, support_caller()))
            assert result.closed_by_server and result.seconds < 2, result
    finally:
        blocker.execute("COMMIT")
        blocker.close()
    assert [one_row(process, u)["status"] for u in uniqueids] == ["completed"] * 5


def test_calls_go_on_while_the_disk_is_full_and_their_cdrs_are_written_once_there_is_room(
        tiny_disk: Path, servers: list[ServerProcess]) -> None:
    process = start_server(tiny_disk)
    servers.append(process)
    still_serves(process)
    filler = fill(tiny_disk)
    since = process.mark()
    uniqueids = [new_uniqueid() for _ in range(20)]
    for uniqueid in uniqueids:
        sim = simulated("support", uniqueid, support_caller())
        result = call(process, sim)
        assert result.closed_by_server and sim.variables.get("AGIFLOW_STATUS") == "completed", result
    process.wait_for_log(r"cannot write CDRs .*full", since=since, timeout=10)
    filler.unlink()
    process.wait_for_log(r"CDR database writable again", since=since, timeout=10)
    assert [one_row(process, u)["status"] for u in uniqueids] == ["completed"] * 20
    process.stop()
    assert process.proc.returncode == 0


def test_serve_refuses_to_start_on_a_database_it_cannot_open(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    (tmp_path / "cdr.db").mkdir()  # a folder where the database file should be
    process = ServerProcess(config)
    assert process.wait_exit() == 1
    assert process.log().strip() == f"error: the database {tmp_path / 'cdr.db'} is a directory, not a database file " \
                                    "(check 'database' in the config)"
