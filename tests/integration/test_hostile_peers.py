"""Peers that try to grow the server or its outputs, against ``agiflow
serve`` over real TCP: addresses the allow-list must recognise, replies
that never end, junk that would flood the log, text that would reach a
log format string or the database without limit.

The server process helpers come from support/server_process.py.
"""
from __future__ import annotations

import json
import re
import resource
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from support.server_process import (REPO, HeldCall, ServerProcess, call, finished_cdr, new_uniqueid, query, simulated,
                                    start_server, step_rows, support_caller, write_config)

from agi.db import postgres
from agi.db.location import Database
from agi.sim import CallerScript, EverySound, SimulatedAsterisk, make_environment, run_simulated_call

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    process = start_server(tmp_path_factory.mktemp("hostile"))
    try:
        yield process
    finally:
        process.stop()


# -- the allow-list ------------------------------------------------------------------

def test_an_ipv4_caller_of_a_server_on_both_families_passes_an_ipv4_allow_entry(
        tmp_path: Path, servers: list[ServerProcess]) -> None:
    process = ServerProcess(write_config(tmp_path, host="::", allow=["127.0.0.1"]))
    servers.append(process)
    port = int(process.wait_for_log(r"agiflow listening on \[::\]:(\d+)", timeout=20).group(1))
    uniqueid = new_uniqueid()
    sim = simulated("support", uniqueid, support_caller())
    result = run_simulated_call("127.0.0.1", port, sim, timeout=10)
    assert result.closed_by_server and sim.variables.get("AGIFLOW_STATUS") == "completed", result
    assert [row["status"] for row in finished_cdr(process.database, uniqueid)] == ["completed"]
    assert not re.search(r"refused connection", process.log())


# -- file descriptors --------------------------------------------------------------

def test_a_flood_that_takes_every_file_descriptor_leaves_calls_the_flow_watcher_and_the_log_whole(
        tmp_path: Path, servers: list[ServerProcess]) -> None:
    process = start_server(tmp_path, workers=1, env_timeout=2)
    servers.append(process)
    resource.prlimit(process.pid, resource.RLIMIT_NOFILE, (120, 120))
    uniqueid = new_uniqueid()
    held = HeldCall(process.port, simulated("support", uniqueid, support_caller()), "support", timeout=10)
    pending = held.hold_at(3)
    since = process.mark()
    flood = [socket.create_connection(("127.0.0.1", process.port), timeout=5) for _ in range(300)]
    time.sleep(1.0)  # several checks of the flow files while no descriptor is left
    held.finish(pending)
    for sock in flood:
        sock.close()
    assert [row["status"] for row in finished_cdr(process.database, uniqueid)] == ["completed"]
    flow = tmp_path / "flows" / "support.yaml"
    flow.write_text(flow.read_text(encoding="utf-8").replace("timeout: 5\n", "timeout: 4\n", 1), encoding="utf-8")
    process.wait_for_log(r"flow support: \w+ -> \w+", since=since, timeout=5)  # the watcher still runs
    process.wait_for_log(r"flow files in .* can be listed again", since=since)
    log = process.log(since)
    assert "Unhandled Error" not in log, log
    for kind in ("EMFILE encountered", "EMFILE recovery: Closed socket", "Re-reserving EMFILE"):
        assert 1 <= log.count(kind) <= 10, (kind, log.count(kind))


def test_the_database_file_removed_under_two_workers_leaves_every_call_its_row(
        tmp_path: Path, servers: list[ServerProcess]) -> None:
    process = start_server(tmp_path, workers=2)
    servers.append(process)
    running = new_uniqueid()
    held = HeldCall(process.port, simulated("support", running, support_caller()), "support", timeout=10)
    pending = held.hold_at(4)
    time.sleep(0.3)  # its first rows are written
    for suffix in ("", "-wal", "-shm"):
        Path(f"{process.database}{suffix}").unlink(missing_ok=True)
    later = new_uniqueid()
    assert call(process, simulated("support", later, support_caller())).closed_by_server
    held.finish(pending)
    for uniqueid in (running, later):
        assert [row["status"] for row in finished_cdr(process.database, uniqueid)] == ["completed"], process.log()
    assert re.search(r"the CDR database .* was (removed|replaced by another file) while the server ran",
                     process.log())


# -- memory --------------------------------------------------------------------------

def resident_kb(server: ServerProcess) -> int:
    """Of every process of the server: with several workers, a worker
    serves the call (once, only the supervisor was measured)."""
    total = 0
    for pid in server.pids():
        found = re.search(r"VmRSS:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text())
        total += int(found.group(1)) if found else 0
    return total


def stream(sock: socket.socket, head: bytes, line: bytes, total: int) -> int:
    """Send ``head``, then ``line`` over and over up to ``total`` bytes or
    until the server closes; the bytes sent."""
    chunk = line * (65536 // len(line))
    sent = 0
    try:
        sock.sendall(head)
        while sent < total:
            sock.sendall(chunk)
            sent += len(chunk)
    except OSError:  # reset or broken pipe: the server closed
        pass
    return sent


def test_a_multi_line_answer_that_never_ends_is_cut_with_bounded_memory_and_a_cdr_that_says_why(
        server: ServerProcess) -> None:
    uniqueid = new_uniqueid()
    held = HeldCall(server.port, simulated("support", uniqueid, support_caller()), "support", timeout=10)
    held.hold_at(2)
    before = resident_kb(server)
    sent = stream(held.sock, b"520-Invalid command syntax.  Proper usage follows:\n",
                  b"Usage: STREAM FILE <filename> <escape digits> [sample offset]\n", 50 << 20)
    held.close()
    assert sent < 50 << 20, "the server read 50 MB of one answer"
    [row] = finished_cdr(server.database, uniqueid)
    assert row["status"] == "interrupted" and "multi-line answer longer than 256 lines" in row["error"]
    assert resident_kb(server) - before < 10_000


@pytest.mark.parametrize("line", [b"HANGUP\n", b"100 result=0 Trying...\n"], ids=["hangup", "trying"])
def test_a_peer_that_floods_lines_answering_no_command_is_closed_and_its_cdr_says_why(
        server: ServerProcess, line: bytes) -> None:
    """Asterisk sends one HANGUP line, one 100 Trying... before a GOSUB's
    answer. A peer that sends them without end while a command waits was
    read for ever, a couple of microseconds of the reactor a line: three
    such peers made every other call of the worker 100 times slower."""
    uniqueid = new_uniqueid()
    held = HeldCall(server.port, simulated("support", uniqueid, support_caller()), "support", timeout=10)
    held.hold_at(2)
    sent = stream(held.sock, b"", line, 50 << 20)
    held.close()
    assert sent < 10 << 20, "the server read 50 MB of lines that answer nothing"  # the rest: socket buffers
    [row] = finished_cdr(server.database, uniqueid)
    assert row["status"] == "interrupted"
    assert row["error"] == "Asterisk sent more than 1024 lines in a row that answer no command"
    other = simulated("support", new_uniqueid(), support_caller())
    assert call(server, other).closed_by_server and other.variables.get("AGIFLOW_STATUS") == "completed"


def test_calls_with_long_scripts_and_replies_that_all_differ_leave_no_memory_behind(
        tmp_path: Path, servers: list[ServerProcess]) -> None:
    """The server remembered the last 1,024 scripts and 200 lines it read,
    whatever their length: 150 such calls held 200 MB once they had ended."""
    process = start_server(tmp_path, workers=1)
    servers.append(process)
    lines = SimulatedAsterisk(make_environment("support", uniqueid="1")).env_lines("support")
    environment = "".join(f"{line}\n" for line in lines if line).encode() + b"\n"

    def calls(count: int, offset: int) -> None:
        for n in range(offset, offset + count):
            query = b"&".join(b"k%d=%d" % (key, n) for key in range(6000))
            sent = environment.replace(b"agi_network_script: support", b"agi_network_script: support?" + query)
            reply = b"200 result=0 (" + b"%06d" % n * 10000 + b")\n"
            assert converse(process.port, sent, lambda line, k, first=reply: first if k == 1 else b"200 result=0\n")
    calls(20, 0)  # every cache and allocator pool in use
    before = resident_kb(process)
    calls(150, 20)
    assert resident_kb(process) - before < 40_000


# -- numbers no Asterisk sends ---------------------------------------------------------

HUGE = b"9" * 5000  # past the 4,300 digits Python's int() reads
DEAD = b"511 Command Not Permitted on a dead channel or intercept routine\n"


def converse(port: int, environment: bytes, answer: Callable[[bytes, int], bytes]) -> list[bytes]:
    """Send ``environment``, then answer the n-th command line with
    ``answer(line, n)`` until the server closes; the command lines."""
    commands: list[bytes] = []
    buffer = b""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(environment)
        while True:
            while b"\n" not in buffer:
                data = sock.recv(65536)
                if not data:
                    return commands
                buffer += data
            line, _, buffer = buffer.partition(b"\n")
            commands.append(line)
            sock.sendall(answer(line, len(commands)))


def hangs_up_then_says_cause(cause: bytes) -> Callable[[bytes, int], bytes]:
    def answer(line: bytes, n: int) -> bytes:
        if n == 1:
            return b"HANGUP\n200 result=-1\n"
        return b"200 result=1 (" + cause + b")\n" if b"HANGUPCAUSE" in line else DEAD
    return answer


# A peer that answers every command alike sets no DIALSTATUS: the operator's
# dial step ends with error, saying so (and the call with it).
NO_DIALSTATUS = "error"


@pytest.mark.parametrize(("extra", "answer", "status"), [
    (b"", lambda line, n: b"200 result=1114112 endpos=0\n", NO_DIALSTATUS),  # a key past the last character
    (b"", lambda line, n: b"200 result=99999999999999999999\n", NO_DIALSTATUS),
    (b"", lambda line, n: b"200 result=50 endpos=" + HUGE + b"\n", NO_DIALSTATUS),
    (b"agi_arg_" + HUGE + b": x\n", lambda line, n: b"200 result=0\n", NO_DIALSTATUS),
    (b"", hangs_up_then_says_cause(HUGE), "caller_hangup"),  # no hangup_cause then
], ids=["result-past-unicode", "result-huge", "endpos-of-5000-digits", "argument-numbered-with-5000-digits",
        "hangupcause-of-5000-digits"])
def test_numbers_no_asterisk_sends_end_the_call_with_one_finished_cdr(
        server: ServerProcess, extra: bytes, answer: Callable[[bytes, int], bytes], status: str) -> None:
    since = server.mark()
    uniqueid = new_uniqueid()
    lines = SimulatedAsterisk(make_environment("support", uniqueid=uniqueid)).env_lines("support")
    environment = "".join(f"{line}\n" for line in lines if line).encode() + extra + b"\n"
    commands = converse(server.port, environment, answer)
    assert commands and commands[-1].startswith(b'SET VARIABLE "AGIFLOW_STATUS"'), commands
    [row] = finished_cdr(server.database, uniqueid)
    assert row["status"] == status, (row["path"], row["error"])
    assert (row["error"] or "") == ("Dial(PJSIP/operator) ended with DIALSTATUS=(none)" if status == NO_DIALSTATUS
                                    else ""), row["error"]
    assert not re.search(r"Unhandled Error|outside its boundary|flow crashed", server.log(since))


def refuses_set_variable(line: bytes, n: int) -> bytes:
    return b"510 Invalid or unknown command\n" if line.startswith(b"SET VARIABLE") else b"200 result=0\n"


def says_huge_numbers(line: bytes, n: int) -> bytes:
    """The queue is answered after a wait of 400 digits of seconds."""
    if line.startswith(b'GET VARIABLE "QUEUESTATUS"'):
        return b"200 result=1 (CONTINUE)\n"
    return b"200 result=1 (" + b"1" * 400 + b")\n" if line.startswith(b"GET VARIABLE") else b"200 result=0\n"


@pytest.mark.parametrize(("flow", "answer"), [
    ("closed", refuses_set_variable),  # CHANNEL(language) as the flow starts, then AGIFLOW_STATUS
    ("callback_out", says_huge_numbers),  # the queue's QEHOLDTIME: once an OverflowError
], ids=["set-variable-refused", "queue-times-past-a-float"])
def test_answers_no_asterisk_gives_end_the_call_without_a_traceback_and_with_one_finished_cdr(
        server: ServerProcess, flow: str, answer: Callable[[bytes, int], bytes]) -> None:
    since = server.mark()
    uniqueid = new_uniqueid()
    lines = SimulatedAsterisk(make_environment(flow, uniqueid=uniqueid)).env_lines(flow)
    environment = "".join(f"{line}\n" for line in lines if line).encode() + b"\n"
    sent = b"\n".join(converse(server.port, environment, answer))
    assert b'SET VARIABLE "AGIFLOW_STATUS"' in sent and (flow == "closed" or b"QEHOLDTIME" in sent), sent
    [row] = finished_cdr(server.database, uniqueid)
    assert row["status"] in ("completed", "error") and "internal error" not in (row["error"] or ""), row
    assert not re.search(r"Traceback|flow crashed|outside its boundary", server.log(since))


@pytest.mark.parametrize("reply", [b"200 result=0" + b" " * 65000 + b"x\n", b"200 result=0 (" + b" " * 65000 + b"x\n"],
                         ids=["spaces-then-a-word", "spaces-in-data"])
def test_a_reply_of_the_longest_line_holds_no_other_call(server: ServerProcess, reply: bytes) -> None:
    """A 200 line of 65,000 spaces once held the server's only thread for
    24 s: every other call waited."""
    hostile = new_uniqueid()
    held = HeldCall(server.port, simulated("support", hostile, support_caller()), "support", timeout=60)
    held.hold_at(1)
    held.sock.sendall(reply)
    time.sleep(0.1)  # the line is read
    other = new_uniqueid()
    started = time.monotonic()
    assert call(server, simulated("support", other, support_caller()), timeout=60).closed_by_server
    assert time.monotonic() - started < 3
    held.finish(held.next_command() or "")
    for uniqueid in (hostile, other):
        assert [row["status"] for row in finished_cdr(server.database, uniqueid)] == ["completed"]


def rows_of(database: Database, uniqueid: str) -> list[tuple[Any, ...]]:
    sql = "SELECT status, caller_name, error FROM calls WHERE caller = ?"
    if isinstance(database, Path):
        return [tuple(row.values()) for row in query(database, sql, (uniqueid,))]
    with postgres.connect(database) as conn:
        return [tuple(row) for row in conn.execute(sql.replace("?", "%s"), (uniqueid,)).fetchall()]


def test_a_nul_in_the_environment_or_a_reply_still_leaves_one_cdr_row_on_either_database(
        tmp_path: Path, database: Database, servers: list[ServerProcess]) -> None:
    """PostgreSQL refuses NUL in text: the call's CDR was dropped whole."""
    config = write_config(tmp_path)
    settings = json.loads(config.read_text(encoding="utf-8"))
    config.write_text(json.dumps({**settings, "database": str(getattr(database, "url", database))}), encoding="utf-8")
    process = ServerProcess(config)
    servers.append(process)
    process.wait_listening()
    caller = new_uniqueid().replace(".", "")  # the caller ID finds the row: the uniqueid holds a NUL
    environment = make_environment("support", uniqueid="nul\x00" + caller, callerid=caller, calleridname="A\x00na")
    lines = SimulatedAsterisk(environment).env_lines("support")
    sent = "".join(f"{line}\n" for line in lines if line).encode() + b"\n"

    def answer(line: bytes, n: int) -> bytes:  # the error text of the first step reaches the CDR
        return b"510 In\x00valid\n" if n == 1 else b"200 result=0\n"

    commands = converse(process.port, sent, answer)
    assert commands[-1].startswith(b'SET VARIABLE "AGIFLOW_STATUS"'), commands
    deadline = time.monotonic() + 10
    while not (found := rows_of(database, caller)) or found[0][0] == "in_progress":
        assert time.monotonic() < deadline, (found, process.log())
        time.sleep(0.05)
    assert found == [("error", "A\ufffdna", "ANSWER: Asterisk answered 510 In\ufffdvalid")]
    assert "dropping CDR operation" not in process.log()


# -- patterns a flow author wrote -------------------------------------------------------

KEYS_FLOW = """\
version: 1
name: keys
start: split
steps:
  split:
    input: {prompt: agiflow/enter-account, variable: FIRST, max_digits: 64, invalid_retries: 0,
            pattern: "^(0|00)+$"}
    on: {next: nested, invalid: nested, timeout: nested, error: nested}
  nested:
    input: {prompt: agiflow/enter-account, variable: SECOND, max_digits: 64, invalid_retries: 0,
            pattern: "^([0-9]+)+$"}
"""


def test_keys_on_which_a_pattern_backtracks_hold_no_other_call(tmp_path: Path, servers: list[ServerProcess]) -> None:
    """With Python's ``re``, 40 digits and a star against ``^([0-9]+)+$``
    held the server's only thread for hours: every other call waited.
    Now the reported pattern answers at once, and one whose every match
    takes too long ends its step with ``error`` (here routed on)."""
    config = write_config(tmp_path)
    (tmp_path / "flows" / "keys.yaml").write_text(KEYS_FLOW, encoding="utf-8")
    process = ServerProcess(config)
    servers.append(process)
    process.wait_listening()
    hostile = new_uniqueid()
    keys = CallerScript(dtmf=["0" * 63 + "*", "1" * 40 + "*"], sounds=EverySound(8000))
    held = HeldCall(process.port, simulated("keys", hostile, keys), "keys", timeout=20)
    held.answer(held.hold_at(1))  # the first entry
    pending = held.next_command()  # the second step's prompt: the first entry was judged
    assert pending is not None and pending.startswith("GET DATA"), held.commands
    held.answer(pending)
    other = new_uniqueid()
    assert call(process, simulated("support", other, support_caller()), timeout=20).closed_by_server
    held.finish(held.next_command() or "")
    [row] = finished_cdr(process.database, other)
    assert row["status"] == "completed"
    [row] = finished_cdr(process.database, hostile)
    assert row["status"] == "completed"
    assert row["path"] == "split:error > nested:invalid", row
    [split, nested] = step_rows(process.database, row["id"])[:2]
    assert json.loads(split["details"])["error"].startswith("pattern '^(0|00)+$' took more than 10 ms on 64 keys")
    assert json.loads(nested["details"])["entries"] == ["1" * 40 + "*"]
    process.wait_for_log(rf"\[{hostile} keys\] step split \(input\) failed: pattern '\^\(0\|00\)\+\$' took more")


# -- the database ----------------------------------------------------------------------

def database_bytes(server: ServerProcess) -> int:
    [row] = query(server.database, "SELECT page_count * page_size AS size FROM pragma_page_count, pragma_page_size")
    return int(row["size"])


def test_unknown_flow_calls_with_huge_names_grow_the_database_by_a_few_kilobytes_each(server: ServerProcess) -> None:
    before = database_bytes(server)
    flow = "f" * 20_000  # in the environment twice (agi_request, agi_network_script), with a 20 KB caller name
    for _ in range(20):
        uniqueid = new_uniqueid()
        sim = SimulatedAsterisk(make_environment(flow, uniqueid=uniqueid, calleridname="n" * 20_000),
                                CallerScript(sounds=EverySound()))
        result = call(server, sim)
        assert result.closed_by_server and sim.variables.get("AGIFLOW_STATUS") == "unknown_flow", result
        [row] = finished_cdr(server.database, uniqueid)
        assert (len(row["requested_flow"]), len(row["caller_name"]), len(row["error"])) == (1024, 256, 1024)
    assert database_bytes(server) - before < 20 * 8192


# -- the log -------------------------------------------------------------------------

@pytest.mark.parametrize("flow", ["support", "no%sflow%(x)s%"])
def test_a_percent_sign_in_the_uniqueid_or_the_flow_name_still_logs_the_call_and_its_end(
        server: ServerProcess, flow: str) -> None:
    since = server.mark()
    uniqueid = new_uniqueid() + "%s%d%(x)s"
    result = call(server, simulated(flow, uniqueid, support_caller()))
    assert result.closed_by_server and not result.timed_out, result
    assert len(finished_cdr(server.database, uniqueid)) == 1
    server.wait_for_log(re.escape(f"[{uniqueid} {flow}] call ended: "), since=since)
    assert "Logging error" not in server.log(since)


def _heavy_flow(name: str) -> str:
    """A valid flow file just under the 256 KB cap, of one long template:
    seconds of YAML and Jinja work to read and check."""
    template = "{{ call.caller[:0] }}" * 12_000 + "x"
    return (f"version: 1\nname: {name}\nstart: say\nsteps:\n  say:\n    set: {{variables: {{HEAVY: \"{template}\"}}}}\n"
            f"    next: bye\n  bye:\n    hangup:\n")


def test_a_reload_of_a_flow_file_that_takes_seconds_to_read_holds_no_call(
        tmp_path: Path, servers: list[ServerProcess]) -> None:
    """Reading and checking a flow file of the largest size allowed can take
    seconds (10 s for 256 KB of short list items or template expressions):
    the reload ran on the thread that serves the calls, and every call of
    the process waited for it. It now loads on a thread of its own."""
    process = start_server(tmp_path, workers=1, watch_interval=0.1)
    servers.append(process)
    mark = process.mark()
    (tmp_path / "flows" / "heavy.yaml").write_text(_heavy_flow("heavy"), encoding="utf-8")
    time.sleep(0.5)  # the watcher has seen it and is reading it
    durations = []
    for _ in range(5):
        uniqueid = new_uniqueid()
        started = time.monotonic()
        result = call(process, simulated("closed", uniqueid))
        durations.append(time.monotonic() - started)
        assert result.closed_by_server and 'SET VARIABLE "AGIFLOW_STATUS" "completed"' in result.commands, result
    assert max(durations) < 1.0, durations
    assert not re.search(r"loaded \d+ flows?\b", process.log(mark)), "the reload ended before the calls: no overlap"
    process.wait_for_log(r"loaded 9 flows", since=mark, timeout=60)
    uniqueid = new_uniqueid()
    call(process, simulated("heavy", uniqueid))
    assert [row["status"] for row in finished_cdr(process.database, uniqueid)] == ["completed"]

def test_a_flows_folder_of_many_files_holds_no_call_while_it_is_watched(
        tmp_path: Path, servers: list[ServerProcess]) -> None:
    """The watcher lists the whole folder at every check: 50,000 other
    files in it (an archive kept beside the flows) took more than a second
    a check, on the thread that serves the calls, every watch interval."""
    flows = tmp_path / "flows"
    write_config(tmp_path)
    for folder in range(80):
        (flows / "archive" / f"{folder}").mkdir(parents=True)
        for name in range(500):
            (flows / "archive" / f"{folder}" / f"{name}.wav").touch()
    process = start_server(tmp_path, workers=1, watch_interval=0.1)
    servers.append(process)
    durations = []
    for _ in range(40):
        started = time.monotonic()
        result = call(process, simulated("closed", new_uniqueid()))
        durations.append(time.monotonic() - started)
        assert result.closed_by_server, result
    assert max(durations) < 0.5, sorted(durations)[-5:]


@pytest.mark.parametrize("workers", [1, 2])
def test_sigterm_during_a_reload_that_takes_seconds_stops_the_server_at_once(
        tmp_path: Path, servers: list[ServerProcess], workers: int) -> None:
    """A stop never waits for a flow load under way: the server waited for
    it to end (seconds for a large file) before it exited, its port
    already closed, so a restart after a flow deploy was an outage that
    long; a supervisor read the files on its event loop, where the SIGTERM
    waited to reach the workers, which then waited for their own loads."""
    process = start_server(tmp_path, workers=workers, watch_interval=0.1, drain_timeout=5)
    servers.append(process)
    mark = process.mark()
    (tmp_path / "flows" / "heavy.yaml").write_text(_heavy_flow("heavy"), encoding="utf-8")
    time.sleep(0.5)  # the watcher has seen it and is reading it
    started = time.monotonic()
    process.proc.terminate()
    assert process.wait_exit(timeout=90) == 0, process.log(mark)
    assert time.monotonic() - started < 5, process.log(mark)
    assert not re.search(r"loaded \d+ flows?\b", process.log(mark)), "the load ended before the stop: no overlap"


# -- a log nobody reads ---------------------------------------------------------------

def test_a_log_reader_that_stops_reading_holds_no_call_and_no_stop(tmp_path: Path) -> None:
    """The server's stderr is a pipe (journald's, a terminal's pager, a
    log shipper's). Once its reader stopped reading, the pipe filled up
    and the server's next log write waited on it: every call after that
    waited in silence, no CDR row was written and SIGTERM was never
    handled. Lines the pipe cannot take now wait in memory (within a cap:
    unit/test_log_output.py) and go out once the reader reads again."""
    config = write_config(tmp_path, workers=1)
    read, write = os.pipe()
    process = subprocess.Popen([sys.executable, "-m", "agi.cli", "serve", "-c", str(config)], cwd=tmp_path,
                               env={**os.environ, "PYTHONPATH": str(REPO)}, stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=write)
    os.close(write)
    try:
        log = b""
        while (found := re.search(rb"listening on 127\.0\.0\.1:(\d+)", log)) is None:
            chunk = os.read(read, 65536)
            assert chunk, log.decode()
            log += chunk
        port = int(found.group(1))
        # the reader stops: each call to a flow of a long unknown name logs about 8 KB
        for n in range(40):
            sim = SimulatedAsterisk(make_environment("x" * 4000 + str(n), uniqueid=new_uniqueid()),
                                    CallerScript(sounds=EverySound(8000)))
            started = time.monotonic()
            run_simulated_call("127.0.0.1", port, sim, timeout=5)
            assert sim.variables.get("AGIFLOW_STATUS") == "unknown_flow", f"call {n} got no answer"
            assert time.monotonic() - started < 1
        deadline = time.monotonic() + 5
        while len(rows := query(tmp_path / "cdr.db", "SELECT status FROM calls")) < 40 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [row["status"] for row in rows] == ["unknown_flow"] * 40  # the CDR writer was not held either
        reader = threading.Thread(target=lambda: chunks.extend(iter(lambda: os.read(read, 65536), b"")))
        chunks: list[bytes] = []
        reader.start()  # the reader reads again: every line that waited comes out
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
        reader.join(10)
        log += b"".join(chunks)
        assert len(re.findall(rb"call ended: unknown_flow", log)) == 40
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(read)
