"""A call is ``caller_hangup`` when the caller hung up at any point
(flows.md, Outcomes), also when the step that saw it kept an outcome of its
own: a saved voicemail the caller ended by hanging up, a queue or dial the
caller left by hanging up after talking, a HANGUP line read while a step
that sends no command ran. Only the flow's own hangup step is
``completed``."""
from __future__ import annotations

from pathlib import Path

import pytest

from support.step_runner import commands, path, run

VOICEMAIL = """\
version: 1
name: vm
start: leave
steps:
  leave:
    voicemail: 200@sales
    on: {success: thanks}
  thanks:
    set: {cdr: {left: "yes"}}
"""

QUEUE = """\
version: 1
name: q
start: q
steps:
  q:
    queue: support
"""

DIAL = """\
version: 1
name: d
start: d
steps:
  d:
    dial: PJSIP/100
    on: {answer: note}
  note:
    set: {cdr: {talked: "yes"}}
"""


def test_a_message_the_caller_ended_by_hanging_up_is_saved_and_the_call_is_a_caller_hangup(tmp_path: Path) -> None:
    result = run(tmp_path, VOICEMAIL, hangup_after=1, vm_statuses=["SUCCESS"])
    assert path(result) == ["leave:success", "thanks:next"]
    assert result.call["status"] == "caller_hangup"
    assert result.variables["AGIFLOW_STATUS"] == "caller_hangup"


@pytest.mark.parametrize(("flow", "options", "expected"), [
    (QUEUE, {"hangup_after": 3, "queue_statuses": ["ANSWERED"]}, ["q:answered"]),
    (DIAL, {"hangup_after": 1, "dial_statuses": ["ANSWER"]}, ["d:answer", "note:next"]),
])
def test_a_caller_who_hangs_up_after_talking_to_an_agent_is_a_caller_hangup(
        tmp_path: Path, flow: str, options: dict[str, object], expected: list[str]) -> None:
    result = run(tmp_path, flow, **options)
    assert path(result) == expected
    assert result.call["status"] == "caller_hangup"


def test_an_agent_who_hangs_up_first_leaves_the_call_completed(tmp_path: Path) -> None:
    result = run(tmp_path, DIAL, dial_statuses=["ANSWER"])
    assert path(result) == ["d:answer", "note:next"]
    assert result.call["status"] == "completed"


def test_the_flows_own_hangup_after_a_saved_message_is_still_completed(tmp_path: Path) -> None:
    flow = VOICEMAIL.replace('    set: {cdr: {left: "yes"}}', "    hangup: {cause: 16}")
    result = run(tmp_path, flow, vm_statuses=["SUCCESS"])
    assert path(result) == ["leave:success", "thanks:done"]
    assert 'EXEC "Hangup" "16"' in commands(result)
    assert result.call["status"] == "completed"


def test_bookkeeping_on_hangup_still_runs_after_a_step_that_kept_its_own_outcome(tmp_path: Path) -> None:
    flow = VOICEMAIL.replace('    set: {cdr: {left: "yes"}}', "    play: agiflow/thanks\n    on: {hangup: log}\n"
                                                              "  log:\n    set: {cdr: {logged: \"yes\"}}")
    result = run(tmp_path, flow, hangup_after=1, vm_statuses=["SUCCESS"])
    assert path(result) == ["leave:success", "thanks:hangup", "log:next"]
    assert result.call["status"] == "caller_hangup"
