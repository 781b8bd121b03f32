"""The ``input`` step: digits into a variable, checked by length and pattern,
with retries.

Each test writes a small flow, loads it through the real loader and runs
it with ``agi.simulate.simulate`` against the simulated Asterisk 22.
Assertions are on what Asterisk receives (the exact command lines), on the
path the call takes, and on the CDR rows and variables that come out of it.
"""
from __future__ import annotations

import textwrap
from pathlib import Path

from support.step_runner import STATUS, commands, details, path, run


INPUT = """\
version: 1
name: account
start: account
steps:
  account:
    input:
      prompt: enter-account
      variable: ACCOUNT
      min_digits: 6
      max_digits: 8
{options}
    on: {{next: confirm, timeout: operator, invalid: operator}}
  confirm:
    play: [you-entered, {{digits: "{{{{ vars.ACCOUNT }}}}"}}]
  operator:
    play: operator
"""


def input_flow(options: str = "") -> str:
    lines = "".join(f"      {line}\n" for line in textwrap.dedent(options).splitlines() if line)
    return INPUT.format(options=lines.rstrip("\n"))


def test_input_stores_a_valid_entry_in_the_flow_and_the_channel(tmp_path: Path) -> None:
    result = run(tmp_path, input_flow("timeout: 6"), dtmf=["12345678"])
    assert commands(result) == [
        'GET DATA "enter-account" "6000" "8"',
        'SET VARIABLE "ACCOUNT" "12345678"',
        'STREAM FILE "you-entered" ""',
        'SAY DIGITS "12345678" ""',
        STATUS.format("completed"),
    ]
    assert path(result) == ["account:next", "confirm:next"]
    assert result.variables["ACCOUNT"] == "12345678"
    assert details(result, "account") == {"entries": ["12345678"], "invalid": 0, "timeouts": 0}


def test_input_entry_shorter_than_max_ends_with_pound(tmp_path: Path) -> None:
    result = run(tmp_path, input_flow(), dtmf=["123456#"])
    assert result.variables["ACCOUNT"] == "123456"
    assert path(result) == ["account:next", "confirm:next"]


def test_input_too_short_entries_are_retried_then_invalid(tmp_path: Path) -> None:
    result = run(tmp_path, input_flow("invalid_retries: 1\ninvalid_prompt: invalid-account"),
                 dtmf=["123#", "12345#"])
    assert commands(result) == [
        'GET DATA "enter-account" "5000" "8"',
        'STREAM FILE "invalid-account" ""',
        'GET DATA "enter-account" "5000" "8"',
        'STREAM FILE "operator" ""',
        STATUS.format("completed"),
    ]
    assert path(result) == ["account:invalid", "operator:next"]
    assert "ACCOUNT" not in result.variables
    assert details(result, "account") == {"entries": ["123", "12345"], "invalid": 2, "timeouts": 0}


def test_input_keys_beyond_max_digits_are_not_read(tmp_path: Path) -> None:
    # GET DATA stops at max_digits: an over-long entry cannot reach the step;
    # the caller's first max_digits keys are what is stored.
    result = run(tmp_path, input_flow(), dtmf=["1234567890"])
    assert result.variables["ACCOUNT"] == "12345678"


def test_input_too_long_for_the_pattern_is_invalid(tmp_path: Path) -> None:
    result = run(tmp_path, input_flow('pattern: "^[0-9]{6}$"\ninvalid_retries: 0'), dtmf=["1234567"])
    assert path(result) == ["account:invalid", "operator:next"]
    assert details(result, "account")["entries"] == ["1234567"]


def test_input_entry_not_matching_the_pattern_is_retried_then_invalid(tmp_path: Path) -> None:
    result = run(tmp_path, input_flow('pattern: "^[1-9][0-9]*$"\ninvalid_retries: 1'),
                 dtmf=["0123456", "0999999"])
    assert path(result) == ["account:invalid", "operator:next"]
    assert details(result, "account") == {"entries": ["0123456", "0999999"], "invalid": 2, "timeouts": 0}


def test_input_pattern_match_after_a_mismatch_is_accepted(tmp_path: Path) -> None:
    result = run(tmp_path, input_flow('pattern: "^[1-9][0-9]*$"'), dtmf=["0123456", "7654321#"])
    assert path(result) == ["account:next", "confirm:next"]
    assert result.variables["ACCOUNT"] == "7654321"


def test_input_without_pattern_refuses_star(tmp_path: Path) -> None:
    result = run(tmp_path, input_flow("invalid_retries: 0"), dtmf=["123*567#"])
    assert path(result) == ["account:invalid", "operator:next"]


def test_input_timeout_after_its_retries(tmp_path: Path) -> None:
    result = run(tmp_path, input_flow("timeout_retries: 1\ntimeout_prompt: no-input"))
    assert commands(result) == [
        'GET DATA "enter-account" "5000" "8"',
        'STREAM FILE "no-input" ""',
        'GET DATA "enter-account" "5000" "8"',
        'STREAM FILE "operator" ""',
        STATUS.format("completed"),
    ]
    assert path(result) == ["account:timeout", "operator:next"]
    assert details(result, "account") == {"entries": [], "invalid": 0, "timeouts": 2}


def test_input_partial_entry_that_times_out_is_checked_as_entered(tmp_path: Path) -> None:
    # Keys then silence: GET DATA answers "result=1234567 (timeout)"; the
    # keys count as an entry, not as a timeout.
    result = run(tmp_path, input_flow(), dtmf=["1234567"])
    assert result.exchanges[0].lines == ("200 result=1234567 (timeout)",)
    assert path(result) == ["account:next", "confirm:next"]
    assert result.variables["ACCOUNT"] == "1234567"


#: Keys on which ``^(0|00)+$`` tries every way to split the zeros (1.6 times
#: as many for each more zero): seconds of work, far past the time limit of a match.
BACKTRACKING = "^(0|00)+$"
HOSTILE_KEYS = "0" * 34 + "*"


def test_a_pattern_that_backtracks_on_the_keys_ends_the_step_with_error_instead_of_holding_the_server(
        tmp_path: Path) -> None:
    """Python's ``re`` has no time limit: 64 such keys held the whole
    server process for longer than the call could last."""
    flow = input_flow(f'pattern: "{BACKTRACKING}"\ninvalid_retries: 0').replace("max_digits: 8", "max_digits: 64")
    result = run(tmp_path, flow, dtmf=[HOSTILE_KEYS])
    assert path(result) == ["account:error"]
    error = details(result, "account")["error"]
    assert error.startswith(f"pattern '{BACKTRACKING}' took more than 10 ms on 35 keys: it backtracks too much"), error
    assert details(result, "account")["entries"] == [HOSTILE_KEYS]
    assert (result.call["status"], result.call["error"]) == ("error", error)
    assert "ACCOUNT" not in result.variables


def test_a_pattern_that_backtracks_goes_where_on_error_says(tmp_path: Path) -> None:
    flow = input_flow(f'pattern: "{BACKTRACKING}"').replace("max_digits: 8", "max_digits: 64") \
        .replace("invalid: operator}", "invalid: operator, error: operator}")
    result = run(tmp_path, flow, dtmf=[HOSTILE_KEYS])
    assert path(result) == ["account:error", "operator:next"]
    assert result.call["status"] == "completed"

