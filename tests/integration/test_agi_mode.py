"""Plain AGI mode: ``agiflow-agi`` as a real process, driven over its
stdin/stdout pipes by the simulated Asterisk, exactly as res_agi.c runs an
AGI script: environment on stdin, one command line on stdout, the reply on
stdin, SIGHUP when the caller hangs up. CDRs are read back from the SQLite
file the process wrote.
"""
from __future__ import annotations

import io
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlite_utils

from support.agi_process import (AGI_BIN, DEADLINE, REPO, SCRIPT, env_lines, process_environment, read_cdr, read_lines,
                                 run_agi, write, write_config)

from agi.db.location import PostgresUrl
from agi.storage.cdr_direct import DirectCdr
from agi.channel import DEAD_CHANNEL_COMMANDS, ConnectionClosed
from agi.sim import CallerScript, EverySound, SimulatedAsterisk
from agi.simulate import simulate
from agi.loading.loader import load_flows
from agi.server.stdio_driver import run_to_completion
from agi.stdio.transport import StdioTransport, environment, text_streams
from support.sample_flows import CALLBACK_FLOW



def test_the_console_script_is_installed_from_setup_py() -> None:
    assert 'agiflow-agi=agi.stdio.main:entry_point' in (REPO / "setup.py").read_text(encoding="utf-8")
    assert SCRIPT.exists(), f"{SCRIPT} is missing: run `make setup` (pip install -e .) after changing setup.py"


# -- a whole call ------------------------------------------------------------------

def test_support_call_runs_the_same_commands_and_cdr_as_the_server_session(tmp_path: Path) -> None:
    script = CallerScript(dtmf=["2", "12345678"], sounds=EverySound())
    run = run_agi(tmp_path, ["support"], script)
    flows, _ = load_flows([REPO / "flows"])
    support = flows.get("support")
    assert support is not None
    offline = simulate(support, flows, caller="+34600111222", dtmf=["2", "12345678"])

    assert run.returncode == 0
    # The in-memory simulator hands over the HANGUP line with the reply it follows;
    # over a pipe it arrives after it, so the process may probe with one more NOOP.
    assert [c for c in run.stdout_lines if c != "NOOP"] == [e.command for e in offline.exchanges if e.command != "NOOP"]
    assert run.sim.variables["AGIFLOW_STATUS"] == "completed"
    call = run.call
    assert (call["status"], call["path"], call["flow"]) == ("completed", offline.call["path"], "support")
    assert call["call_id"] == "1795385106.7" and call["caller"] == "+34600111222"
    assert json.loads(call["fields"]) == {"account": "12345678", "department": "support"}
    assert [s["step"] for s in run.steps] == [s["step"] for s in offline.steps]
    assert call["ended_at"] and call["duration"] is not None


def test_flow_arguments_and_query_string_reach_the_flow_like_fastagi(tmp_path: Path) -> None:
    run = run_agi(tmp_path, ["closed?callback_number=600999888", "a b", "", "last"])
    assert run.returncode == 0
    call = run.call
    assert call["flow"] == "closed" and call["requested_flow"] == "closed?callback_number=600999888"
    assert json.loads(call["args"]) == ["a b", "", "last"]
    assert 'SAY DIGITS "600999888" ""' in run.stdout_lines


def test_caller_name_that_is_not_utf8_does_not_stop_the_call(tmp_path: Path) -> None:
    env = process_environment(uniqueid="1795385106.8", callerid="600111222", arg_1="closed")
    sim_env = {**env, "agi_calleridname": "Jos\udcc3"}  # a name cut in the middle of "é"
    run = run_agi(tmp_path, ["closed"], env=sim_env)
    assert run.returncode == 0 and run.call["status"] == "completed"
    assert run.call["caller_name"] == "Jos\ufffd"



def test_caller_name_holding_a_blank_line_reaches_pyst2_without_its_lines() -> None:
    # Asterisk writes CALLERID(name) unescaped: a name a lookup answered with line breaks.
    from asterisk.agi import AGI

    from agi.stdio.transport import BoundedLines
    lines = [line for line in process_environment(uniqueid="1795385106.8", callerid="+34600111222",
                                                  arg_1="closed").items()]
    text = "".join(f"{key}: {value}\n" if key != "agi_calleridname" else
                   "agi_calleridname: Ana\n\nagi_callerid: +34911111111\nagi_uniqueid: 1\n" for key, value in lines)
    stdin = BoundedLines(io.StringIO(text + "\n200 result=0\n"), 8192)
    agi = AGI(stdin=stdin, stdout=io.StringIO(), stderr=io.StringIO())
    env = environment(agi.env, "closed", [])
    assert (env.caller_name, env.caller, env.uniqueid, env.get("threadid")) == (
        "Ana", "+34600111222", "1795385106.8", "139975520564928")
    assert stdin.readline() == "200 result=0\n"

# -- hangups -------------------------------------------------------------------------

def test_caller_hangup_announced_by_a_hangup_line_ends_the_process_with_its_cdr(tmp_path: Path) -> None:
    script = CallerScript(dtmf=["2"], hangup_during=3, sounds=EverySound())  # during the menu prompt
    run = run_agi(tmp_path, ["support"], script)
    assert run.returncode == 0
    assert run.call["status"] == "caller_hangup"
    assert run.call["path"] == "answer:next > welcome:next > menu:hangup"
    assert run.stdout_lines[-2:] == ['GET VARIABLE "HANGUPCAUSE"', 'SET VARIABLE "AGIFLOW_STATUS" "caller_hangup"']
    assert run.sim.variables["AGIFLOW_STATUS"] == "caller_hangup"
    assert run.call["hangup_cause"] == "16"


def test_caller_hangup_signalled_by_sighup_with_511_replies_ends_the_call(tmp_path: Path) -> None:
    script = CallerScript(hangup_during=2, sounds=EverySound())  # during the welcome prompt
    run = run_agi(tmp_path, ["support"], script, variables={"AGISIGHUP": "no"}, sighup=True)
    assert run.returncode == 0
    assert not any(line == "HANGUP" for _, lines in run.sim.log for line in lines)
    assert run.call["status"] == "caller_hangup"
    assert run.call["path"].endswith(":hangup")
    assert run.sim.variables["AGIFLOW_STATUS"] == "caller_hangup"
    refused = [n for n, (_, lines) in enumerate(run.sim.log) if lines and lines[0].startswith("511")]
    after_hangup = [command.split(' "')[0] for command, _ in run.sim.log[refused[0] + 1:]] if refused else []
    assert set(after_hangup) <= DEAD_CHANNEL_COMMANDS, "after a 511 only dead-channel commands are sent"


def test_with_agisighup_no_a_prompt_cut_by_the_hangup_is_a_hangup_not_a_missing_sound(tmp_path: Path) -> None:
    """AGISIGHUP=no: no signal and no HANGUP line; the NOOP after the menu's
    -1 still answers, and only a command a dead channel refuses tells."""
    script = CallerScript(hangup_during=3, sounds=EverySound())  # during the menu's GET DATA
    run = run_agi(tmp_path, ["support"], script, variables={"AGISIGHUP": "no"})
    assert run.returncode == 0
    assert run.call["status"] == "caller_hangup"
    assert run.call["path"] == "answer:next > welcome:next > menu:hangup"
    menu = json.loads(next(s["details"] for s in run.steps if s["step"] == "menu"))
    assert "failed_sounds" not in menu and menu["timeouts"] == 0
    assert run.stdout_lines[3:5] == ["NOOP", "CHANNEL STATUS"]


def test_a_missing_sound_in_plain_agi_is_still_a_missing_sound(tmp_path: Path) -> None:
    def missing_welcome(line: str) -> list[str] | None:
        return ["200 result=-1 endpos=0"] if line.startswith('STREAM FILE "agiflow/welcome"') else None

    run = run_agi(tmp_path, ["support"], CallerScript(dtmf=["2", "12345678"], sounds=EverySound()),
                  override=missing_welcome)
    assert run.call["status"] == "completed"
    assert run.stdout_lines[1:4] == ['STREAM FILE "agiflow/welcome" ""', "NOOP", "CHANNEL STATUS"]
    welcome = json.loads(next(s["details"] for s in run.steps if s["step"] == "welcome"))
    assert welcome["failed_sounds"] == ["agiflow/welcome"]


def test_asterisk_closing_the_pipes_mid_call_leaves_a_finished_cdr(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    proc = subprocess.Popen([str(SCRIPT), "-c", str(config), "support"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path)
    sim = SimulatedAsterisk(process_environment(uniqueid="1795385106.9", arg_1="support"))
    assert proc.stdin is not None and proc.stdout is not None
    write(proc, env_lines(sim))
    first = proc.stdout.readline()
    assert first == b"ANSWER\n"
    proc.stdin.close()  # Asterisk went away
    assert proc.wait(timeout=DEADLINE) == 0
    calls, _ = read_cdr(tmp_path / "var/cdr.db")
    assert calls[0]["status"] == "caller_hangup" and calls[0]["ended_at"]


def test_a_caller_who_hangs_up_while_the_process_starts_still_gets_a_cdr_row(tmp_path: Path) -> None:
    """Asterisk sends SIGHUP as soon as the caller hangs up, also while the
    process is still starting: here while it reads its config (a FIFO the
    test holds open), before pyst2 has installed its handler."""
    sim = SimulatedAsterisk(process_environment(uniqueid="1795385106.12", arg_1="support"),
                            CallerScript(hangup_during=0, sounds=EverySound()), variables={"AGISIGHUP": "no"})
    signalled_while_starting(tmp_path, sim, signal.SIGHUP)
    [call], _ = read_cdr(tmp_path / "var/cdr.db")
    assert (call["status"], call["path"]) == ("caller_hangup", "answer:hangup")
    assert sim.variables["AGIFLOW_STATUS"] == "caller_hangup"


def signalled_while_starting(tmp_path: Path, sim: SimulatedAsterisk, signum: signal.Signals) -> list[str]:
    """Run the call of ``sim`` in a process sent ``signum`` while it reads
    its config (a FIFO the test holds open); the commands it sent (each
    answered by ``sim``). It must end with status 0."""
    text = write_config(tmp_path).read_text(encoding="utf-8")
    config = tmp_path / "fifo.yaml"
    os.mkfifo(config)
    # SIGINT as a process started from a terminal has it (a test run started in the
    # background ignores it, and so would the process: an ignored signal stays ignored)
    proc = subprocess.Popen([str(SCRIPT), "-c", str(config), "support"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    commands: list[str] = []
    try:
        with open(config, "w", encoding="utf-8") as fifo:  # returns once the process opened it
            proc.send_signal(signum)
            fifo.write(text)
        write(proc, env_lines(sim))
        assert proc.stdout is not None
        for line in read_lines(proc.stdout, time.monotonic() + DEADLINE):
            commands.append(line)
            write(proc, sim.handle(line))
        proc.wait(timeout=DEADLINE)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, proc.stderr.read() if proc.stderr else ""
    return commands


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
@pytest.mark.parametrize("pending", [1, 3])
def test_a_process_stopped_by_sigterm_or_sigint_mid_call_finishes_its_cdr_as_interrupted(
        tmp_path: Path, signum: signal.Signals, pending: int) -> None:
    config = write_config(tmp_path)
    proc = subprocess.Popen([str(SCRIPT), "-c", str(config), "support"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path)
    sim = SimulatedAsterisk(process_environment(uniqueid="1795385106.11", arg_1="support"),
                            CallerScript(dtmf=["2"], sounds=EverySound()))
    assert proc.stdin is not None and proc.stdout is not None
    write(proc, env_lines(sim))
    for _ in range(pending - 1):
        write(proc, sim.handle(proc.stdout.readline().decode().rstrip("\n")))
    assert proc.stdout.readline()  # the command left waiting, as during a long Dial
    proc.send_signal(signum)  # a system shutdown or an operator, not a hangup
    _, stderr = proc.communicate(timeout=DEADLINE)
    assert proc.returncode == 0 and b"Traceback" not in stderr, stderr
    [call], _ = read_cdr(tmp_path / "var/cdr.db")
    assert (call["status"], call["error"]) == (
        "interrupted", f"agiflow-agi stopped by {signum.name} before the call ended")
    assert call["ended_at"]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_process_stopped_while_it_starts_still_leaves_its_call_a_cdr_row(
        tmp_path: Path, signum: signal.Signals) -> None:
    """A system shutdown sends SIGTERM to Asterisk's script processes at
    once, also to one still starting (most of a second of CPU, seconds on
    a busy host): it died there without a word and its call left no CDR
    row. Here the process is held reading its config (a FIFO)."""
    sim = SimulatedAsterisk(process_environment(uniqueid="1795385106.13", arg_1="support"),
                            CallerScript(sounds=EverySound()))
    commands = signalled_while_starting(tmp_path, sim, signum)
    assert commands == [], "no command is sent to a call being stopped"
    [call], _ = read_cdr(tmp_path / "var/cdr.db")
    assert (call["status"], call["error"]) == (
        "interrupted", f"agiflow-agi stopped by {signum.name} before the call ended")
    assert call["ended_at"]


def test_a_stop_between_commands_ends_the_call_before_the_next_one(restore_sighup: None) -> None:
    transport, raw, _ = pyst2_transport("agi_uniqueid: 1.2\n\n200 result=0\n200 result=0\n")
    assert send(transport, b"ANSWER\n").code == 200
    transport.stop("agiflow-agi stopped by SIGTERM before the call ended")
    assert isinstance(send(transport, b"NOOP\n"), ConnectionClosed)
    assert raw.getvalue() == b"ANSWER\n"
    assert transport.abort_reason == "agiflow-agi stopped by SIGTERM before the call ended"


# -- replies pyst2 itself would get wrong ------------------------------------------

def test_single_line_520_reply_does_not_hang_the_process(tmp_path: Path) -> None:
    def usage_not_available(line: str) -> list[str] | None:
        if line.startswith("STREAM FILE"):
            return ["520 Invalid command syntax.  Proper usage not available."]
        return None

    run = run_agi(tmp_path, ["support"], override=usage_not_available)
    assert run.returncode == 0
    assert run.call["status"] == "error" and run.call["path"] == "answer:next > welcome:error"
    assert "520" in run.call["error"]
    assert run.sim.variables["AGIFLOW_STATUS"] == "error"


def test_multi_line_520_and_interim_100_are_read_to_their_final_line(tmp_path: Path) -> None:
    def odd_replies(line: str) -> list[str] | None:
        if line.startswith("STREAM FILE"):
            return ["520-Invalid command syntax.  Proper usage follows:", "Usage: STREAM FILE ...",
                    "520 End of proper usage."]
        if line == "ANSWER":
            return ["100 result=0 Trying...", "200 result=0"]
        return None

    run = run_agi(tmp_path, ["support"], override=odd_replies)
    assert run.returncode == 0
    assert run.call["path"] == "answer:next > welcome:error"
    assert run.stdout_lines[-1] == 'SET VARIABLE "AGIFLOW_STATUS" "error"'


def test_a_multi_line_answer_that_never_ends_ends_the_call_with_a_cdr_that_says_why(tmp_path: Path) -> None:
    def endless_usage(line: str) -> list[str] | None:
        if line.startswith("STREAM FILE"):
            return ["520-Invalid command syntax.  Proper usage follows:", *["Usage: STREAM FILE ..."] * 20000]
        return None

    run = run_agi(tmp_path, ["support"], override=endless_usage)
    assert run.returncode == 0
    assert run.call["status"] == "interrupted" and "multi-line answer longer than 256 lines" in run.call["error"]


def test_hangup_lines_without_end_end_the_call_with_a_cdr_that_says_why(tmp_path: Path) -> None:
    def endless_hangups(line: str) -> list[str] | None:
        return ["HANGUP"] * 20000 if line.startswith("STREAM FILE") else None

    run = run_agi(tmp_path, ["support"], override=endless_hangups)
    assert run.returncode == 0
    assert run.call["status"] == "interrupted"
    assert run.call["error"] == "Asterisk sent more than 1024 lines in a row that answer no command"


# -- when the call cannot run ---------------------------------------------------------

@pytest.mark.parametrize("values, why", [({"calleridname": "x" * 70000}, "line longer than max_reply_line"),
                                         ({f"arg_{n}": "x" for n in range(2, 300)}, "longer than 256 lines")])
def test_an_environment_past_its_caps_exits_1_without_a_command_or_a_cdr(
        tmp_path: Path, values: dict[str, str], why: str) -> None:
    env = process_environment(uniqueid="1795385106.8", arg_1="support", **values)
    run = run_agi(tmp_path, ["support"], env=env)
    assert run.returncode == 1 and run.stdout_lines == [] and run.calls == []
    assert why in run.log

def test_no_environment_on_stdin_exits_1_without_a_command_or_a_cdr(tmp_path: Path) -> None:
    """Started with stdin closed (by hand, from cron, a wrong AGI runner): no
    call to run. It once ran the flow anyway, sending commands nowhere and
    writing a CDR row with no call id."""
    config = write_config(tmp_path)
    proc = subprocess.run([str(SCRIPT), "-c", str(config), "support"], stdin=subprocess.DEVNULL,
                          capture_output=True, cwd=tmp_path, timeout=DEADLINE)
    assert (proc.returncode, proc.stdout) == (1, b"")
    assert "no agi_* environment on stdin" in proc.stderr.decode()
    assert read_cdr(tmp_path / "var/cdr.db")[0] == []




@pytest.mark.parametrize("closed", [0, 1], ids=["stdin", "stdout"])
def test_a_closed_stdin_or_stdout_exits_1_in_one_line_without_a_cdr(tmp_path: Path, closed: int) -> None:
    """Started with its standard input or output not open at all (`<&-`,
    `>&-`: not by Asterisk's AGI()). It was an AttributeError traceback."""
    config = write_config(tmp_path)
    proc = subprocess.run([str(SCRIPT), "-c", str(config), "support"], stdin=subprocess.PIPE,
                          stdout=None if closed == 1 else subprocess.PIPE, stderr=subprocess.PIPE,
                          preexec_fn=lambda: os.close(closed), cwd=tmp_path, timeout=DEADLINE)
    err = proc.stderr.decode(errors="replace")
    assert proc.returncode == 1 and "Traceback" not in err, err
    assert f"standard {'input' if closed == 0 else 'output'} is not open" in err and len(err.splitlines()) == 1
    assert read_cdr(tmp_path / "var/cdr.db")[0] == []


@pytest.mark.parametrize("stdin", [b"Content-Type: text/plain\nHost: x\n\n",
                                   bytes(range(256)).replace(b"\n", b"") + b": \xff\x00\n\n",
                                   b"\n"],
                         ids=["other headers", "binary", "a blank line"])
def test_a_stdin_without_agi_variables_exits_1_without_a_command_or_a_cdr(tmp_path: Path, stdin: bytes) -> None:
    """Lines of the form `key: value` and then a blank line, none of them an
    `agi_*` variable (binary noise, another program's headers): no call to
    run. Once the flow ran, its commands sent to whatever was on stdout, and
    a CDR row was written with no call id."""
    config = write_config(tmp_path)
    proc = subprocess.run([str(SCRIPT), "-c", str(config), "support"], input=stdin,
                          capture_output=True, cwd=tmp_path, timeout=DEADLINE)
    assert (proc.returncode, proc.stdout) == (1, b""), proc.stderr.decode(errors="replace")
    assert "no agi_* environment on stdin" in proc.stderr.decode(errors="replace")
    assert read_cdr(tmp_path / "var/cdr.db")[0] == []

def test_unknown_flow_sets_status_and_goes_to_the_configured_fallback(tmp_path: Path) -> None:
    config = write_config(tmp_path, server={"fallback": {"context": "agiflow-fallback"}})
    run = run_agi(tmp_path, ["nosuchflow"], config=config)
    assert run.returncode == 0
    assert run.call["status"] == "unknown_flow" and run.call["requested_flow"] == "nosuchflow"
    assert run.sim.continue_at == ("agiflow-fallback", "s", 1)
    assert "no flow named 'nosuchflow'" in run.log


def test_missing_config_exits_1_without_sending_a_command(tmp_path: Path) -> None:
    run = run_agi(tmp_path, ["support"], config=tmp_path / "nowhere.yaml")
    assert run.returncode == 1  # Asterisk: AGISTATUS=FAILURE, the dialplan takes its fallback
    assert run.stdout_lines == [] and run.calls == []
    assert "nowhere.yaml" in run.log


def test_invalid_flows_exit_1_naming_the_error(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    (tmp_path / "flows" / "broken.yaml").write_text("version: 1\nname: broken\nstart: x\nsteps: {x: {nope: 1}}\n",
                                                    encoding="utf-8")
    run = run_agi(tmp_path, ["support"], config=config)
    assert run.returncode == 1 and run.stdout_lines == []
    assert "broken.yaml:4" in run.log


def test_config_comes_from_agiflow_config_when_no_option_is_given(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    proc = subprocess.run([str(SCRIPT), "closed"], input=b"agi_uniqueid: 1795385106.9\n\n", capture_output=True,
                          cwd=tmp_path, env={**os.environ, "AGIFLOW_CONFIG": str(config)}, timeout=DEADLINE)
    # An environment, then no replies: the call runs, finds the pipe closed, and is recorded.
    assert proc.returncode == 0, proc.stderr.decode()
    calls, _ = read_cdr(tmp_path / "var/cdr.db")
    assert [c["flow"] for c in calls] == ["closed"]


# -- the transport in-process: pyst2 plumbing, our reply parser ------------------------

@pytest.fixture
def restore_sighup() -> Iterator[None]:
    """pyst2's AGI installs a SIGHUP handler; put the test process's back."""
    previous = signal.getsignal(signal.SIGHUP)
    yield
    signal.signal(signal.SIGHUP, previous)


def pyst2_transport(asterisk_writes: str) -> tuple[StdioTransport, io.BytesIO, Any]:
    from asterisk.agi import AGI

    stdin, stdout = text_streams(io.BytesIO(asterisk_writes.encode("utf-8")), raw := io.BytesIO())
    agi = AGI(stdin=stdin, stdout=stdout, stderr=io.StringIO())
    return StdioTransport(agi), raw, agi


def send(transport: StdioTransport, line: bytes) -> Any:
    """The reply to one command, or the exception sending it raised."""
    async def one() -> Any:
        return await transport.send(line)

    try:
        return run_to_completion(one())
    except ConnectionClosed as exc:
        return exc


def test_hangup_line_before_the_reply_is_noted_not_taken_as_the_reply(restore_sighup: None) -> None:
    transport, raw, _ = pyst2_transport("agi_uniqueid: 1.2\n\nHANGUP\n200 result=-1 endpos=0\n")
    reply = send(transport, b'STREAM FILE "x" ""\n')
    assert (reply.code, reply.result) == (200, "-1")
    assert transport.hangup_seen
    assert raw.getvalue() == b'STREAM FILE "x" ""\n'


def test_get_data_timeout_keeps_its_timeout_marker(restore_sighup: None) -> None:
    transport, _, _ = pyst2_transport("agi_uniqueid: 1.2\n\n200 result= (timeout)\n")
    reply = send(transport, b'GET DATA "menu" "5000" "1"\n')
    assert reply.result == "" and reply.data == "timeout"


def test_sighup_from_asterisk_marks_the_caller_gone(restore_sighup: None) -> None:
    transport, _, _ = pyst2_transport("agi_uniqueid: 1.2\n\n")
    assert not transport.hangup_seen
    os.kill(os.getpid(), signal.SIGHUP)
    assert transport.hangup_seen


def test_end_of_stdin_while_waiting_fails_the_command_as_connection_closed(restore_sighup: None) -> None:
    transport, _, _ = pyst2_transport("agi_uniqueid: 1.2\n\n")
    assert isinstance(send(transport, b"ANSWER\n"), ConnectionClosed)
    assert isinstance(send(transport, b"NOOP\n"), ConnectionClosed)


def test_environment_uses_argv_for_the_flow_and_its_arguments() -> None:
    pyst_env = {"agi_request": AGI_BIN, "agi_uniqueid": "1.2", "agi_callerid": "600111222",
                "agi_arg_1": "support", "agi_arg_2": "x"}
    env = environment(pyst_env, "support?lang=es", ["x", ""])
    assert (env.flow_name, env.query, env.args) == ("support", {"lang": "es"}, ["x", ""])
    assert env.caller == "600111222" and env.get("request") == AGI_BIN


# -- the direct CDR writer ---------------------------------------------------------------

def test_direct_cdr_keeps_rows_while_the_database_is_locked_and_writes_them_later(tmp_path: Path) -> None:
    path = tmp_path / "cdr.db"
    cdr = DirectCdr(path, busy_timeout=0.05)
    cdr.open()
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    cdr.call_started({"id": "k1", "call_id": "1.1", "started_at": "2026-01-01T00:00:00Z", "status": "in_progress"})
    assert len(cdr.pending) == 1
    blocker.execute("COMMIT")
    blocker.close()
    cdr.call_ended("k1", {"status": "completed"})
    assert cdr.pending == [] and cdr.close()
    calls, _ = read_cdr(path)
    assert [(c["id"], c["status"]) for c in calls] == [("k1", "completed")]


def test_a_lock_held_elsewhere_delays_no_step_of_the_call_by_the_busy_timeout(tmp_path: Path) -> None:
    """Each write of the call once waited the whole busy timeout (5 s) for
    a lock another process held (a long transaction, a first roll of the
    rollups): 5 s of silence for the caller before the call was answered
    and after every step. A write during the call waits a moment and keeps
    its rows; the last one, as the call ends, waits the whole timeout."""
    path = tmp_path / "cdr.db"
    cdr = DirectCdr(path)
    cdr.open()
    blocker = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    blocker.execute("BEGIN EXCLUSIVE")
    started = time.monotonic()
    cdr.call_started({"id": "k1", "call_id": "1.1", "started_at": "2026-01-01T00:00:00Z", "status": "in_progress"})
    for seq in range(1, 4):
        cdr.step_finished("k1", {"seq": seq, "step": f"s{seq}", "type": "play", "outcome": "next",
                                 "started_at": "2026-01-01T00:00:00Z", "duration": 0.1})
    cdr.call_ended("k1", {"status": "completed"})
    assert time.monotonic() - started < 10  # once 25 s
    assert len(cdr.pending) == 5
    threading.Timer(0.5, blocker.execute, ["COMMIT"]).start()
    assert cdr.close()
    blocker.close()
    calls, steps = read_cdr(path)
    assert [(c["id"], c["status"]) for c in calls] == [("k1", "completed")] and len(steps) == 3


def test_direct_cdr_never_marks_other_processes_calls_interrupted(tmp_path: Path) -> None:
    path = tmp_path / "cdr.db"
    first = DirectCdr(path)
    first.open()
    first.call_started({"id": "a", "call_id": "1.1", "started_at": "2026-01-01T00:00:00Z", "status": "in_progress"})
    second = DirectCdr(path)
    second.open()
    assert second.close() and first.close()
    calls, _ = read_cdr(path)
    assert calls[0]["status"] == "in_progress"


# -- steps that await something really pending ---------------------------------------------

def run_python(program: str) -> subprocess.CompletedProcess[str]:
    """The reactor runs once per process, as in agiflow-agi: one program each."""
    return subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, cwd=REPO,
                          timeout=DEADLINE)


def test_a_step_awaiting_a_pending_deferred_runs_under_the_reactor_then_returns() -> None:
    run = run_python(
        "from twisted.internet import reactor, task\n"
        "from agi.server.stdio_driver import run_to_completion\n"
        "async def call():\n"
        "    first = await task.deferLater(reactor, 0.05, lambda: 'webhook answered')\n"
        "    return first + ' then the call went on'\n"
        "print(run_to_completion(call()))\n")
    assert run.stdout.strip() == "webhook answered then the call went on", run.stderr


def test_an_error_after_a_pending_deferred_is_raised_to_the_caller() -> None:
    run = run_python(
        "from twisted.internet import reactor, task\n"
        "from agi.server.stdio_driver import run_to_completion\n"
        "async def fails():\n"
        "    await task.deferLater(reactor, 0, lambda: None)\n"
        "    raise KeyError('inside the call')\n"
        "try:\n"
        "    run_to_completion(fails())\n"
        "except KeyError as exc:\n"
        "    print('raised', exc)\n")
    assert run.stdout.strip() == "raised 'inside the call'", run.stderr


def test_a_call_that_never_suspends_does_not_even_import_twisted() -> None:
    run = run_python(
        "import sys\n"
        "from agi.stdio.main import run_call\n"
        "from agi.ready import Ready\n"
            "from agi.server.stdio_driver import run_to_completion\n"
        "async def call():\n"
        "    return await Ready(3) + await Ready(4)\n"
        "print(run_to_completion(call()), [m for m in sys.modules if m.startswith('twisted')])\n")
    assert run.stdout.strip() == "7 []", run.stderr


def test_a_failed_deferred_raises_where_the_step_awaits_it() -> None:
    run = run_python(
        "from twisted.internet import reactor, task\n"
        "from agi.server.stdio_driver import run_to_completion\n"
        "def boom():\n"
        "    raise ValueError('webhook refused')\n"
        "async def call():\n"
        "    try:\n"
        "        await task.deferLater(reactor, 0.01, boom)\n"
        "    except ValueError as exc:\n"
        "        return f'step saw: {exc}'\n"
        "print(run_to_completion(call()))\n")
    assert run.stdout.strip() == "step saw: webhook refused", run.stderr


def test_in_plain_agi_mode_the_request_is_written_by_the_process_itself(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    (tmp_path / "flows" / "cb.yaml").write_text(CALLBACK_FLOW)
    run = run_agi(tmp_path, ["cb"], CallerScript(dtmf=["1", "1"], sounds=EverySound()), config=config)

    assert run.returncode == 0, run.log
    assert run.call["callback"] == "+34600111222"
    rows = [dict(r) for r in sqlite_utils.Database(tmp_path / "var" / "cdr.db")["callbacks"].rows]
    assert [(r["number"], r["call_id"], r["status"]) for r in rows] == [("+34600111222", "1795385106.7", "pending")]


def test_a_log_file_that_cannot_be_opened_sends_the_lines_to_stderr_and_the_call_runs(tmp_path: Path) -> None:
    """A --log-file the Asterisk user cannot write (its folder missing, or
    owned by root) was a traceback and exit 1: every call went to the
    fallback for want of a log file."""
    missing = tmp_path / "no" / "such" / "agi.log"
    run = run_agi(tmp_path, ["--log-file", str(missing), "closed"])
    assert run.returncode == 0, run.log
    assert run.call["status"] == "completed"
    assert f"agiflow-agi: cannot open the log file {missing} (No such file or directory); logging to stderr" \
        in run.log.splitlines()
    assert "call ended: completed" in run.log and "Traceback" not in run.log


def test_a_log_file_that_is_a_named_pipe_no_program_reads_sends_the_lines_to_stderr_at_once(tmp_path: Path) -> None:
    """A --log-file that is a named pipe (a log shipper's) with its reader
    down held every call for ever at the open, before its first command:
    silence for the caller, and a process left behind after the hangup."""
    pipe = tmp_path / "shipper.log"
    os.mkfifo(pipe)
    started = time.monotonic()
    run = run_agi(tmp_path, ["--log-file", str(pipe), "closed"])
    assert time.monotonic() - started < 10
    assert run.returncode == 0, run.log
    assert run.call["status"] == "completed"
    assert f"agiflow-agi: cannot open the log file {pipe} (No such device or address: no program reads it); " \
        "logging to stderr" in run.log.splitlines()


def test_without_a_flow_the_usage_names_flow_alone_and_arguments_as_optional(capsys: pytest.CaptureFixture[str]) -> None:
    from agi.stdio.main import main
    with pytest.raises(SystemExit) as stopped:
        main([])
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert "FLOW [ARG ...]" in err
    assert err.rstrip().endswith("error: the following argument is required: FLOW")


def test_a_table_locked_on_postgresql_delays_no_step_of_the_call_by_the_statement_timeout(
        postgres_url: PostgresUrl) -> None:
    """As on SQLite: each write once waited its whole 2 s statement timeout
    for the lock, 2 s of silence after every step."""
    import psycopg
    cdr = DirectCdr(postgres_url)
    cdr.open()
    blocker = psycopg.connect(postgres_url.url)
    blocker.execute("LOCK TABLE calls, call_steps IN ACCESS EXCLUSIVE MODE")
    started = time.monotonic()
    cdr.call_started({"id": "p1", "call_id": "2.1", "started_at": "2026-01-01T00:00:00Z", "status": "in_progress"})
    for seq in range(1, 10):
        cdr.step_finished("p1", {"seq": seq, "step": f"s{seq}", "type": "play", "outcome": "next",
                                 "started_at": "2026-01-01T00:00:00Z", "duration": 0.1})
    assert time.monotonic() - started < 8  # once 20 s
    assert len(cdr.pending) == 10
    blocker.commit()
    blocker.close()
    cdr.call_ended("p1", {"status": "completed"})
    assert cdr.close() and cdr.pending == []
    with psycopg.connect(postgres_url.url) as conn:
        assert conn.execute("SELECT status FROM calls WHERE id = 'p1'").fetchall() == [("completed",)]
        assert conn.execute("SELECT count(*) FROM call_steps WHERE call = 'p1'").fetchone() == (9,)
