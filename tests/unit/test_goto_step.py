"""The ``goto`` step: the call goes on in another flow, at its start step.

Each test writes a small flow, loads it through the real loader and runs
it with ``agi.simulate.simulate`` against the simulated Asterisk 22.
Assertions are on what Asterisk receives (the exact command lines), on the
path the call takes, and on the CDR rows and variables that come out of it.
"""
from __future__ import annotations

from pathlib import Path

from support.step_runner import STATUS, commands, fields, run


FRONT = """\
version: 1
name: front
start: answer
steps:
  answer:
    answer:
    next: tag
  tag:
    set: {variables: {FROM: front}, cdr: {entry: front}}
    next: away
  away:
    goto: closed
"""

CLOSED = """\
version: 1
name: closed
params: {callback: "900123456"}
start: message
steps:
  message:
    play: [office-closed, {digits: "{{ params.callback }}"}, "{{ flow.name }}-{{ vars.FROM }}"]
    next: bye
  bye:
    hangup:
"""


def test_goto_continues_the_call_at_the_other_flows_start(tmp_path: Path) -> None:
    result = run(tmp_path, FRONT, CLOSED)
    assert commands(result) == [
        "ANSWER",
        'SET VARIABLE "FROM" "front"',
        'STREAM FILE "office-closed" ""',
        'SAY DIGITS "900123456" ""',
        'STREAM FILE "closed-front" ""',
        "HANGUP",
        STATUS.format("completed"),
    ]
    assert result.call["path"] == "answer:next > tag:next > away:transfer > message:next > bye:done"
    assert [(s["flow"], s["step"]) for s in result.steps] == [
        ("front", "answer"), ("front", "tag"), ("front", "away"), ("closed", "message"), ("closed", "bye")]
    assert result.call["flow"] == "front"
    assert result.call["status"] == "completed"
    assert fields(result) == {"entry": "front"}


def test_goto_long_form_names_the_flow(tmp_path: Path) -> None:
    result = run(tmp_path, FRONT.replace("goto: closed", "goto: {flow: closed}"), CLOSED)
    assert [s["flow"] for s in result.steps][-1] == "closed"


def test_goto_applies_the_target_flows_language(tmp_path: Path) -> None:
    result = run(tmp_path, FRONT, CLOSED.replace("params:", "language: es\nparams:"))
    assert commands(result)[2:4] == ['SET VARIABLE "CHANNEL(language)" "es"', 'STREAM FILE "office-closed" ""']


def test_goto_sets_the_target_flows_language_again_after_a_step_changed_the_channels(tmp_path: Path) -> None:
    # The call started in en; a set step switched the channel to es. The
    # target flow says en: the channel must go back to en, although en is
    # the language the call started in.
    front = FRONT.replace("{variables: {FROM: front}", '{variables: {FROM: front, "CHANNEL(language)": es}')
    result = run(tmp_path, front, CLOSED.replace("params:", "language: en\nparams:"))
    assert commands(result)[1:5] == ['SET VARIABLE "FROM" "front"', 'SET VARIABLE "CHANNEL(language)" "es"',
                                     'SET VARIABLE "CHANNEL(language)" "en"', 'STREAM FILE "office-closed" ""']
