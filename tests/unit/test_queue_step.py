"""The ``queue`` step: what Asterisk receives, the outcome for each way a
caller leaves Queue(), and the CDR columns (queue, queue_status, queue_wait,
talk_time). Asterisk's side is the simulator, which ends Queue() the way
app_queue.c does in Asterisk 22."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from agi.services import Services
from agi.session import SessionSettings, run_session
from agi.sim.asterisk import SimulatedAsterisk
from agi.sim.script import CallerScript, EverySound, make_environment
from agi.sim.transport import run_sync
from agi.storage.callbacks import MemoryCallbackRequests
from agi.storage.cdr_memory import MemoryCdr
from support.step_runner import AT, STATUS, CutTransport, cdr, commands, details, load, path, run, run_script

CLEAR = ['SET VARIABLE "QUEUESTATUS" ""', 'SET VARIABLE "ABANDONED" ""', 'SET VARIABLE "QEHOLDTIME" ""']


def queue_flow(options: str = "{name: support, timeout: 300, options: t}", on: str = "") -> str:
    return f"""\
version: 1
name: q
start: support
steps:
  support:
    queue: {options}
    on: {{answered: bye, timeout: sorry{on}}}
  sorry:
    play: agiflow/all-agents-busy
  bye:
    play: agiflow/thanks-for-calling
"""


def test_caller_who_times_out_gets_the_timeout_branch_and_the_wait_in_the_cdr(tmp_path: Path) -> None:
    result = run(tmp_path, queue_flow(), queue_wait=42)
    assert commands(result) == [*CLEAR, 'EXEC "Queue" "support,t,,,300"', 'GET VARIABLE "QUEUESTATUS"',
                                'STREAM FILE "agiflow/all-agents-busy" ""', STATUS.format("completed")]
    assert path(result) == ["support:timeout", "sorry:next"]
    assert cdr(result, "queue", "queue_status", "queue_wait", "talk_time") == ("support", "TIMEOUT", 42, None)
    assert details(result, "support") == {"queue": "support", "result": 0, "status": "TIMEOUT", "wait": 42}


def test_caller_answered_by_an_agent_who_hangs_up_first_continues_in_the_flow(tmp_path: Path) -> None:
    result = run(tmp_path, queue_flow(), queue_statuses=["ANSWERED"], queue_wait=30, talk_time=125)
    assert commands(result) == [*CLEAR, 'EXEC "Queue" "support,t,,,300"', "NOOP", 'GET VARIABLE "QUEUESTATUS"',
                                'GET VARIABLE "QEHOLDTIME"', 'GET VARIABLE "MEMBERINTERFACE"',
                                'GET VARIABLE "MEMBERNAME"', 'GET VARIABLE "HANGUPCAUSE"',
                                'STREAM FILE "agiflow/thanks-for-calling" ""', STATUS.format("completed")]
    assert path(result) == ["support:answered", "bye:next"]
    assert cdr(result, "queue_status", "queue_wait", "talk_time", "status") == ("ANSWERED", 30, 125, "completed")


def test_the_member_who_answered_is_the_calls_agent(tmp_path: Path) -> None:
    script = CallerScript(queue_statuses=["ANSWERED"], queue_member=("Ana", "PJSIP/201"), sounds=EverySound())
    result = run_script(tmp_path, queue_flow(), script)
    assert cdr(result, "agent", "agent_interface") == ("Ana", "PJSIP/201")
    assert details(result, "support")["agent"] == "Ana"


def test_a_queue_without_setinterfacevar_leaves_the_agent_unknown(tmp_path: Path) -> None:
    script = CallerScript(queue_statuses=["ANSWERED"], queue_member=None, sounds=EverySound())
    result = run_script(tmp_path, queue_flow(), script)
    assert cdr(result, "queue_status", "agent", "agent_interface") == ("ANSWERED", None, None)
    assert 'GET VARIABLE "MEMBERNAME"' not in commands(result)


def test_an_unanswered_queue_records_no_agent(tmp_path: Path) -> None:
    result = run(tmp_path, queue_flow())
    assert cdr(result, "agent", "agent_interface") == (None, None)
    assert 'GET VARIABLE "MEMBERINTERFACE"' not in commands(result)


def test_a_second_queue_never_reads_the_agent_an_earlier_one_left(tmp_path: Path) -> None:
    flow = """\
version: 1
name: q
start: first
steps:
  first:
    queue: {name: sales, options: c}
    on: {continue: second}
  second:
    queue: support
"""
    script = CallerScript(queue_statuses=["CONTINUE", "ANSWERED"], sounds=EverySound())
    result = run_script(tmp_path, flow, script)
    sent = commands(result)
    second = sent.index('EXEC "Queue" "support"')
    assert {'SET VARIABLE "MEMBERNAME" ""', 'SET VARIABLE "MEMBERINTERFACE" ""'} <= set(sent[:second])
    assert sent.index('SET VARIABLE "MEMBERNAME" ""') > sent.index('EXEC "Queue" "sales,c"')


def test_caller_who_hangs_up_after_talking_to_an_agent_is_answered_not_abandoned(tmp_path: Path) -> None:
    result = run(tmp_path, queue_flow(), queue_statuses=["ANSWERED"], queue_wait=30, talk_time=125,
                 hangup_after=3)
    assert path(result)[0] == "support:answered"
    assert result.call["status"] == "caller_hangup"
    assert cdr(result, "queue_status", "queue_wait", "talk_time") == ("ANSWERED", 30, 125)
    # No QUEUESTATUS and a dead channel: ABANDONED (unset here) tells it from an abandon.
    assert 'GET VARIABLE "ABANDONED"' in commands(result)
    assert not any(c.startswith("STREAM FILE") for c in commands(result))


def test_caller_who_hangs_up_while_waiting_abandons_with_the_hangup_outcome(tmp_path: Path) -> None:
    result = run(tmp_path, queue_flow(), queue_wait=50, hangup_after=3)
    assert commands(result)[3:7] == ['EXEC "Queue" "support,t,,,300"', "NOOP", 'GET VARIABLE "QUEUESTATUS"',
                                     'GET VARIABLE "ABANDONED"']
    assert path(result) == ["support:hangup"]
    assert cdr(result, "queue_status", "queue_wait", "talk_time", "status") == ("ABANDONED", 50, None, "caller_hangup")


def test_caller_who_hangs_up_just_before_queue_runs_is_no_answered_call(tmp_path: Path) -> None:
    # The caller hangs up during the last SET VARIABLE: Asterisk announces it
    # (HANGUP) before its reply to the EXEC, so Queue() ran on a dead channel,
    # left no status and no ABANDONED, and no member can have answered.
    result = run(tmp_path, queue_flow(), hangup_after=2)
    assert commands(result)[3] == 'EXEC "Queue" "support,t,,,300"'
    assert path(result) == ["support:hangup"]
    assert cdr(result, "queue_status", "talk_time", "agent", "status") == ("ABANDONED", None, None, "caller_hangup")
    assert "callbacks_closed_for" not in details(result, "support")
    assert 'GET VARIABLE "MEMBERINTERFACE"' not in commands(result)


@pytest.mark.parametrize("status", ["FULL", "JOINEMPTY", "JOINUNAVAIL", "LEAVEEMPTY", "LEAVEUNAVAIL", "WITHDRAW"])
def test_every_queue_status_is_its_own_outcome(tmp_path: Path, status: str) -> None:
    outcome = status.lower()
    result = run(tmp_path, queue_flow(on=f", {outcome}: sorry"), queue_statuses=[status])
    assert path(result) == [f"support:{outcome}", "sorry:next"]
    assert result.call["queue_status"] == status


def test_a_caller_who_leaves_the_queue_with_a_key_is_no_answered_call(tmp_path: Path) -> None:
    # queues.conf's context: a key with an extension there takes the caller out
    # of the queue; Asterisk 22.11 sets no QUEUESTATUS and Queue() returns 0,
    # with the caller on the line (queue_log: EXITWITHKEY). It was taken for
    # an answered call: ANSWERED, and the caller's callback requests closed.
    result = run(tmp_path, queue_flow(on=", exitwithkey: sorry"), queue_statuses=["EXITWITHKEY"], queue_wait=12)
    assert path(result) == ["support:exitwithkey", "sorry:next"]
    assert cdr(result, "queue_status", "queue_wait", "talk_time", "agent") == ("EXITWITHKEY", 12, None, None)
    assert "callbacks_closed_for" not in details(result, "support")
    assert 'GET VARIABLE "QEHOLDTIME"' not in commands(result)


def test_a_caller_who_cannot_join_waits_no_time(tmp_path: Path) -> None:
    result = run(tmp_path, queue_flow(on=", joinempty: sorry"), queue_statuses=["JOINEMPTY"], queue_wait=99)
    assert result.call["queue_wait"] == 0


def test_option_c_gives_continue_when_the_agent_hangs_up(tmp_path: Path) -> None:
    result = run(tmp_path, queue_flow("{name: support, options: tc}", on=", continue: bye"),
                 queue_statuses=["ANSWERED"], queue_wait=12, talk_time=60)
    assert 'EXEC "Queue" "support,tc"' in commands(result)
    assert path(result) == ["support:continue", "bye:next"]
    # Answered, as far as the CDR (and every report) is concerned.
    assert cdr(result, "queue_status", "queue_wait", "talk_time") == ("ANSWERED", 12, 60)
    assert details(result, "support")["status"] == "CONTINUE"


def test_a_queue_asterisk_does_not_know_ends_the_step_with_error(tmp_path: Path) -> None:
    result = run(tmp_path, queue_flow("{name: nosuch}", on=", error: sorry"), queue_statuses=["UNKNOWN"])
    assert path(result) == ["support:error", "sorry:next"]
    assert "no such queue" in details(result, "support")["error"]
    assert result.call["queue_status"] == "UNKNOWN"


def test_a_second_queue_never_reads_the_first_queues_status(tmp_path: Path) -> None:
    flow = """\
version: 1
name: overflow
start: first
steps:
  first:
    queue: {name: support, timeout: 60}
    on: {timeout: second}
  second:
    queue: {name: overflow, timeout: 60}
    on: {answered: bye}
  bye:
    play: agiflow/thanks-for-calling
"""
    # The first queue leaves QUEUESTATUS=TIMEOUT and ABANDONED=TRUE; the caller
    # then talks to an agent of the second queue and hangs up.
    result = run(tmp_path, flow, queue_statuses=["TIMEOUT", "ANSWERED"], queue_wait=20, talk_time=40,
                 hangup_after=9)
    assert path(result)[:2] == ["first:timeout", "second:answered"]
    assert (result.call["queue"], result.call["queue_status"]) == ("overflow", "ANSWERED")
    assert (result.call["queue_wait"], result.call["talk_time"]) == (20, 40)


def test_without_setqueueentryvar_an_answered_call_has_no_wait_or_talk_time(tmp_path: Path) -> None:
    script = CallerScript(queue_statuses=["ANSWERED"], queue_wait=30, talk_time=90, queue_entry_vars=False,
                          sounds=EverySound())
    result = run_script(tmp_path, queue_flow(), script)
    assert path(result)[0] == "support:answered"
    assert cdr(result, "queue_status", "queue_wait", "talk_time") == ("ANSWERED", None, None)


def test_every_queue_argument_goes_in_asterisk_22_order(tmp_path: Path) -> None:
    options = ('{name: sales, options: tT, url: "http://crm/x", announce: agent-announce, timeout: 120, '
               'gosub: sub-agent, rule: vip-rule, position: 1}')
    result = run(tmp_path, queue_flow(options))
    assert 'EXEC "Queue" "sales,tT,http://crm/x,agent-announce,120,,sub-agent,vip-rule,1"' in commands(result)


def test_short_form_names_only_the_queue(tmp_path: Path) -> None:
    result = run(tmp_path, queue_flow("support"))
    assert 'EXEC "Queue" "support"' in commands(result)


def test_queue_name_comes_from_a_template(tmp_path: Path) -> None:
    flow = """\
version: 1
name: vipq
start: mark
steps:
  mark:
    set: {variables: {queue: vip}}
    next: support
  support:
    queue: {name: "{{ vars.queue | default('support') }}"}
"""
    result = run(tmp_path, flow)
    assert 'EXEC "Queue" "vip"' in commands(result)
    assert result.call["queue"] == "vip"


def test_a_queue_name_with_a_comma_stays_one_argument_of_queue(tmp_path: Path) -> None:
    flow = queue_flow('{name: "{{ call.caller }},x", timeout: 300}')
    result = run(tmp_path, flow)
    assert 'EXEC "Queue" "600111222\\\\,x,,,,300"' in commands(result)
    assert cdr(result, "queue") == ("600111222,x",)


def test_a_queue_name_with_a_line_break_is_refused_before_anything_is_sent(tmp_path: Path) -> None:
    flow = queue_flow('{name: "support\\nx"}', on=", error: sorry")
    result = run(tmp_path, flow)
    assert path(result) == ["support:error", "sorry:next"]
    assert not any(c.startswith('EXEC "Queue"') for c in commands(result))


def test_asterisk_without_app_queue_ends_the_step_with_error(tmp_path: Path) -> None:
    result = run(tmp_path, queue_flow(on=", error: sorry"), app_results={"Queue": -2})
    assert path(result) == ["support:error", "sorry:next"]
    assert "Queue" in details(result, "support")["error"]


def test_the_simulated_clock_moves_on_by_the_time_spent_in_the_queue(tmp_path: Path) -> None:
    result = run(tmp_path, queue_flow(), queue_statuses=["ANSWERED"], queue_wait=30, talk_time=125)
    assert result.call["duration"] == 155


def test_a_queue_whose_connection_closed_before_queue_ended_is_no_answered_call(tmp_path: Path) -> None:
    """Nothing says how the caller left: no member answered as far as agiflow
    knows, so the step records no ANSWERED and closes no callback request
    (on a real Asterisk 22.11 the caller cut so waited on and timed out)."""
    flows, name = load(tmp_path, queue_flow())
    script = CallerScript(queue_statuses=["ANSWERED"], sounds=EverySound())
    transport = CutTransport(SimulatedAsterisk(make_environment(name, callerid="600111222"), script), b'EXEC "Queue"')
    callbacks, sink = MemoryCallbackRequests(["+34600111222"]), MemoryCdr()
    run_sync(run_session(transport.environment(), transport, flows, sink, SessionSettings(), lambda: AT.timestamp(),
                         Services(callbacks=callbacks)))
    [call] = sink.calls.values()
    [step] = [row for row in sink.steps if row["step"] == "support"]
    assert step["outcome"] == "hangup"
    assert [call.get(column) for column in ("queue", "queue_status", "agent", "talk_time")] == ["support", None, None, None]
    assert callbacks.closed == []
    assert "callbacks_closed_for" not in json.loads(step["details"])
