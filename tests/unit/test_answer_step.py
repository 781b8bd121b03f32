"""The ``answer`` step: ANSWER, and the answer time in the CDR.

Each test writes a small flow, loads it through the real loader and runs
it with ``agi.simulate.simulate`` against the simulated Asterisk 22.
Assertions are on what Asterisk receives (the exact command lines), on the
path the call takes, and on the CDR rows and variables that come out of it.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from support.sample_flows import ANSWER_FLOW
from support.step_runner import STATUS, commands, path, run


def test_answer_sends_answer_and_records_when_the_call_was_answered(tmp_path: Path) -> None:
    result = run(tmp_path, ANSWER_FLOW)
    assert commands(result) == ["ANSWER", 'STREAM FILE "hello-world" ""', STATUS.format("completed")]
    assert path(result) == ["answer:next", "greet:next"]
    assert result.call["answered_at"] == "2025-03-10T08:30:00.000Z"
    assert result.call["status"] == "completed"


def test_a_call_never_answered_has_no_answer_time(tmp_path: Path) -> None:
    result = run(tmp_path, """\
        version: 1
        name: unanswered
        start: greet
        steps:
          greet:
            play: hello-world
        """)
    assert "ANSWER" not in commands(result)
    assert result.call["answered_at"] is None


@pytest.mark.parametrize("spelling", ["answer:", "answer: true", "answer: {}"])
def test_every_spelling_of_answer_answers(tmp_path: Path, spelling: str) -> None:
    result = run(tmp_path, ANSWER_FLOW.replace("    answer:\n", f"    {spelling}\n"))
    assert commands(result)[0] == "ANSWER"
