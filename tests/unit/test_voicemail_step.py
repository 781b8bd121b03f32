"""The ``voicemail`` step: VoiceMail()'s arguments and the outcome from
VMSTATUS, hangups included."""
from __future__ import annotations

from pathlib import Path

import pytest

from support.step_runner import STATUS, commands, details, path, run


def vm_flow(options: str = '{mailbox: "{{ vars.get(\'EXT\', \'100\') }}@sales", options: u}') -> str:
    return f"""\
version: 1
name: vm
start: leave
steps:
  leave:
    voicemail: {options}
    on: {{success: thanks, failed: sorry, user_exit: sorry}}
  thanks:
    play: agiflow/message-saved
  sorry:
    play: agiflow/try-later
"""


def test_a_saved_message_gives_success(tmp_path: Path) -> None:
    result = run(tmp_path, vm_flow())
    assert commands(result) == ['SET VARIABLE "VMSTATUS" ""', 'EXEC "VoiceMail" "100@sales,u"',
                                'GET VARIABLE "VMSTATUS"', 'STREAM FILE "agiflow/message-saved" ""',
                                STATUS.format("completed")]
    assert path(result) == ["leave:success", "thanks:next"]
    assert details(result, "leave") == {"mailbox": "100@sales", "result": 0, "status": "SUCCESS"}


@pytest.mark.parametrize(("status", "outcome"), [("USEREXIT", "user_exit"), ("FAILED", "failed")])
def test_vmstatus_gives_the_outcome(tmp_path: Path, status: str, outcome: str) -> None:
    result = run(tmp_path, vm_flow(), vm_statuses=[status])
    assert path(result) == [f"leave:{outcome}", "sorry:next"]


def test_caller_who_hangs_up_after_leaving_a_message_is_a_success(tmp_path: Path) -> None:
    result = run(tmp_path, vm_flow(), vm_statuses=["SUCCESS"], hangup_after=1)
    assert path(result)[0] == "leave:success"
    assert result.call["status"] == "caller_hangup"


def test_caller_who_hangs_up_during_the_greeting_gives_hangup(tmp_path: Path) -> None:
    result = run(tmp_path, vm_flow(), hangup_after=1)
    assert path(result) == ["leave:hangup"]
    assert result.variables["VMSTATUS"] == "FAILED"


def test_short_form_is_the_mailbox(tmp_path: Path) -> None:
    result = run(tmp_path, vm_flow("200@default"))
    assert 'EXEC "VoiceMail" "200@default"' in commands(result)
