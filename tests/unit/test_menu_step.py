"""The ``menu`` step: choices by key, timeouts and invalid entries with their
own retries and prompts, the repeat key and direct dial.

Each test writes a small flow, loads it through the real loader and runs
it with ``agi.simulate.simulate`` against the simulated Asterisk 22.
Assertions are on what Asterisk receives (the exact command lines), on the
path the call takes, and on the CDR rows and variables that come out of it.
"""
from __future__ import annotations

from pathlib import Path

from support.sample_flows import menu_flow
from support.step_runner import STATUS, commands, details, path, run

from agi.steps.menu import MenuNode


def test_menu_single_key_leads_to_its_choice(tmp_path: Path) -> None:
    result = run(tmp_path, menu_flow(), dtmf=["2"])
    assert commands(result) == [
        'GET DATA "main-menu" "5000" "1"',
        'STREAM FILE "support" ""',
        STATUS.format("completed"),
    ]
    assert path(result) == ["menu:2", "support:next"]
    assert details(result, "menu") == {"choice": "2", "entries": ["2"], "invalid": 0, "timeouts": 0}


def test_menu_multi_digit_choice_ends_early_with_pound(tmp_path: Path) -> None:
    flow = menu_flow("max_digits: 3\ntimeout: 3", extra_choices=', "42": vip',
                     extra_steps="  vip:\n    play: vip\n")
    result = run(tmp_path, flow, dtmf=["42#"])
    assert commands(result)[0] == 'GET DATA "main-menu" "3000" "3"'
    assert path(result) == ["menu:42", "vip:next"]


def test_menu_reads_as_many_keys_as_its_longest_choice_by_default(tmp_path: Path) -> None:
    flow = menu_flow(extra_choices=', "42": vip', extra_steps="  vip:\n    play: vip\n")
    result = run(tmp_path, flow, dtmf=["42"])
    assert commands(result)[0] == 'GET DATA "main-menu" "5000" "2"'
    assert path(result) == ["menu:42", "vip:next"]


def test_menu_timeout_plays_the_timeout_prompt_then_asks_again(tmp_path: Path) -> None:
    result = run(tmp_path, menu_flow("timeout_prompt: no-input\ninvalid_prompt: invalid"), dtmf=[None, "1"])
    assert commands(result) == [
        'GET DATA "main-menu" "5000" "1"',
        'STREAM FILE "no-input" ""',
        'GET DATA "main-menu" "5000" "1"',
        'STREAM FILE "sales" ""',
        STATUS.format("completed"),
    ]
    assert path(result) == ["menu:1", "sales:next"]
    assert details(result, "menu") == {"choice": "1", "entries": ["1"], "invalid": 0, "timeouts": 1}


def test_menu_gives_timeout_when_the_caller_never_presses_a_key(tmp_path: Path) -> None:
    result = run(tmp_path, menu_flow("timeout_retries: 1\ntimeout_prompt: no-input"))
    assert commands(result) == [
        'GET DATA "main-menu" "5000" "1"',
        'STREAM FILE "no-input" ""',
        'GET DATA "main-menu" "5000" "1"',
        'STREAM FILE "operator" ""',
        STATUS.format("completed"),
    ]
    assert path(result) == ["menu:timeout", "operator:next"]
    assert details(result, "menu") == {"choice": "timeout", "entries": [], "invalid": 0, "timeouts": 2}


def test_menu_default_retries_ask_three_times_before_timeout(tmp_path: Path) -> None:
    result = run(tmp_path, menu_flow())
    assert commands(result).count('GET DATA "main-menu" "5000" "1"') == 3
    assert path(result) == ["menu:timeout", "operator:next"]


def test_menu_invalid_entries_play_the_invalid_prompt_and_count_apart_from_timeouts(tmp_path: Path) -> None:
    flow = menu_flow("timeout_retries: 1\ntimeout_prompt: no-input\n"
                     "invalid_retries: 1\ninvalid_prompt: invalid-option")
    result = run(tmp_path, flow, dtmf=["9", None, "8"])
    assert commands(result) == [
        'GET DATA "main-menu" "5000" "1"',
        'STREAM FILE "invalid-option" ""',
        'GET DATA "main-menu" "5000" "1"',
        'STREAM FILE "no-input" ""',
        'GET DATA "main-menu" "5000" "1"',
        'STREAM FILE "operator" ""',
        STATUS.format("completed"),
    ]
    assert path(result) == ["menu:invalid", "operator:next"]
    assert details(result, "menu") == {"choice": "invalid", "entries": ["9", "8"], "invalid": 2, "timeouts": 1}


def test_menu_pound_alone_is_an_invalid_entry(tmp_path: Path) -> None:
    result = run(tmp_path, menu_flow("invalid_retries: 0"), dtmf=["#"])
    assert path(result) == ["menu:invalid", "operator:next"]
    assert details(result, "menu")["entries"] == [""]


def test_menu_repeat_key_replays_the_prompt_without_using_an_attempt(tmp_path: Path) -> None:
    flow = menu_flow('repeat_key: "*"\ntimeout_retries: 0\ninvalid_retries: 0')
    result = run(tmp_path, flow, dtmf=["*", "*", "*", "2"])
    assert commands(result) == ['GET DATA "main-menu" "5000" "1"'] * 4 + [
        'STREAM FILE "support" ""', STATUS.format("completed")]
    assert path(result) == ["menu:2", "support:next"]
    assert details(result, "menu") == {"choice": "2", "entries": ["*", "*", "*", "2"], "invalid": 0, "timeouts": 0}


def test_menu_repeat_key_cannot_keep_the_caller_in_the_menu_forever(tmp_path: Path) -> None:
    result = run(tmp_path, menu_flow('repeat_key: "*"'), dtmf=["*"] * 30)
    assert commands(result).count('GET DATA "main-menu" "5000" "1"') == 20
    assert path(result) == ["menu:invalid", "operator:next"]


def test_menu_silent_caller_who_reaches_the_prompt_cap_ends_with_timeout(tmp_path: Path) -> None:
    """With more retries than the 20 prompts a step may play, a caller who
    never presses a key ends with ``timeout``, as every attempt did (it
    once ended with ``invalid``, with no invalid entry in its details); a
    caller whose last attempt was a wrong key ends with ``invalid``."""
    flow = menu_flow("timeout_retries: 30\ninvalid_retries: 30")
    result = run(tmp_path, flow)
    assert commands(result).count('GET DATA "main-menu" "5000" "1"') == 20
    assert path(result) == ["menu:timeout", "operator:next"]
    assert details(result, "menu") == {"choice": "timeout", "entries": [], "invalid": 0, "timeouts": 20}
    wrong = run(tmp_path, flow, dtmf=[None, "9"] * 10)
    assert path(wrong) == ["menu:invalid", "operator:next"]
    assert (details(wrong, "menu")["timeouts"], details(wrong, "menu")["invalid"]) == (10, 10)


def test_menu_timeout_in_fractions_of_a_second_is_sent_in_milliseconds(tmp_path: Path) -> None:
    result = run(tmp_path, menu_flow("timeout: 2.5"), dtmf=["1"])
    assert commands(result)[0] == 'GET DATA "main-menu" "2500" "1"'


def test_menu_direct_dial_stores_the_extension_and_dials_it(tmp_path: Path) -> None:
    flow = menu_flow('max_digits: 3\ndirect_dial: {pattern: "^[2-4][0-9]{2}$", variable: TARGET_EXTEN}',
                     extra_on=", direct: extension",
                     extra_steps='  extension:\n    exec: {app: Dial, args: ["PJSIP/{{ vars.TARGET_EXTEN }}", 30]}\n')
    result = run(tmp_path, flow, dtmf=["301"])
    assert commands(result) == [
        'GET DATA "main-menu" "5000" "3"',
        'SET VARIABLE "TARGET_EXTEN" "301"',
        'EXEC "Dial" "PJSIP/301,30"',
        "NOOP",  # Dial answers -1 once an answered call ends: the step checks for a hangup
        STATUS.format("completed"),
    ]
    assert path(result) == ["menu:direct", "extension:next"]
    assert result.variables["TARGET_EXTEN"] == "301"
    assert result.variables["DIALSTATUS"] == "ANSWER"


def test_menu_direct_dial_keys_go_to_dialed_by_default(tmp_path: Path) -> None:
    flow = menu_flow('max_digits: 3\ndirect_dial: {pattern: "^[2-4][0-9]{2}$"}',
                     extra_on=", direct: extension",
                     extra_steps='  extension:\n    play: [{digits: "{{ vars.DIALED }}"}]\n')
    result = run(tmp_path, flow, dtmf=["250"])
    assert 'SET VARIABLE "DIALED" "250"' in commands(result)
    assert 'SAY DIGITS "250" ""' in commands(result)


def test_menu_keys_outside_the_direct_dial_pattern_are_invalid(tmp_path: Path) -> None:
    flow = menu_flow('max_digits: 3\ninvalid_retries: 0\ndirect_dial: {pattern: "^[2-4][0-9]{2}$"}',
                     extra_on=", direct: operator")
    result = run(tmp_path, flow, dtmf=["999"])
    assert path(result) == ["menu:invalid", "operator:next"]
    assert not any(c.startswith("SET VARIABLE \"DIALED\"") for c in commands(result))


def test_menu_variable_stores_the_choice_for_the_dialplan_and_later_steps(tmp_path: Path) -> None:
    flow = menu_flow("variable: MENU_CHOICE").replace(
        "  support:\n    play: support\n",
        '  support:\n    play: [{number: "{{ vars.MENU_CHOICE }}"}]\n')
    result = run(tmp_path, flow, dtmf=["2"])
    assert commands(result) == [
        'GET DATA "main-menu" "5000" "1"',
        'SET VARIABLE "MENU_CHOICE" "2"',
        'SAY NUMBER "2" ""',
        STATUS.format("completed"),
    ]
    assert result.variables["MENU_CHOICE"] == "2"


def test_menu_prompt_is_templated(tmp_path: Path) -> None:
    result = run(tmp_path, menu_flow().replace("prompt: main-menu", 'prompt: "menu-{{ call.called }}"'),
                 called="900", dtmf=["1"])
    assert commands(result)[0] == 'GET DATA "menu-900" "5000" "1"'


def test_caller_hanging_up_during_the_menu_ends_the_call_as_caller_hangup(tmp_path: Path) -> None:
    result = run(tmp_path, menu_flow(), hangup_after=0)
    assert path(result) == ["menu:hangup"]
    assert result.call["status"] == "caller_hangup"
    assert result.call["outcome"] == "hangup"
    assert commands(result) == ['GET DATA "main-menu" "5000" "1"', "NOOP", 'GET VARIABLE "HANGUPCAUSE"',
                                STATUS.format("caller_hangup")]
    assert result.variables["AGIFLOW_STATUS"] == "caller_hangup"
    assert result.call["hangup_cause"] == "16"


def test_a_caller_who_hangs_up_in_the_menu_leaves_the_keys_pressed_so_far_in_the_cdr(tmp_path: Path) -> None:
    result = run(tmp_path, menu_flow(), dtmf=["9"], hangup_after=1)
    assert path(result) == ["menu:hangup"]
    assert details(result, "menu") == {"entries": ["9"], "invalid": 1, "timeouts": 0}


def test_a_direct_dial_pattern_that_backtracks_on_the_keys_ends_the_step_with_error(tmp_path: Path) -> None:
    """Twenty keys on which the pattern tries every way to split them into
    groups of one to eight: far past the time limit of a match, which once
    held the whole server process."""
    pattern = "^(" + "|".join(f"[0-9]{{{n}}}" for n in range(1, 9)) + ")+$"
    flow = menu_flow(f'max_digits: 20\ninvalid_retries: 0\ndirect_dial: {{pattern: "{pattern}"}}',
                     extra_on=", direct: operator")
    result = run(tmp_path, flow, dtmf=["0" * 19 + "*"])
    assert path(result) == ["menu:error"]
    assert details(result, "menu")["error"].startswith(f"pattern '{pattern}' took more than 10 ms on 20 keys")
    assert result.call["status"] == "error"


def test_keys_past_max_digits_are_invalid_without_reaching_the_direct_dial_pattern() -> None:
    """Asterisk never answers GET DATA with more keys than it was asked for;
    a peer that did had its answer matched against the pattern, for as long
    as the pattern backtracked on it (2^64 steps here)."""
    menu = MenuNode.from_config({"prompt": "p", "choices": {"1": "a"}, "max_digits": 3,
                                 "direct_dial": {"pattern": "^(1+)+2$"}})
    assert menu.accept("1" * 64) is None
    assert menu.accept("1") == "1"
