"""What a caller hears and presses, step type by step type.

Every test writes a small flow, loads it through the real loader and runs it
with ``agi.simulate.simulate`` against the simulated Asterisk 22. Assertions
are on what Asterisk receives (the exact command lines), on the path the
call takes, and on the CDR rows and variables that come out of it.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

# agi.loading.loader first: importing agi.simulate (or agi.engine.interpreter)
# before it fails with a circular import; see the import test below.
from agi.loading.loader import load_flows  # noqa: I001
from agi.engine.interpreter import MAX_STEPS
from agi.simulate import SimulationResult, simulate

ROOT = Path(__file__).resolve().parents[2]

#: A Monday morning; 09:30 in Madrid.
AT = datetime(2025, 3, 10, 8, 30, tzinfo=timezone.utc)
STATUS = 'SET VARIABLE "AGIFLOW_STATUS" "{}"'


def run(tmp_path: Path, text: str, *others: str, caller: str = "600111222", **options: Any) -> SimulationResult:
    """Load the flow in ``text`` (and the ``others`` it may goto) and run it once."""
    for i, source in enumerate((text, *others)):
        (tmp_path / f"flow{i}.yaml").write_text(textwrap.dedent(source))
    flows, errors = load_flows([tmp_path])
    assert errors == []
    name = next(line.split(":", 1)[1].strip() for line in textwrap.dedent(text).splitlines()
                if line.startswith("name:"))
    options.setdefault("at", AT)
    return simulate(flows.get(name), flows, caller=caller, **options)


def commands(result: SimulationResult) -> list[str]:
    return [e.command for e in result.exchanges]


def path(result: SimulationResult) -> list[str]:
    return [f"{s['step']}:{s['outcome']}" for s in result.steps]


def details(result: SimulationResult, step: str) -> dict[str, Any]:
    [row] = [s for s in result.steps if s["step"] == step]
    return json.loads(row["details"])


def fields(result: SimulationResult) -> dict[str, Any]:
    return json.loads(result.call["fields"])


# -- the simulator as a library -------------------------------------------------

@pytest.mark.parametrize("module", ["agi.simulate", "agi.engine.interpreter"])
def test_simulate_can_be_imported_on_its_own(module: str) -> None:
    # A script or test that starts with `from agi.simulate import simulate`
    # must not need another agi import first.
    done = subprocess.run([sys.executable, "-c", f"import {module}"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr.strip().splitlines()[-1]


# -- answer ------------------------------------------------------------------

ANSWER_FLOW = """\
version: 1
name: answer
start: answer
steps:
  answer:
    answer:
    next: greet
  greet:
    play: hello-world
"""


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


# -- play --------------------------------------------------------------------

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


# -- menu --------------------------------------------------------------------

MENU = """\
version: 1
name: menu
start: menu
steps:
  menu:
    menu:
      prompt: main-menu
      choices: {{"1": sales, "2": support{extra_choices}}}
{options}
    on: {{timeout: operator, invalid: operator{extra_on}}}
  sales:
    play: sales
  support:
    play: support
  operator:
    play: operator
{extra_steps}"""


def menu_flow(options: str = "", extra_choices: str = "", extra_on: str = "", extra_steps: str = "") -> str:
    lines = "".join(f"      {line}\n" for line in textwrap.dedent(options).splitlines() if line)
    return MENU.format(options=lines.rstrip("\n"), extra_choices=extra_choices, extra_on=extra_on,
                       extra_steps=extra_steps)


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
    assert commands(result) == ['GET DATA "main-menu" "5000" "1"', "NOOP", STATUS.format("caller_hangup")]
    assert result.variables["AGIFLOW_STATUS"] == "caller_hangup"


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


# -- input -------------------------------------------------------------------

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


# -- set ---------------------------------------------------------------------

def test_set_sends_channel_variables_in_order_and_keeps_cdr_fields(tmp_path: Path) -> None:
    result = run(tmp_path, """\
        version: 1
        name: tag
        start: tag
        steps:
          tag:
            set:
              variables:
                QUEUE_PRIO: 10
                VIP: true
                BLOCKED: false
                CDR(userfield): "vip {{ call.caller }}"
                GREETING: "hello {{ call.called }}"
              cdr: {vip: true, department: support, tries: 3, who: "{{ call.caller }}"}
            next: after
          after:
            play: [{number: "{{ vars.QUEUE_PRIO }}"}, {digits: "{{ vars.VIP }}"}]
        """, called="900")
    assert commands(result) == [
        'SET VARIABLE "QUEUE_PRIO" "10"',
        'SET VARIABLE "VIP" "1"',
        'SET VARIABLE "BLOCKED" "0"',
        'SET VARIABLE "CDR(userfield)" "vip 600111222"',
        'SET VARIABLE "GREETING" "hello 900"',
        'SAY NUMBER "10" ""',
        'SAY DIGITS "1" ""',
        STATUS.format("completed"),
    ]
    assert result.variables["VIP"] == "1"
    assert result.variables["GREETING"] == "hello 900"
    assert fields(result) == {"vip": True, "department": "support", "tries": 3, "who": "600111222"}


def test_set_values_with_quotes_and_backslashes_reach_asterisk_intact(tmp_path: Path) -> None:
    result = run(tmp_path, """\
        version: 1
        name: quoting
        start: tag
        steps:
          tag:
            set: {variables: {NOTE: 'say "hi" \\ there', EMPTY: ""}}
        """)
    assert commands(result)[:2] == ['SET VARIABLE "NOTE" "say \\"hi\\" \\\\ there"', 'SET VARIABLE "EMPTY" ""']
    assert result.variables["NOTE"] == 'say "hi" \\ there'
    assert result.variables["EMPTY"] == ""


def test_set_function_names_do_not_become_flow_variables(tmp_path: Path) -> None:
    result = run(tmp_path, """\
        version: 1
        name: fn
        start: tag
        steps:
          tag:
            set: {variables: {CDR(account): "42"}}
            next: check
          check:
            branch:
              cases:
                - {if: "'CDR(account)' in vars", next: leaked, label: leaked}
              else: fine
          leaked:
            play: leaked
          fine:
            play: fine
        """)
    assert path(result) == ["tag:next", "check:else", "fine:next"]


def test_cdr_fields_carry_into_later_templates(tmp_path: Path) -> None:
    result = run(tmp_path, """\
        version: 1
        name: cdrread
        start: tag
        steps:
          tag:
            set: {cdr: {department: sales}}
            next: say
          say:
            play: "queue-{{ cdr.department }}"
        """)
    assert 'STREAM FILE "queue-sales" ""' in commands(result)


# -- branch ------------------------------------------------------------------

BRANCH = """\
version: 1
name: route
timezone: Europe/Madrid
start: route
steps:
  route:
    branch:
      cases:
{cases}
{otherwise}
{steps}"""
TARGETS = ("spain", "vip", "open", "closed")


def branch_flow(*cases: str, otherwise: str = "      else: closed", on: str = "") -> str:
    """A branch step, its cases and a play step for each target it names."""
    head = "\n".join(f"        - {c}" for c in cases) + "\n" + otherwise + on
    steps = "".join(f"  {t}:\n    play: {t}\n" for t in TARGETS if re.search(rf"\b{t}\b", head))
    return BRANCH.format(cases="\n".join(f"        - {c}" for c in cases), otherwise=otherwise + on,
                         steps=steps)


def test_branch_first_true_case_wins_in_written_order(tmp_path: Path) -> None:
    flow = branch_flow('{if: "call.caller.startswith(\'+34\')", next: spain, label: spanish}',
                       '{if: "true", next: vip}')
    result = run(tmp_path, flow, caller="+34600111222")
    assert path(result) == ["route:spanish", "spain:next"]
    assert commands(result) == ['STREAM FILE "spain" ""', STATUS.format("completed")]


def test_branch_sees_an_anonymous_caller_as_an_empty_caller(tmp_path: Path) -> None:
    flow = branch_flow('{if: "call.caller == \'\'", next: vip, label: anonymous}')
    result = run(tmp_path, flow, caller="")
    assert path(result) == ["route:anonymous", "vip:next"]


def test_branch_unlabelled_cases_are_named_by_position(tmp_path: Path) -> None:
    flow = branch_flow('{if: "call.caller.startswith(\'+34\')", next: spain}', '{if: "true", next: vip}')
    result = run(tmp_path, flow, caller="+44700900123")
    assert path(result) == ["route:if2", "vip:next"]


def test_branch_else_when_no_case_holds(tmp_path: Path) -> None:
    flow = branch_flow('{if: "call.caller == \'\'", next: vip}')
    result = run(tmp_path, flow, caller="600111222")
    assert path(result) == ["route:else", "closed:next"]


def test_branch_without_else_ends_the_flow_when_no_case_holds(tmp_path: Path) -> None:
    flow = branch_flow('{if: "false", next: vip}', otherwise="")
    result = run(tmp_path, flow)
    assert path(result) == ["route:else"]
    assert result.call["status"] == "completed"
    assert commands(result) == [STATUS.format("completed")]


@pytest.mark.parametrize(("at", "expected"), [
    (datetime(2025, 3, 10, 8, 30, tzinfo=timezone.utc), "route:open"),   # 09:30 in Madrid
    (datetime(2025, 3, 10, 17, 30, tzinfo=timezone.utc), "route:else"),  # 18:30 in Madrid
    (datetime(2025, 3, 10, 7, 30, tzinfo=timezone.utc), "route:else"),   # 08:30 in Madrid
])
def test_branch_office_hours_use_the_call_time_in_the_flow_timezone(tmp_path: Path, at: datetime,
                                                                     expected: str) -> None:
    flow = branch_flow('{if: "now.weekday() < 5 and 9 <= now.hour < 18", next: open, label: open}')
    result = run(tmp_path, flow, at=at)
    assert path(result)[0] == expected


def test_branch_on_a_flow_variable_set_earlier(tmp_path: Path) -> None:
    result = run(tmp_path, """\
        version: 1
        name: byvar
        start: choose
        steps:
          choose:
            menu: {prompt: main-menu, choices: {"1": route, "2": route}, variable: CHOICE}
          route:
            branch:
              cases:
                - {if: "vars.CHOICE == '2'", next: two, label: two}
              else: other
          two:
            play: two
          other:
            play: other
        """, dtmf=["2"])
    assert path(result) == ["choose:2", "route:two", "two:next"]


#: Sets MISSING after the branch (so the flows validate): the branch reads it unset.
SETS_MISSING_LATER = '    next: remember\n  remember:\n    set: {variables: {MISSING: "1"}}\n'


@pytest.mark.parametrize("condition", ["vars.MISSING | int > 3", "vars.MISSING == '1'", "vars.MISSING.upper()",
                                       "vars.MISSING"])
def test_branch_condition_on_an_undefined_name_gives_error_not_a_crash(tmp_path: Path, condition: str) -> None:
    flow = branch_flow(f'{{if: "{condition}", next: vip}}') + SETS_MISSING_LATER
    result = run(tmp_path, flow)
    assert path(result) == ["route:error"]
    assert result.call["status"] == "error"
    assert "cannot evaluate" in details(result, "route")["error"]
    assert "internal error" not in (result.call["error"] or "")
    assert commands(result) == [STATUS.format("error")]


def test_branch_error_outcome_can_be_routed(tmp_path: Path) -> None:
    flow = branch_flow('{if: "vars.MISSING | int > 3", next: vip}', on="\n    on: {error: open}") + SETS_MISSING_LATER
    result = run(tmp_path, flow)
    assert path(result) == ["route:error", "open:next"]
    assert result.call["status"] == "completed"


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


# -- goto --------------------------------------------------------------------

FRONT = """\
version: 1
name: front
start: answer
steps:
  answer:
    answer:
    next: tag
  tag:
    set: {variables: {FROM: front}, cdr: {entry: front}}
    next: away
  away:
    goto: closed
"""

CLOSED = """\
version: 1
name: closed
params: {callback: "900123456"}
start: message
steps:
  message:
    play: [office-closed, {digits: "{{ params.callback }}"}, "{{ flow.name }}-{{ vars.FROM }}"]
    next: bye
  bye:
    hangup:
"""


def test_goto_continues_the_call_at_the_other_flows_start(tmp_path: Path) -> None:
    result = run(tmp_path, FRONT, CLOSED)
    assert commands(result) == [
        "ANSWER",
        'SET VARIABLE "FROM" "front"',
        'STREAM FILE "office-closed" ""',
        'SAY DIGITS "900123456" ""',
        'STREAM FILE "closed-front" ""',
        "HANGUP",
        STATUS.format("completed"),
    ]
    assert result.call["path"] == "answer:next > tag:next > away:transfer > message:next > bye:done"
    assert [(s["flow"], s["step"]) for s in result.steps] == [
        ("front", "answer"), ("front", "tag"), ("front", "away"), ("closed", "message"), ("closed", "bye")]
    assert result.call["flow"] == "front"
    assert result.call["status"] == "completed"
    assert fields(result) == {"entry": "front"}


def test_goto_long_form_names_the_flow(tmp_path: Path) -> None:
    result = run(tmp_path, FRONT.replace("goto: closed", "goto: {flow: closed}"), CLOSED)
    assert [s["flow"] for s in result.steps][-1] == "closed"


def test_goto_applies_the_target_flows_language(tmp_path: Path) -> None:
    result = run(tmp_path, FRONT, CLOSED.replace("params:", "language: es\nparams:"))
    assert commands(result)[2:4] == ['SET VARIABLE "CHANNEL(language)" "es"', 'STREAM FILE "office-closed" ""']


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


# -- exec --------------------------------------------------------------------

def exec_flow(step: str, extra: str = "") -> str:
    return f"""\
version: 1
name: run
start: app
steps:
  app:
    exec: {step}
{extra}"""


def test_exec_sends_options_as_one_quoted_argument(tmp_path: Path) -> None:
    result = run(tmp_path, exec_flow('{app: Dial, options: "PJSIP/100,30"}'))
    # An answered Dial returns -1 when the call ends (0 only with the g option):
    # the NOOP tells that from a caller hangup.
    assert commands(result) == ['EXEC "Dial" "PJSIP/100,30"', "NOOP", STATUS.format("completed")]
    assert path(result) == ["app:next"]
    assert details(result, "app") == {"app": "Dial", "result": -1}
    assert result.variables["DIALSTATUS"] == "ANSWER"


def test_exec_args_are_joined_with_commas_keeping_empty_places(tmp_path: Path) -> None:
    result = run(tmp_path, exec_flow('{app: Queue, args: [support, t, "", "", 300]}'), queue_statuses=["FULL"])
    assert commands(result)[0] == 'EXEC "Queue" "support,t,,,300"'
    assert result.variables["QUEUESTATUS"] == "FULL"


def test_exec_options_and_args_are_templated(tmp_path: Path) -> None:
    result = run(tmp_path, exec_flow('{app: MixMonitor, options: "{{ call.id }}.wav,b"}'))
    assert commands(result)[0] == f'EXEC "MixMonitor" "{result.call["call_id"]}.wav,b"'
    result = run(tmp_path, exec_flow('{app: Dial, args: ["PJSIP/{{ call.called }}", 30]}'), called="204")
    assert commands(result)[0] == 'EXEC "Dial" "PJSIP/204,30"'


def test_exec_without_options_sends_an_empty_argument(tmp_path: Path) -> None:
    result = run(tmp_path, exec_flow("{app: Wait}"))
    assert commands(result)[0] == 'EXEC "Wait" ""'


def test_exec_result_variable_keeps_the_application_result(tmp_path: Path) -> None:
    result = run(tmp_path, exec_flow("{app: Queue, args: [support], result_variable: QRESULT}",
                                     '    next: say\n  say:\n    play: [{number: "{{ vars.QRESULT }}"}]\n'))
    assert commands(result)[:2] == ['EXEC "Queue" "support"', 'SAY NUMBER "0" ""']
    assert "QRESULT" not in result.variables


def test_exec_of_an_unknown_application_fails_the_step_and_the_call(tmp_path: Path) -> None:
    result = run(tmp_path, exec_flow("{app: Frobnicate, options: x}", "    next: after\n  after:\n    play: after\n"))
    assert commands(result) == ['EXEC "Frobnicate" "x"', STATUS.format("error")]
    assert result.exchanges[0].lines == ("200 result=-2",)
    assert path(result) == ["app:error"]
    assert result.call["status"] == "error"
    assert "Frobnicate" in result.call["error"]


def test_caller_hanging_up_during_dial_gives_the_hangup_outcome(tmp_path: Path) -> None:
    result = run(tmp_path, exec_flow('{app: Dial, options: "PJSIP/100,30"}',
                                     "    next: after\n  after:\n    play: after\n"), hangup_after=0)
    assert path(result) == ["app:hangup"]
    assert result.call["status"] == "caller_hangup"
    assert result.variables["DIALSTATUS"] == "CANCEL"


# -- hangup ------------------------------------------------------------------

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
