"""The ``hangup`` step: HANGUP, or the Hangup application with a cause code.

Each test writes a small flow, loads it through the real loader and runs
it with ``agi.simulate.simulate`` against the simulated Asterisk 22.
Assertions are on what Asterisk receives (the exact command lines), on the
path the call takes, and on the CDR rows and variables that come out of it.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from agi.session import SessionSettings, run_session
from agi.sim.asterisk import SimulatedAsterisk
from agi.sim.script import CallerScript, EverySound, make_environment
from agi.sim.transport import run_sync
from agi.storage.cdr_memory import MemoryCdr
from support.step_runner import AT, STATUS, CutTransport, commands, details, load, path, run


def hangup_flow(value: str) -> str:
    return f"""\
version: 1
name: bye
start: answer
steps:
  answer:
    answer:
    next: bye
  bye:
    hangup: {value}
"""


@pytest.mark.parametrize("value", ["", "true"])
def test_plain_hangup_sends_hangup_and_completes_the_call(tmp_path: Path, value: str) -> None:
    result = run(tmp_path, hangup_flow(value))
    assert commands(result) == ["ANSWER", "HANGUP", STATUS.format("completed")]
    assert path(result) == ["answer:next", "bye:done"]
    assert result.call["status"] == "completed"
    assert result.variables["AGIFLOW_STATUS"] == "completed"


def test_hangup_with_a_cause_runs_the_hangup_application_and_still_completes(tmp_path: Path) -> None:
    result = run(tmp_path, hangup_flow("{cause: 17}"))
    assert commands(result) == ["ANSWER", 'EXEC "Hangup" "17"', STATUS.format("completed")]
    assert result.exchanges[1].lines == ("200 result=-1", "HANGUP")
    assert path(result) == ["answer:next", "bye:done"]
    assert details(result, "bye") == {"cause": 17}
    assert result.call["status"] == "completed"
    assert result.call["status"] != "caller_hangup"


AFTER_THE_CALLER_HUNG_UP = """\
version: 1
name: bye
start: menu
steps:
  menu:
    menu: {prompt: agiflow/main-menu, choices: {"1": bye}}
    on: {hangup: log, timeout: bye, invalid: bye}
  log:
    set: {cdr: {gone: "yes"}}
    next: bye
  bye:
    hangup: %s
"""


@pytest.mark.parametrize("value", ["", "{cause: 17}"])
def test_a_hangup_step_after_the_caller_hung_up_sends_nothing_and_keeps_the_callers_cause(
        tmp_path: Path, value: str) -> None:
    result = run(tmp_path, AFTER_THE_CALLER_HUNG_UP % value, hangup_after=0)
    assert path(result) == ["menu:hangup", "log:next", "bye:hangup"]
    assert not [c for c in commands(result) if c.startswith(("HANGUP", 'EXEC "Hangup"'))]
    assert result.call["status"] == "caller_hangup"
    assert result.call["hangup_cause"] == "16"  # the caller's (normal clearing), not the step's 17
    assert details(result, "bye") == {}


def test_a_hangup_that_asterisk_refuses_on_a_dead_channel_is_the_callers(tmp_path: Path) -> None:
    flow = hangup_flow("").replace("    answer:\n    next: bye", "    answer:\n    next: tag") + \
        "  tag:\n    set: {variables: {X: \"1\"}}\n    next: bye\n"
    result = run(tmp_path, flow, hangup_after=1)  # the caller hangs up during SET VARIABLE
    assert commands(result)[:3] == ["ANSWER", 'SET VARIABLE "X" "1"', "HANGUP"]
    assert result.exchanges[2].lines[-1].startswith("511")
    assert path(result) == ["answer:next", "tag:next", "bye:hangup"]
    assert result.call["status"] == "caller_hangup"


def test_a_hangup_step_after_the_connection_closed_hung_up_nothing(tmp_path: Path) -> None:
    """Its Hangup never reached Asterisk: the step ends with ``hangup`` and
    the CDR gets no cause of its own (it once said ``done``, cause 16)."""
    flows, name = load(tmp_path, """\
version: 1
name: cut
start: menu
steps:
  menu:
    menu: {prompt: agiflow/main-menu, choices: {"1": bye}}
    on: {hangup: bye}
  bye:
    hangup: {cause: 16}
""")
    transport = CutTransport(SimulatedAsterisk(make_environment(name), CallerScript(sounds=EverySound())), b"GET DATA")
    sink = MemoryCdr()
    run_sync(run_session(transport.environment(), transport, flows, sink, SessionSettings(), AT.timestamp))
    [call] = sink.calls.values()
    assert [(row["step"], row["outcome"]) for row in sink.steps] == [("menu", "hangup"), ("bye", "hangup")]
    assert call.get("hangup_cause") is None


def test_a_hangup_with_a_cause_after_the_callers_hangup_line_is_the_callers(tmp_path: Path) -> None:
    flow = hangup_flow("{cause: 17}").replace("    answer:\n    next: bye", "    answer:\n    next: tag") + \
        "  tag:\n    set: {variables: {X: \"1\"}}\n    next: bye\n"
    result = run(tmp_path, flow, hangup_after=1)  # the caller hangs up during SET VARIABLE
    # EXEC runs on a dead channel too; the HANGUP line before its answer says the caller had gone.
    assert commands(result)[:3] == ["ANSWER", 'SET VARIABLE "X" "1"', 'EXEC "Hangup" "17"']
    assert result.exchanges[2].lines == ("HANGUP", "200 result=-1")
    assert path(result) == ["answer:next", "tag:next", "bye:hangup"]
    assert result.call["status"] == "caller_hangup"
    assert result.call["hangup_cause"] == "16"  # the caller's, never the step's 17
    assert result.variables["AGIFLOW_STATUS"] == "caller_hangup"
