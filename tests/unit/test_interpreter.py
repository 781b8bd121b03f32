"""The interpreter around the steps, as a caller meets it: the simulator as
a library, bookkeeping on the ``hangup`` outcome, the step limit, the
flow's language and what ends every call.

Each test writes a small flow, loads it through the real loader and runs
it with ``agi.simulate.simulate`` against the simulated Asterisk 22.
Assertions are on what Asterisk receives (the exact command lines), on the
path the call takes, and on the CDR rows and variables that come out of it.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from agi.engine.interpreter import MAX_STEPS
from support.sample_flows import ANSWER_FLOW, menu_flow
from support.step_runner import STATUS, commands, fields, path, run, run_script

from agi.sim import CallerScript, EverySound

ROOT = Path(__file__).resolve().parents[2]


# -- the simulator as a library -------------------------------------------------

@pytest.mark.parametrize("module", ["agi.simulate", "agi.engine.interpreter"])
def test_simulate_can_be_imported_on_its_own(module: str) -> None:
    # A script or test that starts with `from agi.simulate import simulate`
    # must not need another agi import first.
    done = subprocess.run([sys.executable, "-c", f"import {module}"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr.strip().splitlines()[-1]


# -- hangup outcome: bookkeeping on a dead channel ------------------------------

BOOKKEEPING = """\
version: 1
name: keep
start: answer
steps:
  answer:
    answer:
    next: menu
  menu:
    menu:
      prompt: main-menu
      choices: {"1": bye}
      timeout_prompt: no-input
    on: {hangup: note}
  note:
    set:
      variables: {HUNG_UP_AT: "{{ flow.name }}-menu"}
      cdr: {hung_up_in: menu}
    next: goodbye
  goodbye:
    play: goodbye
    on: {hangup: note_again}
  note_again:
    set: {cdr: {second: true}}
  bye:
    hangup:
"""


def test_hangup_outcome_lets_a_bookkeeping_step_run_on_the_dead_channel(tmp_path: Path) -> None:
    # ANSWER, GET DATA (timeout), then the caller hangs up during STREAM FILE.
    result = run(tmp_path, BOOKKEEPING, hangup_after=2)
    assert path(result) == ["answer:next", "menu:hangup", "note:next", "goodbye:hangup"]
    assert result.call["status"] == "caller_hangup"
    assert fields(result) == {"hung_up_in": "menu"}
    assert 'SET VARIABLE "HUNG_UP_AT" "keep-menu"' in commands(result)
    assert result.variables["HUNG_UP_AT"] == "keep-menu"


def test_a_second_hangup_in_the_bookkeeping_steps_ends_the_flow(tmp_path: Path) -> None:
    result = run(tmp_path, BOOKKEEPING, hangup_after=2)
    assert "note_again" not in [s["step"] for s in result.steps]
    assert "second" not in fields(result)
    assert not any(c.startswith("STREAM FILE \"goodbye\"") for c in commands(result))
    assert commands(result)[-1] == STATUS.format("caller_hangup")


EARLY = """\
version: 1
name: early
start: menu
steps:
  menu:
    menu: {prompt: main-menu, choices: {"1": bye}}
    on: {hangup: note}
  note:
    set:
      variables: {NOTED: "gone before the menu"}
      cdr: {hung_up_in: menu}
    next: sorry
  sorry:
    play: goodbye
    on: {hangup: note}
  bye:
    hangup:
"""


@pytest.mark.parametrize("noted", [False, True], ids=["met by the step", "noted before the step"])
def test_a_caller_gone_before_a_step_still_gets_that_steps_hangup_bookkeeping(tmp_path: Path, noted: bool) -> None:
    """The step that meets the hangup runs its ``on: {hangup: ...}``, also
    when the hangup was noted before it started (a HANGUP line read between
    steps or right after the environment; SIGHUP while agiflow-agi starts);
    a second hangup ends the flow."""
    result = run_script(tmp_path, EARLY, CallerScript(hangup_during=0, sounds=EverySound()), hangup_noted=noted)
    assert path(result) == ["menu:hangup", "note:next", "sorry:hangup"]
    assert fields(result) == {"hung_up_in": "menu"}
    assert result.variables["NOTED"] == "gone before the menu"
    assert result.call["status"] == "caller_hangup"


# -- the step limit ----------------------------------------------------------

def test_a_flow_that_loops_forever_at_runtime_is_stopped_by_the_step_limit(tmp_path: Path) -> None:
    result = run(tmp_path, """\
        version: 1
        name: spin
        start: check
        steps:
          check:
            branch:
              cases:
                - {if: "call.caller != ''", next: count, label: again}
              else: done
          count:
            set: {cdr: {spins: "{{ 1 }}"}}
            next: check
          done:
            hangup:
        """)
    assert result.call["status"] == "error"
    assert len(result.steps) == MAX_STEPS
    assert "loop" in result.call["error"]
    assert commands(result) == [STATUS.format("error")]
    assert result.variables["AGIFLOW_STATUS"] == "error"


# -- language ----------------------------------------------------------------

def test_flow_language_is_applied_first_when_it_differs_from_the_channels(tmp_path: Path) -> None:
    result = run(tmp_path, ANSWER_FLOW.replace("start:", "language: es\nstart:"))
    assert commands(result) == [
        'SET VARIABLE "CHANNEL(language)" "es"',
        "ANSWER",
        'STREAM FILE "hello-world" ""',
        STATUS.format("completed"),
    ]


def test_flow_language_equal_to_the_channels_sends_nothing(tmp_path: Path) -> None:
    result = run(tmp_path, ANSWER_FLOW.replace("start:", "language: en\nstart:"))
    assert commands(result)[0] == "ANSWER"
    assert not any("CHANNEL(language)" in c for c in commands(result))


# -- the end of every call ---------------------------------------------------

def test_agiflow_status_is_the_last_command_of_every_call(tmp_path: Path) -> None:
    result = run(tmp_path, menu_flow(), dtmf=["1"])
    assert result.exchanges[-1].command == STATUS.format("completed")
    assert result.exchanges[-1].lines == ("200 result=1",)
    assert result.variables["AGIFLOW_STATUS"] == "completed"
    assert result.continue_at is None


def test_cdr_row_summarises_the_call(tmp_path: Path) -> None:
    result = run(tmp_path, menu_flow(), caller="600111222", called="900", dtmf=["1"])
    call = result.call
    assert (call["caller"], call["called"], call["flow"]) == ("600111222", "900", "menu")
    assert (call["outcome"], call["last_step"], call["steps"]) == ("next", "sales", 2)
    assert call["path"] == "menu:1 > sales:next"
    assert call["started_at"] == "2025-03-10T08:30:00.000Z"
