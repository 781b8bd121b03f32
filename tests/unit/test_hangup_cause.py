"""The CDR's ``hangup_cause``: Asterisk's HANGUPCAUSE read after an
answered queue or dial, given by a ``hangup`` step, or read once on the
dead channel of a caller who hung up; and the simulator's model of it."""
from __future__ import annotations

from pathlib import Path

import pytest

from agi.sim.asterisk import SimulatedAsterisk
from agi.sim.script import CallerScript, EverySound
from support.step_runner import cdr, commands, details, run, run_script

QUEUE_FLOW = """\
version: 1
name: q
start: support
steps:
  support:
    queue: {name: support, timeout: 300}
    on: {answered: bye, timeout: bye}
  bye:
    play: agiflow/thanks-for-calling
"""
DIAL_FLOW = """\
version: 1
name: d
start: call
steps:
  call:
    dial: {destination: PJSIP/100, timeout: 30}
    on: {answer: bye, busy: bye}
  bye:
    play: agiflow/thanks-for-calling
"""
PLAY_FLOW = """\
version: 1
name: p
start: welcome
steps:
  welcome:
    play: agiflow/welcome
    next: bye
  bye:
    hangup: {cause: 21}
"""


def test_the_simulated_channel_says_0_until_it_has_a_cause_and_the_callers_cause_after_a_hangup() -> None:
    sim = SimulatedAsterisk(script=CallerScript(hangup_cause=17))
    assert sim.handle('GET VARIABLE "HANGUPCAUSE"') == ["200 result=1 (0)"]
    sim.handle('SET VARIABLE "HANGUPCAUSE" "99"')  # a variable of that name never hides the builtin
    assert sim.handle('GET VARIABLE "HANGUPCAUSE"') == ["200 result=1 (0)"]
    sim.hang_up(by="caller")
    assert sim.handle('GET VARIABLE "HANGUPCAUSE"') == ["HANGUP", "200 result=1 (17)"]


def test_a_script_refuses_a_cause_outside_q850() -> None:
    with pytest.raises(ValueError, match="Q.850"):
        CallerScript(hangup_cause=0)


def test_the_hangup_application_sets_the_cause_it_is_given_else_normal_clearing() -> None:
    sim = SimulatedAsterisk()
    sim.handle('EXEC "Hangup" "34"')
    assert sim.vars.read("HANGUPCAUSE") == "34"
    sim = SimulatedAsterisk()
    sim.handle('EXEC "Hangup" ""')
    assert sim.vars.read("HANGUPCAUSE") == "16"


def test_a_caller_who_hangs_up_in_the_ivr_leaves_the_cause_of_their_hangup(tmp_path: Path) -> None:
    result = run_script(tmp_path, PLAY_FLOW, CallerScript(hangup_during=1, hangup_cause=19, sounds=EverySound()))
    assert cdr(result, "status", "hangup_cause") == ("caller_hangup", "19")
    assert commands(result).count('GET VARIABLE "HANGUPCAUSE"') == 1


def test_a_flow_that_hangs_up_with_a_cause_records_that_cause(tmp_path: Path) -> None:
    result = run(tmp_path, PLAY_FLOW)
    assert cdr(result, "status", "hangup_cause") == ("completed", "21")
    assert 'GET VARIABLE "HANGUPCAUSE"' not in commands(result)


def test_a_flow_that_hangs_up_without_a_cause_records_none(tmp_path: Path) -> None:
    # AGI's HANGUP gives the channel no cause: Asterisk 22.11's HANGUPCAUSE
    # stays 0, read just after it and in the hangup handler alike (the CDR keeps NULL)
    result = run(tmp_path, PLAY_FLOW.replace("hangup: {cause: 21}", "hangup:"))
    assert commands(result)[-2:] == ["HANGUP", 'SET VARIABLE "AGIFLOW_STATUS" "completed"']
    assert cdr(result, "status", "hangup_cause") == ("completed", None)


def test_an_answered_dial_records_normal_clearing_and_a_flow_that_just_ends_reads_nothing_more(tmp_path: Path) -> None:
    result = run(tmp_path, DIAL_FLOW, talk_time=40)
    assert cdr(result, "dial_status", "hangup_cause", "status") == ("ANSWER", "16", "completed")
    assert commands(result).count('GET VARIABLE "HANGUPCAUSE"') == 1


def test_an_unanswered_dial_reads_no_cause(tmp_path: Path) -> None:
    result = run(tmp_path, DIAL_FLOW, dial_statuses=["BUSY"])
    assert cdr(result, "dial_status", "hangup_cause") == ("BUSY", None)
    assert 'GET VARIABLE "HANGUPCAUSE"' not in commands(result)


def test_a_caller_who_hangs_up_while_talking_to_an_agent_gets_the_cause_read_once(tmp_path: Path) -> None:
    # the caller hangs up during Queue(), after the member answered
    script = CallerScript(queue_statuses=["ANSWERED"], hangup_during=4, hangup_cause=31, queue_wait=20,
                          talk_time=70, sounds=EverySound())
    result = run_script(tmp_path, QUEUE_FLOW, script)
    assert cdr(result, "status", "queue_status", "talk_time", "hangup_cause") == ("caller_hangup", "ANSWERED", 70, "31")
    assert commands(result).count('GET VARIABLE "HANGUPCAUSE"') == 1


def test_an_answered_queue_whose_member_hung_up_first_records_normal_clearing(tmp_path: Path) -> None:
    # Asterisk 22.11 gives the caller's channel cause 16 when the member ends the bridge
    result = run(tmp_path, QUEUE_FLOW, queue_statuses=["ANSWERED"], talk_time=70)
    assert cdr(result, "status", "queue_status", "hangup_cause") == ("completed", "ANSWERED", "16")


def test_a_queue_nobody_answered_reads_no_cause(tmp_path: Path) -> None:
    result = run(tmp_path, QUEUE_FLOW, queue_statuses=["TIMEOUT"])
    assert cdr(result, "queue_status", "hangup_cause") == ("TIMEOUT", None)
    assert 'GET VARIABLE "HANGUPCAUSE"' not in commands(result)


def test_a_caller_who_hangs_up_after_the_member_did_leaves_their_own_cause_not_the_members(tmp_path: Path) -> None:
    # the member hangs up first (16 read after Queue()), then the caller hangs
    # up with 21 while the flow plays on: the call ended with the caller's 21
    script = CallerScript(queue_statuses=["ANSWERED"], hangup_cause=21, talk_time=70, sounds=EverySound(),
                          hangup_during=100)
    for folder in ("probe", "call"):
        (tmp_path / folder).mkdir()
    probe = run_script(tmp_path / "probe", QUEUE_FLOW, script)
    streaming = commands(probe).index('STREAM FILE "agiflow/thanks-for-calling" ""') + 1
    script = CallerScript(queue_statuses=["ANSWERED"], hangup_cause=21, talk_time=70, sounds=EverySound(),
                          hangup_during=streaming)
    result = run_script(tmp_path / "call", QUEUE_FLOW, script)
    assert cdr(result, "status", "queue_status", "hangup_cause") == ("caller_hangup", "ANSWERED", "21")
    assert details(result, "support")["hangup_cause"] == "16"  # the step read what Asterisk said then
