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


SAY_BACK = """\
    version: 1
    name: sayback
    start: say
    steps:
      say:
        play:
          - agiflow/your-number-is
          - digits: "{{ call.caller }}"
          - number: "{{ vars.get('N', '') }}"
          - agiflow/thanks
        next: bye
      bye:
        hangup: {cause: 16}
    """


def test_a_withheld_caller_id_said_back_is_skipped_and_the_flow_goes_on(tmp_path: Path) -> None:
    # Asterisk 22 answers 520 to SAY DIGITS and SAY NUMBER of text that does
    # not read as a number ("anonymous", ""): once the call ended 'error'
    result = run(tmp_path, SAY_BACK, caller="anonymous")
    assert path(result) == ["say:next", "bye:done"]
    assert result.call["status"] == "completed"
    assert commands(result)[:2] == ['STREAM FILE "agiflow/your-number-is" ""', 'STREAM FILE "agiflow/thanks" ""']
    assert details(result, "say")["unsaid"] == [{"digits": "anonymous"}, {"number": ""}]


def test_digits_that_start_with_a_star_or_a_hash_are_said_key_by_key(tmp_path: Path) -> None:
    # SAY DIGITS refuses "*21#" (its text must start as a number); SAY ALPHA
    # of the same keys plays the same files: digits/star, digits/2...
    result = run(tmp_path, SAY_BACK.replace("{{ call.caller }}", "*21#").replace("'N', ''", "'N', '7'"))
    assert commands(result)[1:3] == ['SAY ALPHA "*21#" ""', 'SAY NUMBER "7" ""']
    assert "unsaid" not in details(result, "say")


def test_a_number_asterisk_would_misread_is_not_said(tmp_path: Path) -> None:
    # SAY NUMBER reads "3.5" as 3 and 99999999999 as another number
    for value in ("3.5", "1,000", "99999999999"):
        result = run(tmp_path, SAY_BACK.replace("'N', ''", f"'N', '{value}'"))
        assert not any(c.startswith("SAY NUMBER") for c in commands(result))
        assert details(result, "say")["unsaid"] == [{"number": value}]
    result = run(tmp_path, SAY_BACK.replace("'N', ''", "'N', ' -2147483648 '"))
    assert 'SAY NUMBER "-2147483648" ""' in commands(result)


def test_digits_with_a_line_break_are_said_and_the_flow_goes_on(tmp_path: Path) -> None:
    # a value kept with its newline (a webhook's text, a list note): no
    # command line can carry it, and SAY DIGITS of it ended the call 'error'
    result = run(tmp_path, SAY_BACK.replace("{{ call.caller }}", "{{ call.caller ~ '\\\\n' }}"),
                 caller="600111222")
    assert path(result) == ["say:next", "bye:done"]
    assert commands(result)[1] == 'SAY ALPHA "600111222" ""'
