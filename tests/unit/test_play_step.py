"""The ``play`` step: sounds, digits and numbers in the written order.

Each test writes a small flow, loads it through the real loader and runs
it with ``agi.simulate.simulate`` against the simulated Asterisk 22.
Assertions are on what Asterisk receives (the exact command lines), on the
path the call takes, and on the CDR rows and variables that come out of it.
"""
from __future__ import annotations

from pathlib import Path

from support.sample_flows import ANSWER_FLOW
from support.step_runner import STATUS, commands, details, path, run


def test_play_says_sounds_digits_and_numbers_in_the_written_order(tmp_path: Path) -> None:
    result = run(tmp_path, """\
        version: 1
        name: play
        start: say
        steps:
          say:
            play:
              - agiflow/your-number-is
              - digits: "{{ call.caller }}"
              - sound: "agiflow/{{ call.called }}"
              - number: 42
              - digits: 7
              - number: "{{ 40 + 2 }}"
        """, caller="+34600111222", called="900")
    assert commands(result) == [
        'STREAM FILE "agiflow/your-number-is" ""',
        'SAY DIGITS "+34600111222" ""',
        'STREAM FILE "agiflow/900" ""',
        'SAY NUMBER "42" ""',
        'SAY DIGITS "7" ""',
        'SAY NUMBER "42" ""',
        STATUS.format("completed"),
    ]
    assert path(result) == ["say:next"]


def test_play_of_one_sound_name_streams_it_without_barge_in(tmp_path: Path) -> None:
    result = run(tmp_path, ANSWER_FLOW, dtmf=["1"])
    assert 'STREAM FILE "hello-world" ""' in commands(result)
    assert result.call["status"] == "completed"


def test_play_template_with_an_unknown_name_fails_the_step(tmp_path: Path) -> None:
    result = run(tmp_path, """\
        version: 1
        name: badplay
        start: say
        steps:
          say:
            play: [{digits: "{{ vars.NOPE }}"}]
            next: remember
          remember:
            set: {variables: {NOPE: "1"}}
        """)
    assert path(result) == ["say:error"]
    assert result.call["status"] == "error"
    assert "NOPE" in details(result, "say")["error"]
    assert commands(result) == [STATUS.format("error")]
