"""The ``exec`` step: any dialplan application, its options as one argument.

Each test writes a small flow, loads it through the real loader and runs
it with ``agi.simulate.simulate`` against the simulated Asterisk 22.
Assertions are on what Asterisk receives (the exact command lines), on the
path the call takes, and on the CDR rows and variables that come out of it.
"""
from __future__ import annotations

from pathlib import Path

from support.step_runner import STATUS, cdr, commands, details, path, run


def exec_flow(step: str, extra: str = "") -> str:
    return f"""\
version: 1
name: run
start: app
steps:
  app:
    exec: {step}
{extra}"""


def test_exec_sends_options_as_one_quoted_argument(tmp_path: Path) -> None:
    result = run(tmp_path, exec_flow('{app: Dial, options: "PJSIP/100,30"}'))
    # An answered Dial returns -1 when the call ends (0 only with the g option):
    # the NOOP tells that from a caller hangup.
    assert commands(result) == ['EXEC "Dial" "PJSIP/100,30"', "NOOP", STATUS.format("completed")]
    assert path(result) == ["app:next"]
    assert details(result, "app") == {"app": "Dial", "result": -1}
    assert result.variables["DIALSTATUS"] == "ANSWER"


def test_exec_args_are_joined_with_commas_keeping_empty_places(tmp_path: Path) -> None:
    result = run(tmp_path, exec_flow('{app: Queue, args: [support, t, "", "", 300]}'), queue_statuses=["FULL"])
    assert commands(result)[0] == 'EXEC "Queue" "support,t,,,300"'
    assert result.variables["QUEUESTATUS"] == "FULL"


def test_exec_options_and_args_are_templated(tmp_path: Path) -> None:
    result = run(tmp_path, exec_flow('{app: Playback, options: "{{ call.id }},noanswer"}'))
    assert commands(result)[0] == f'EXEC "Playback" "{result.call["call_id"]},noanswer"'
    result = run(tmp_path, exec_flow('{app: Dial, args: ["PJSIP/{{ call.called }}", 30]}'), called="204")
    assert commands(result)[0] == 'EXEC "Dial" "PJSIP/204,30"'


def test_exec_without_options_sends_an_empty_argument(tmp_path: Path) -> None:
    result = run(tmp_path, exec_flow("{app: Wait}"))
    assert commands(result)[0] == 'EXEC "Wait" ""'


def test_exec_result_variable_keeps_the_application_result(tmp_path: Path) -> None:
    result = run(tmp_path, exec_flow("{app: Queue, args: [support], result_variable: QRESULT}",
                                     '    next: say\n  say:\n    play: [{number: "{{ vars.QRESULT }}"}]\n'))
    assert commands(result)[:2] == ['EXEC "Queue" "support"', 'SAY NUMBER "0" ""']
    assert "QRESULT" not in result.variables


def test_exec_of_an_unknown_application_fails_the_step_and_the_call(tmp_path: Path) -> None:
    result = run(tmp_path, exec_flow("{app: Frobnicate, options: x}", "    next: after\n  after:\n    play: after\n"))
    assert commands(result) == ['EXEC "Frobnicate" "x"', STATUS.format("error")]
    assert result.exchanges[0].lines == ("200 result=-2",)
    assert path(result) == ["app:error"]
    assert result.call["status"] == "error"
    assert "Frobnicate" in result.call["error"]


def test_caller_hanging_up_during_dial_gives_the_hangup_outcome(tmp_path: Path) -> None:
    result = run(tmp_path, exec_flow('{app: Dial, options: "PJSIP/100,30"}',
                                     "    next: after\n  after:\n    play: after\n"), hangup_after=0)
    assert path(result) == ["app:hangup"]
    assert result.call["status"] == "caller_hangup"
    assert result.variables["DIALSTATUS"] == "CANCEL"


def test_a_queue_or_dial_run_by_exec_writes_no_queue_or_dial_column(tmp_path: Path) -> None:
    """docs/steps.md#exec: the reports count such a call as neither offered
    nor answered; the queue and dial steps write these columns."""
    columns = ("queue", "queue_status", "queue_wait", "agent", "dial_status", "ring_time", "talk_time")
    result = run(tmp_path, exec_flow('{app: Queue, args: [support, t, "", "", 300]}'), queue_statuses=["ANSWERED"])
    assert commands(result)[0] == 'EXEC "Queue" "support,t,,,300"'
    assert cdr(result, *columns) == (None,) * len(columns)
    result = run(tmp_path, exec_flow('{app: Dial, options: "PJSIP/100,30"}'))
    assert result.variables["DIALSTATUS"] == "ANSWER"
    assert cdr(result, *columns) == (None,) * len(columns)
