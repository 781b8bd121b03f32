"""The ``dial`` step: Dial()'s arguments, caller ID, outcomes from
DIALSTATUS, and the CDR's dialled, dial_status and talk_time."""
from __future__ import annotations

from pathlib import Path

import pytest

from agi.steps.dial import DIAL_STATUSES, talk_time
from support.step_runner import STATUS, cdr, commands, details, path, run

#: Asked before Dial() unless the flow answered the caller: is the channel up already?
UP = "CHANNEL STATUS"


def dial_flow(options: str = "{destination: PJSIP/100, timeout: 30}", on: str = "") -> str:
    return f"""\
version: 1
name: d
start: call
steps:
  call:
    dial: {options}
    on: {{answer: bye, busy: sorry{on}}}
  sorry:
    play: agiflow/line-busy
  bye:
    play: agiflow/thanks-for-calling
"""


def test_answered_call_records_the_talk_time_and_goes_on_when_the_callee_hangs_up(tmp_path: Path) -> None:
    result = run(tmp_path, dial_flow(), talk_time=95)
    assert commands(result) == [UP, 'EXEC "Dial" "PJSIP/100,30"', "NOOP", 'GET VARIABLE "DIALSTATUS"',
                                'GET VARIABLE "ANSWEREDTIME"', 'GET VARIABLE "DIALEDPEERNAME"',
                                'GET VARIABLE "DIALEDPEERNUMBER"', 'GET VARIABLE "HANGUPCAUSE"',
                                'STREAM FILE "agiflow/thanks-for-calling" ""', STATUS.format("completed")]
    assert path(result) == ["call:answer", "bye:next"]
    assert cdr(result, "dialled", "dial_status", "talk_time", "hangup_cause") == ("PJSIP/100", "ANSWER", 95, "16")
    assert details(result, "call") == {"destination": "PJSIP/100", "result": -1, "status": "ANSWER",
                                       "talk_time": 95, "agent": "PJSIP/100", "agent_interface": "PJSIP/100",
                                       "ring_time": 0.0, "hangup_cause": "16"}


@pytest.mark.parametrize("destination, interface", [
    ("PJSIP/100", "PJSIP/100"),
    ("Local/agent-ana@agents/n", "Local/agent-ana@agents/n"),
    ("PJSIP/+34911234567@trunk", "PJSIP/+34911234567@trunk"),
    ("PJSIP/100&PJSIP/101", "PJSIP/100"),
])
def test_the_interface_that_answered_is_the_calls_agent(tmp_path: Path, destination: str, interface: str) -> None:
    result = run(tmp_path, dial_flow(f'{{destination: "{destination}", timeout: 30}}'))
    assert cdr(result, "agent", "agent_interface") == (interface, interface)


def test_an_unanswered_dial_records_no_agent(tmp_path: Path) -> None:
    result = run(tmp_path, dial_flow(), dial_statuses=["BUSY"])
    assert cdr(result, "agent", "agent_interface") == (None, None)
    assert 'GET VARIABLE "DIALEDPEERNAME"' not in commands(result)


def test_caller_who_hangs_up_after_talking_is_answered(tmp_path: Path) -> None:
    result = run(tmp_path, dial_flow(), dial_statuses=["ANSWER"], talk_time=40, hangup_after=1)
    assert path(result)[0] == "call:answer"
    assert cdr(result, "dial_status", "talk_time", "status") == ("ANSWER", 40, "caller_hangup")


def test_caller_who_hangs_up_while_it_rings_cancels_with_the_hangup_outcome(tmp_path: Path) -> None:
    result = run(tmp_path, dial_flow(), hangup_after=1)
    assert path(result) == ["call:hangup"]
    assert cdr(result, "dial_status", "talk_time") == ("CANCEL", None)
    assert 'GET VARIABLE "ANSWEREDTIME"' not in commands(result)


def test_a_caller_who_leaves_a_ringing_dial_with_a_key_has_not_hung_up(tmp_path: Path) -> None:
    # The d option: a key that is an extension of EXITCONTEXT (or of the
    # caller's context) ends Dial() with DIALSTATUS=CANCEL, as a hangup does,
    # but Dial() returns the key and the caller is on the line, moved to that
    # extension (seen on Asterisk 22.11). It was recorded as CANCEL, which the
    # reports count as an abandon.
    result = run(tmp_path, dial_flow("{destination: PJSIP/100, timeout: 30, options: d}", ", exitwithkey: sorry"),
                 dial_statuses=["EXITWITHKEY"])
    assert path(result) == ["call:exitwithkey", "sorry:next"]
    assert cdr(result, "dial_status", "talk_time", "agent", "status") == ("EXITWITHKEY", None, None, "completed")
    assert details(result, "call")["status"] == "CANCEL"
    assert 'GET VARIABLE "ANSWEREDTIME"' not in commands(result)


def test_a_caller_who_hangs_up_with_a_d_option_still_cancels(tmp_path: Path) -> None:
    result = run(tmp_path, dial_flow("{destination: PJSIP/100, timeout: 30, options: d}"), hangup_after=1)
    assert path(result) == ["call:hangup"]
    assert cdr(result, "dial_status") == ("CANCEL",)


def test_a_dial_that_runs_on_a_dead_channel_is_no_answer_left_by_an_earlier_dial(tmp_path: Path) -> None:
    # The first Dial() is answered; the caller hangs up while the second sets
    # its caller ID: app_dial.c blanks DIALSTATUS, sees the channel hung up
    # ("Caller hung up before dial"), says CANCEL and calls no one.
    flow = dial_flow(on=", hangup: gone").replace("answer: bye,", "answer: second,") + """\
  second:
    dial: {destination: PJSIP/101, timeout: 30, callerid: "+34910000000"}
    on: {answer: bye, hangup: gone}
  gone:
    set: {cdr: {left: before_second_dial}}
"""
    result = run(tmp_path, flow, hangup_after=10)
    assert 'EXEC "Dial" "PJSIP/101,30"' in commands(result)
    assert path(result) == ["call:answer", "second:hangup", "gone:next"]
    assert details(result, "second")["status"] == "CANCEL"
    assert cdr(result, "dialled", "dial_status", "status") == ("PJSIP/101", "CANCEL", "caller_hangup")


@pytest.mark.parametrize("status", [s for s in DIAL_STATUSES if s not in ("ANSWER", "CANCEL")])
def test_every_unanswered_dialstatus_is_its_own_outcome(tmp_path: Path, status: str) -> None:
    outcome = status.lower()
    extra = "" if outcome == "busy" else f", {outcome}: sorry"
    result = run(tmp_path, dial_flow(on=extra), dial_statuses=[status])
    assert path(result) == [f"call:{outcome}", "sorry:next"]
    assert cdr(result, "dialled", "dial_status", "talk_time") == ("PJSIP/100", status, None)


def test_callerid_is_set_before_dialling_a_trunk(tmp_path: Path) -> None:
    options = ('{destination: "PJSIP/+34{{ vars.get(\'TARGET\', \'911234567\') }}@trunk", timeout: 45, '
               'options: tr, callerid: {number: "+34910000000", name: Support}}')
    result = run(tmp_path, dial_flow(options))
    assert commands(result)[:6] == ['GET VARIABLE "CALLERID(num)"', 'SET VARIABLE "CALLERID(num)" "+34910000000"',
                                    'GET VARIABLE "CALLERID(name)"', 'SET VARIABLE "CALLERID(name)" "Support"', UP,
                                    'EXEC "Dial" "PJSIP/+34911234567@trunk,45,tr"']
    assert cdr(result, "dialled") == ("PJSIP/+34911234567@trunk",)


def test_callerid_as_text_sets_only_the_number(tmp_path: Path) -> None:
    result = run(tmp_path, dial_flow('{destination: PJSIP/100, callerid: "600000000"}'))
    assert commands(result)[:4] == ['GET VARIABLE "CALLERID(num)"', 'SET VARIABLE "CALLERID(num)" "600000000"', UP,
                                    'EXEC "Dial" "PJSIP/100"']


def test_the_callers_own_caller_id_is_put_back_once_dial_returns(tmp_path: Path) -> None:
    # CALLERID() is the caller's channel's: left as the step set it, a queue or
    # dial later in the call (and the dialplan after the flow) presented the
    # company's number as the caller's (seen on Asterisk 22.11)
    flow = dial_flow('{destination: PJSIP/100, callerid: {number: "+34910000000", name: Support}}')
    result = run(tmp_path, flow, dial_statuses=["BUSY"])
    sent = commands(result)
    assert sent[:4] == ['GET VARIABLE "CALLERID(num)"', 'SET VARIABLE "CALLERID(num)" "+34910000000"',
                        'GET VARIABLE "CALLERID(name)"', 'SET VARIABLE "CALLERID(name)" "Support"']
    after = sent[sent.index('EXEC "Dial" "PJSIP/100"') + 1:]
    assert 'SET VARIABLE "CALLERID(num)" "600111222"' in after
    assert any(line.startswith('SET VARIABLE "CALLERID(name)"') for line in after)
    assert path(result)[0] == "call:busy"


def test_a_caller_id_name_whose_template_fails_leaves_the_callers_caller_id_untouched(tmp_path: Path) -> None:
    name = "{{ (call.caller | int) // 0 }}"  # fails as the call runs
    flow = dial_flow(f'{{destination: PJSIP/100, callerid: {{number: "+34910000000", name: "{name}"}}}}',
                     on=", error: sorry")
    result = run(tmp_path, flow)
    assert path(result)[0] == "call:error"
    assert not [line for line in commands(result) if "CALLERID" in line]


def test_g_option_returns_0_and_needs_no_hangup_check(tmp_path: Path) -> None:
    result = run(tmp_path, dial_flow("{destination: PJSIP/100, timeout: 20, options: g}"))
    assert commands(result)[:3] == [UP, 'EXEC "Dial" "PJSIP/100,20,g"', 'GET VARIABLE "DIALSTATUS"']
    assert path(result)[0] == "call:answer"


def test_short_form_is_the_destination(tmp_path: Path) -> None:
    result = run(tmp_path, dial_flow("PJSIP/200"))
    assert commands(result)[:2] == [UP, 'EXEC "Dial" "PJSIP/200"']


def test_a_destination_with_a_comma_stays_one_argument_of_dial(tmp_path: Path) -> None:
    result = run(tmp_path, dial_flow('{destination: "PJSIP/1,2", timeout: 30, options: t}'))
    # Dial() reads "PJSIP/1,2" back as its first argument: the comma is escaped.
    assert commands(result)[:2] == [UP, 'EXEC "Dial" "PJSIP/1\\\\,2,30,t"']
    assert cdr(result, "dialled") == ("PJSIP/1,2",)


def test_a_caller_the_flow_answered_before_dialling_has_no_talk_or_ring_time(tmp_path: Path) -> None:
    """ANSWEREDTIME then counts from the flow's answer: the ringing and a
    whisper too, even when the answer came just before Dial() (seen on a
    real Asterisk 22: a 3 s whisper, then 3 s of talk, gave ANSWEREDTIME=6)."""
    flow = dial_flow().replace("start: call\nsteps:\n", "start: pick_up\nsteps:\n  pick_up:\n    answer:\n"
                                                            "    next: call\n")
    result = run(tmp_path, flow, talk_time=95)
    assert path(result) == ["pick_up:next", "call:answer", "bye:next"]
    assert cdr(result, "dial_status", "talk_time", "ring_time", "agent") == ("ANSWER", None, None, "PJSIP/100")
    assert details(result, "call")["talk_time"] is None


def test_a_caller_answered_before_dial_by_an_application_has_no_talk_or_ring_time(tmp_path: Path) -> None:
    """Playback answered the caller: ANSWEREDTIME counts from then (the
    ringing too), as after the dialplan's Answer() before the flow. The
    step asks the channel's state before Dial() (6: up)."""
    flow = dial_flow().replace("start: call\nsteps:\n", "start: hello\nsteps:\n  hello:\n"
                                                            "    exec: {app: Playback, args: [agiflow/welcome]}\n"
                                                            "    next: call\n")
    result = run(tmp_path, flow, talk_time=95)
    assert commands(result)[1:3] == [UP, 'EXEC "Dial" "PJSIP/100,30"']
    assert result.exchanges[1].lines[0] == "200 result=6"
    assert cdr(result, "dial_status", "talk_time", "ring_time", "agent") == ("ANSWER", None, None, "PJSIP/100")


def test_the_flows_own_answer_needs_no_question(tmp_path: Path) -> None:
    flow = dial_flow().replace("start: call\nsteps:\n", "start: pick_up\nsteps:\n  pick_up:\n    answer:\n"
                                                            "    next: call\n")
    assert UP not in commands(run(tmp_path, flow))


@pytest.mark.parametrize("answered_time, dial_seconds, talk", [
    (5.0, 8.2, 5.0),     # Dial() answered the caller as the target answered: Asterisk's word
    (None, 8.0, None),   # not said
    (12.0, 8.0, None),   # answered 4 s before Dial(): ANSWEREDTIME counts the IVR and the ringing
    (9.0, 8.4, 8.4),     # whole seconds: never more than the Dial() took
])
def test_talk_time_of_a_dial_is_asterisks_only_when_dial_answered_the_caller(
        answered_time: float | None, dial_seconds: float, talk: float | None) -> None:
    assert talk_time(answered_time, dial_seconds) == talk
    assert talk_time(answered_time, dial_seconds, answered_before=True) is None


def test_a_g_inside_an_options_argument_is_not_the_g_option(tmp_path: Path) -> None:
    """Only Dial()'s own option letters count: the g of A(agiflow/...) does
    not make the simulated Dial() return 0 after an answered call, so the
    step sends NOOP after the -1, as it must on Asterisk."""
    flow = """\
version: 1
name: d
start: agent
steps:
  agent:
    dial: {destination: PJSIP/100, options: t, whisper: [agiflow/whisper-vip]}
"""
    result = run(tmp_path, flow, dial_statuses=["ANSWER"])
    sent = commands(result)
    assert sent[:2] == [UP, 'EXEC "Dial" "PJSIP/100,,tA(agiflow/whisper-vip)"']
    assert result.exchanges[1].lines[0] == "200 result=-1" and sent[2] == "NOOP"
    with_g = run(tmp_path, flow.replace("options: t", "options: tg"), dial_statuses=["ANSWER"])
    assert with_g.exchanges[1].lines[0] == "200 result=0"


def test_a_c_inside_a_queue_options_argument_is_not_the_c_option(tmp_path: Path) -> None:
    flow = """\
version: 1
name: q
start: q
steps:
  q:
    queue: {name: support, options: "tF(ctx^s^1)"}
    on: {answered: bye, continue: bye}
  bye:
    hangup:
"""
    result = run(tmp_path, flow, queue_statuses=["ANSWERED"])
    assert path(result)[0] == "q:answered"
