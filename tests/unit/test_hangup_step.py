"""The ``hangup`` step: HANGUP, or the Hangup application with a cause code.

Each test writes a small flow, loads it through the real loader and runs
it with ``agi.simulate.simulate`` against the simulated Asterisk 22.
Assertions are on what Asterisk receives (the exact command lines), on the
path the call takes, and on the CDR rows and variables that come out of it.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from support.step_runner import STATUS, commands, details, path, run


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
