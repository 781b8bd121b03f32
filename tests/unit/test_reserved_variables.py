"""``agiflow validate`` refuses a step that would put its result in a
variable agiflow or Asterisk sets for the dialplan to read afterwards
(``AGIFLOW_STATUS``, ``DIALSTATUS``...): a do-not-call check writing
``AGIFLOW_STATUS`` once kept a blocked call from reporting how it ended,
and the shipped dialplan sent it to the fallback queue."""
from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from agi.loading.loader import load_flows

FLOW = """\
version: 1
name: campaign
start: first
steps:
  first:
    %s
    next: bye
  bye:
    hangup:
"""


def errors(tmp_path: Path, step: str, *, next_line: bool = True) -> list[tuple[int, str]]:
    text = FLOW % step if next_line else (FLOW % step).replace("    next: bye\n", "", 1)
    path = tmp_path / "campaign.yaml"
    path.write_text(textwrap.dedent(text))
    _, found = load_flows([path])
    return [(e.line, e.message) for e in found]


ROBINSON = "robinson: {list: robinson, variable: %s}\n    on: {clear: bye, listed: bye}"


@pytest.mark.parametrize("name, why", [
    ("AGIFLOW_STATUS", "agiflow sets it as the call leaves, for the dialplan to read how the call ended"),
    ("__AGIFLOW_STATUS", "agiflow sets it as the call leaves, for the dialplan to read how the call ended"),
    ("AGIFLOW_QUEUE", "names that start with AGIFLOW_ are agiflow's own"),
    ("DIALSTATUS", "Asterisk sets it (Dial) for the dialplan to read"),
    ("QUEUESTATUS", "Asterisk sets it (Queue) for the dialplan to read"),
    ("AGISTATUS", "Asterisk sets it (AGI) for the dialplan to read"),
    ("MIXMONITOR_FILENAME", "Asterisk sets it (MixMonitor) for the dialplan to read"),
])
def test_a_do_not_call_check_may_not_put_its_result_in_a_variable_agiflow_or_asterisk_sets(
        tmp_path: Path, name: str, why: str) -> None:
    found = errors(tmp_path, ROBINSON % name, next_line=False)
    assert found == [(6, f"step 'first': robinson.variable: the result cannot go in '{name}': {why}; "
                         f"choose a name of the flow's own, such as ROBINSON")]


def test_a_do_not_call_check_with_its_own_variable_is_valid(tmp_path: Path) -> None:
    assert errors(tmp_path, ROBINSON % "CAMPAIGN_DNC", next_line=False) == []


@pytest.mark.parametrize("step, option, name", [
    ("lookup: {list: vip, variable: AGIFLOW_STATUS}\n    on: {found: bye, missing: bye, anonymous: bye}",
     "lookup.variable", "AGIFLOW_STATUS"),
    ("input: {prompt: enter, variable: DIALSTATUS, max_digits: 4}", "input.variable", "DIALSTATUS"),
    ("menu: {prompt: main, choices: {'1': bye}, variable: QUEUESTATUS}\n    on: {timeout: bye, invalid: bye}",
     "menu.variable", "QUEUESTATUS"),
    ("menu: {prompt: main, choices: {'1': bye}, direct_dial: {pattern: '^2[0-9]{2}$', variable: AGIFLOW_STATUS}}"
     "\n    on: {direct: bye, timeout: bye, invalid: bye}", "menu.direct_dial.variable", "AGIFLOW_STATUS"),
    ("exec: {app: Verbose, args: ['1'], result_variable: AGIFLOW_STATUS}", "exec.result_variable", "AGIFLOW_STATUS"),
])
def test_other_steps_that_put_a_result_in_a_named_variable_refuse_those_names_too(tmp_path: Path, step: str,
                                                                                   option: str, name: str) -> None:
    [(line, message)] = errors(tmp_path, step, next_line=step.startswith(("input", "exec")))
    assert line == 6 and message.startswith(f"step 'first': {option}: the result cannot go in '{name}': ")


@pytest.mark.parametrize("step, option, what", [
    ("set: {variables: {AGIFLOW_STATUS: completed}}", "set.variables.AGIFLOW_STATUS", "AGIFLOW_STATUS"),
    ("set: {variables: {'GLOBAL(AGIFLOW_STATUS)': completed}}", "set.variables.GLOBAL(AGIFLOW_STATUS)",
     "'GLOBAL(AGIFLOW_STATUS)' sets AGIFLOW_STATUS, which"),
    ("exec: {app: Set, args: ['__AGIFLOW_STATUS=completed']}", "exec.args", "'__AGIFLOW_STATUS' sets AGIFLOW_STATUS, which"),
])
def test_a_flow_cannot_set_agiflows_status_itself(tmp_path: Path, step: str, option: str, what: str) -> None:
    assert errors(tmp_path, step) == [(6, f"step 'first': {option}: {what} is agiflow's own: it sets it as the call "
                                          f"leaves, for the dialplan to read how the call ended; a flow cannot set it")]


def test_a_set_step_may_still_set_asterisks_status_or_the_queue_the_dialplan_falls_back_to(tmp_path: Path) -> None:
    assert errors(tmp_path, "set: {variables: {DIALSTATUS: '', AGIFLOW_QUEUE: sales}}") == []
