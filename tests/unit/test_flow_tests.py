"""``agiflow test``: what a flow author sees when their test cases pass,
fail, or are written wrongly.

Every test writes a real flow and a real ``*.tests.yaml`` file into a
temporary folder and runs ``agiflow test`` through click's CliRunner from an
empty working folder, so each case really goes through the loader, the
simulator and the comparison.
"""
from __future__ import annotations

import json
import textwrap
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result

from agi.cli.main import cli
from agi.loading.loader import load_flows
from agi.flowtest.memory import CaseOverride, CaseWebhooks, MemoryLists, MemoryOverrides, fixed_chance
from agi.services import ListHit, ListUnavailable, Override, WebhookResult
from agi.sim.transport import run_sync

ROOT = Path(__file__).resolve().parents[2]

DESK_FLOW = """\
version: 1
name: desk
timezone: Europe/Madrid
start: answer
steps:
  answer:
    answer:
    next: menu
  menu:
    menu: {prompt: desk-menu, choices: {"1": sales, "2": support}, timeout: 3}
    on: {timeout: support, invalid: support}
  sales:
    set: {variables: {TEAM: sales}, cdr: {department: sales}}
    next: queue
  support:
    set: {variables: {TEAM: support}, cdr: {department: support}}
    next: queue
  queue:
    exec: {app: Queue, args: ["{{ vars.TEAM }}"]}
    next: bye
  bye:
    hangup:
"""

#: A caller who presses 1 reaches sales.
SALES_CASE = """\
version: 1
flow: desk
cases:
  - name: caller who presses 1 reaches sales
    caller: "+34600111222"
    at: 2025-03-10T09:30:00
    dtmf: ["1"]
    expect:
"""
SALES_PATH = "answer:next > menu:1 > sales:next > queue:next > bye:done"


@pytest.fixture(autouse=True)
def empty_workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


@pytest.fixture
def flows(tmp_path: Path) -> Path:
    folder = tmp_path / "flows"
    folder.mkdir()
    (folder / "desk.yaml").write_text(DESK_FLOW)
    return folder


def agiflow(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def write_tests(folder: Path, text: str, name: str = "desk.tests.yaml") -> Path:
    (folder / "tests").mkdir(exist_ok=True)
    path = folder / "tests" / name
    path.write_text(textwrap.dedent(text))
    return path


def expect_block(yaml_lines: str) -> str:
    """SALES_CASE with ``yaml_lines`` as its expectations."""
    return SALES_CASE + textwrap.indent(textwrap.dedent(yaml_lines), " " * 6)


def line_of(path: Path, text: str) -> int:
    """1-based line of the first line of ``path`` containing ``text``."""
    return next(n for n, line in enumerate(path.read_text().splitlines(), 1) if text in line)


# -- passing cases -------------------------------------------------------------------

def test_a_case_whose_expectations_all_hold_passes_and_exits_0(flows: Path) -> None:
    tests = write_tests(flows, expect_block(f"""\
        path: [{SALES_PATH.replace(' > ', ', ')}]
        path_includes: [menu:1, queue]
        visits: [sales, queue]
        skips: [support]
        status: completed
        outcome: done
        last_step: bye
        cdr: {{caller: "+34600111222", steps: 5, started_at: "2025-03-10T08:30:00.000Z"}}
        fields: {{department: sales}}
        variables: {{TEAM: sales, ACCOUNT: null}}
        commands_include: ['EXEC "Queue" "sales"', GET DATA "desk-menu"]
        commands_exclude: ['EXEC "Dial"']
        callbacks: []
        webhooks: []
        """))
    result = agiflow("test", "--flows", str(flows), str(tests))
    assert result.exit_code == 0, result.output
    assert result.stdout == f"{tests}::caller who presses 1 reaches sales PASSED\n\n1 passed\n"


def test_a_case_without_caller_or_called_has_neither_as_asterisk_says_unknown(flows: Path) -> None:
    # docs/testing.md: the default is Asterisk's "unknown", which a call reads as "".
    (flows / "who.yaml").write_text(textwrap.dedent("""\
        version: 1
        name: who
        start: note
        steps:
          note:
            set: {cdr: {who: "[{{ call.caller }}|{{ call.called }}]"}}
            next: bye
          bye:
            hangup:
        """))
    tests = write_tests(flows, """\
        version: 1
        flow: who
        cases:
          - name: nobody
            expect:
              fields: {who: "[|]"}
              cdr: {caller: "", called: "", extension: s}
        """, name="who.tests.yaml")
    result = agiflow("test", "--flows", str(flows), str(tests))
    assert result.exit_code == 0, result.output


def test_a_time_without_offset_is_read_in_the_flows_timezone(flows: Path) -> None:
    # 09:30 in Madrid on 10 March 2025 is 08:30 UTC (CET, +01:00).
    tests = write_tests(flows, expect_block('cdr: {started_at: "2025-03-10T08:30:00.000Z"}\n'))
    assert agiflow("test", "--flows", str(flows), str(tests)).exit_code == 0
    summer = write_tests(flows, expect_block('cdr: {started_at: "2025-07-10T07:30:00.000Z"}\n')
                         .replace("2025-03-10T09:30:00", "2025-07-10T09:30:00"), "summer.tests.yaml")
    assert agiflow("test", "--flows", str(flows), str(summer)).exit_code == 0
    offset = write_tests(flows, expect_block('cdr: {started_at: "2025-03-10T09:30:00.000Z"}\n')
                         .replace("at: 2025-03-10T09:30:00", "at: 2025-03-10T09:30:00Z"), "utc.tests.yaml")
    assert agiflow("test", "--flows", str(flows), str(offset)).exit_code == 0


@pytest.mark.parametrize("written", ["2025-03-10", '"2025-03-10"'])
def test_a_date_alone_is_its_first_instant_in_the_flows_timezone_quoted_or_not(flows: Path, written: str) -> None:
    tests = write_tests(flows, expect_block("cdr: {started_at: '2025-03-09T23:00:00.000Z'}\n")
                        .replace("2025-03-10T09:30:00", written))
    result = agiflow("test", "--flows", str(flows), str(tests))
    assert result.exit_code == 0, result.output


def test_numbers_booleans_and_nulls_match_what_the_call_recorded(flows: Path) -> None:
    tests = write_tests(flows, expect_block('cdr: {steps: "5", duration: 0, vip: null, error: null}\n'))
    result = agiflow("test", "--flows", str(flows), str(tests))
    assert result.exit_code == 0, result.output


def test_defaults_apply_to_every_case_and_a_case_overrides_them(flows: Path) -> None:
    tests = write_tests(flows, """\
        version: 1
        flow: desk
        defaults: {caller: "+34600111222", dtmf: ["1"]}
        cases:
          - name: the default keys reach sales
            expect: {fields: {department: sales}, cdr: {caller: "+34600111222"}}
          - name: the case's own keys reach support
            dtmf: ["2"]
            caller: "911000111"
            expect: {fields: {department: support}, cdr: {caller: "911000111"}}
        """)
    result = agiflow("test", "--flows", str(flows), str(tests))
    assert result.exit_code == 0, result.output
    assert result.stdout.endswith("\n2 passed\n")


def test_dtmf_as_text_with_dashes_is_keys_and_timeouts(flows: Path) -> None:
    tests = write_tests(flows, expect_block("path_includes: [menu:timeout, support]\n")
                        .replace('dtmf: ["1"]', 'dtmf: "-,-"'))
    assert agiflow("test", "--flows", str(flows), str(tests)).exit_code == 0


def test_dtmf_written_as_yaml_numbers_is_the_same_keys(flows: Path) -> None:
    """dtmf: [2] is the key 2, as a menu choice written 2: is; it was
    refused as "is not of type 'string', 'null'"."""
    tests = write_tests(flows, expect_block("path_includes: [menu:2, support]\n")
                        .replace('dtmf: ["1"]', 'dtmf: [2, 12345678]'))
    result = agiflow("test", "--flows", str(flows), str(tests))
    assert result.exit_code == 0, result.output


def test_queue_statuses_and_hangup_after_reach_the_simulated_asterisk(flows: Path) -> None:
    tests = write_tests(flows, """\
        version: 1
        flow: desk
        cases:
          - name: a full queue sets QUEUESTATUS
            dtmf: ["1"]
            queue_statuses: [FULL]
            expect: {variables: {QUEUESTATUS: FULL}}
          - name: a caller who hangs up in the menu never reaches the queue
            hangup_after: 1
            expect: {path: [answer:next, menu:hangup], status: caller_hangup, skips: [queue]}
        """)
    result = agiflow("test", "--flows", str(flows), str(tests))
    assert result.exit_code == 0, result.output


# -- each kind of mismatch ---------------------------------------------------------------

MISMATCHES = [
    ("path: [answer:next, menu:2, support:next, queue:next, bye:done]", "path: [",
     "path: differs at step 2: expected menu:2, got menu:1"),
    ("path: [answer:next, menu:1]", "path: [",
     "path: differs at step 3: expected (end of call), got sales:next"),
    ("path_includes: [menu:1, support]", "path_includes",
     f"path_includes: support does not come after menu:1 in the path: {SALES_PATH}"),
    ("visits: [support]", "visits", f"visits: step support never ran; path: {SALES_PATH}"),
    ("skips: [sales]", "skips", f"skips: step sales ran (step 3 of the path: {SALES_PATH})"),
    ("status: caller_hangup", "status", 'status: expected "caller_hangup", got "completed"'),
    ("outcome: hangup", "outcome", 'outcome: expected "hangup", got "done"'),
    ("last_step: queue", "last_step", 'last_step: expected "queue", got "bye"'),
    ("cdr:\n  status: completed\n  caller: \"+34911000000\"", "+34911000000",
     'cdr: caller: expected "+34911000000", got "+34600111222"'),
    ("fields: {department: support}", "fields", 'fields: department: expected "support", got "sales"'),
    ("variables: {TEAM: support}", "variables", 'variables: TEAM: expected "support", got "sales"'),
    ("variables: {ACCOUNT: \"123\"}", "variables", 'variables: ACCOUNT: expected "123", not set'),
    ("commands_include:\n  - ANSWER\n  - EXEC \"Dial\"", "EXEC \"Dial\"",
     "commands_include: no command sent contains 'EXEC \"Dial\"'"),
    ("commands_exclude: ['EXEC \"Queue\"']", "commands_exclude",
     "commands_exclude: command EXEC \"Queue\" \"sales\" was sent (it contains 'EXEC \"Queue\"')"),
    ("callbacks: [{number: \"+34600111222\"}]", "callbacks", "callbacks: expected 1 callback request(s), got 0"),
    ("webhooks: [{url: \"https://crm.example/calls\"}]", "webhooks",
     "webhooks: expected 1 webhook post(s), got 0"),
]


@pytest.mark.parametrize("expect, marker, message", MISMATCHES, ids=[m[0].split(":")[0] for m in MISMATCHES])
def test_each_unmet_expectation_is_reported_with_its_file_and_line(
        flows: Path, expect: str, marker: str, message: str) -> None:
    tests = write_tests(flows, expect_block(expect + "\n"))
    result = agiflow("test", "--flows", str(flows), str(tests))
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[0] == f"{tests}::caller who presses 1 reaches sales FAILED"
    assert f"    {tests}:{line_of(tests, marker)}: {message}" in lines
    assert lines[-1] == "1 failed, 0 passed"


def test_every_mismatch_of_a_case_is_reported_not_only_the_first(flows: Path) -> None:
    tests = write_tests(flows, expect_block("status: error\nfields: {department: support}\n"
                                            "variables: {TEAM: x, QUEUESTATUS: FULL}\n"))
    result = agiflow("test", "--flows", str(flows), str(tests))
    reported = [line.strip() for line in result.stdout.splitlines() if line.startswith(f"    {tests}:")]
    assert reported == [
        f"{tests}:9: status: expected \"error\", got \"completed\"",
        f"{tests}:10: fields: department: expected \"support\", got \"sales\"",
        f"{tests}:11: variables: TEAM: expected \"x\", got \"sales\"",
        f"{tests}:11: variables: QUEUESTATUS: expected \"FULL\", got \"TIMEOUT\"",
    ]


def test_a_failing_case_does_not_stop_the_others(flows: Path) -> None:
    tests = write_tests(flows, """\
        version: 1
        flow: desk
        cases:
          - name: wrong on purpose
            dtmf: ["1"]
            expect: {fields: {department: support}}
          - name: right
            dtmf: ["2"]
            expect: {fields: {department: support}}
        """)
    result = agiflow("test", "--flows", str(flows), str(tests))
    assert result.exit_code == 1
    assert f"{tests}::wrong on purpose FAILED" in result.stdout
    assert f"{tests}::right PASSED" in result.stdout
    assert result.stdout.endswith("\n1 failed, 1 passed\n")


def test_the_results_put_no_escape_sequence_from_a_file_or_case_name_on_the_terminal(flows: Path) -> None:
    """A case file from someone else's repository, its name or a case's
    name an escape sequence (an OSC title change), went to the terminal as
    it was in every result line."""
    tests = write_tests(flows, """\
        version: 1
        flow: desk
        cases:
          - name: "wrong \\e]0;owned\\a on purpose"
            dtmf: ["1"]
            expect: {fields: {department: support}}
        """, name="desk\x1b]0;file\x07.tests.yaml")
    result = agiflow("test", "-v", "--flows", str(flows), str(tests))
    assert result.exit_code == 1
    assert "\x1b" not in result.output and "\x07" not in result.output
    shown = str(tests).replace("\x1b", "\\x1b").replace("\x07", "\\x07")
    assert f"{shown}::wrong \\x1b]0;owned\\x07 on purpose FAILED" in result.stdout


# -- invalid test files -------------------------------------------------------------------

INVALID = [
    ("a misspelt input", expect_block("status: completed\n").replace("dtmf:", "dtfm:"), "dtfm:",
     "case 'caller who presses 1 reaches sales': unknown key 'dtfm'; allowed: "),
    ("no expectations", SALES_CASE.replace("    expect:\n", ""), "- name:", "case 'caller who presses 1 reaches sales': 'expect' is required"),
    ("an unknown flow", expect_block("status: completed\n").replace("flow: desk", "flow: dsk"), "flow: dsk",
     "no flow named 'dsk' among the loaded flows (known: desk)"),
    ("an unknown step in the path", expect_block("path: [answer:next, menu:1, sails:next]\n"), "path:",
     "case 'caller who presses 1 reaches sales': path: flow 'desk' has no step 'sails'"),
    ("an unknown step to skip", expect_block("skips:\n  - sales\n  - sails\n"), "- sails",
     "case 'caller who presses 1 reaches sales': skips: flow 'desk' has no step 'sails'"),
    ("an unknown CDR column", expect_block("cdr:\n  departmnt: sales\n"), "departmnt",
     "case 'caller who presses 1 reaches sales': cdr: unknown column 'departmnt'; allowed: id, call_id, "),
    ("an unknown status", expect_block("status: hungup\n"), "status:",
     "case 'caller who presses 1 reaches sales': status: unknown status 'hungup'; "
     "allowed: caller_hangup, completed, error"),
    ("a time that is not one", expect_block("status: completed\n").replace("2025-03-10T09:30:00", "next monday"),
     "at:", "case 'caller who presses 1 reaches sales': at: 'next monday' is not a date and time"),
    ("a date out of range", expect_block("status: completed\n").replace("2025-03-10T09:30:00", "9999-12-31"),
     "at:", "case 'caller who presses 1 reaches sales': at: '9999-12-31' is out of range"),
    ("a list entry that is no number", expect_block("status: completed\n")
     .replace("    dtmf:", "    lists:\n      vip: [\"+34600111222\", call me]\n    dtmf:"), "vip:",
     "case 'caller who presses 1 reaches sales': lists.vip: 'call me' is not a phone number"),
    ("a duplicate key", expect_block("status: completed\n").replace("    dtmf:", "    caller: \"1\"\n    dtmf:"),
     'caller: "1"', "duplicate key 'caller' (first at line 5)"),
    ("a wrong version", expect_block("status: completed\n").replace("version: 1", "version: 2"), "version",
     "version: 1 was expected"),
    ("a queue status Asterisk never sets", expect_block("status: completed\n")
     .replace("    dtmf:", "    queue_statuses: [ABANDONED]\n    dtmf:"), "queue_statuses",
     "case 'caller who presses 1 reaches sales': queue_statuses[0]: 'ABANDONED' is not one of ['ANSWERED', "),
    ("a misspelt dial status", expect_block("status: completed\n")
     .replace("    dtmf:", "    dial_statuses: [BUSSY]\n    dtmf:"), "dial_statuses",
     "case 'caller who presses 1 reaches sales': dial_statuses[0]: 'BUSSY' is not one of ['ANSWER', 'BUSY', "),
    ("a misspelt voicemail status", expect_block("status: completed\n")
     .replace("    dtmf:", "    vm_statuses: [FAILD]\n    dtmf:"), "vm_statuses",
     "case 'caller who presses 1 reaches sales': vm_statuses[0]: 'FAILD' is not one of ['SUCCESS', 'USEREXIT', "),
    ("a misspelt status of an earlier call", expect_block("status: completed\n")
     .replace("    dtmf:", "    history: [{at: 2025-03-10T09:00:00, status: caler_hangup}]\n    dtmf:"), "history",
     "case 'caller who presses 1 reaches sales': history[0].status: 'caler_hangup' is not one of ['in_progress', "),
    ("a misspelt key of a callback request", expect_block("callbacks: [{numbr: \"+34600111222\"}]\n"), "numbr",
     "case 'caller who presses 1 reaches sales': expect.callbacks[0]: unknown key 'numbr'; allowed: arrived_at, "
     "call_id, caller, flow, number, queue, raw_number, reason, requested_at, source"),
    ("an unknown override state", expect_block("status: completed\n")
     .replace("    dtmf:", "    overrides: {office_hours: shut}\n    dtmf:"), "overrides",
     "case 'caller who presses 1 reaches sales': overrides.office_hours: 'shut' is not one of ['open', 'closed']"),
]


@pytest.mark.parametrize("text, marker, message", [i[1:] for i in INVALID], ids=[i[0] for i in INVALID])
def test_an_invalid_test_file_is_reported_as_file_and_line_and_exits_2(
        flows: Path, text: str, marker: str, message: str) -> None:
    tests = write_tests(flows, text)
    result = agiflow("test", "--flows", str(flows), str(tests))
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    first = result.stderr.splitlines()[0]
    assert first.startswith(f"{tests}:{line_of(tests, marker)}: {message}"), first


def test_a_test_file_over_1_mb_is_refused_without_being_read_whole(flows: Path) -> None:
    tests = write_tests(flows, expect_block("status: completed\n") + "# a comment\n" * (1024 * 1024 // 12))
    result = agiflow("test", "--flows", str(flows), str(tests))
    assert result.exit_code == 2, result.output
    assert result.stderr.splitlines()[0] == f"{tests}:1: cannot read test file: larger than 1048576 bytes"


def test_two_cases_with_one_name_are_an_error_at_the_second(flows: Path) -> None:
    tests = write_tests(flows, """\
        version: 1
        flow: desk
        cases:
          - name: same
            expect: {status: completed}
          - name: same
            expect: {status: completed}
        """)
    result = agiflow("test", "--flows", str(flows), str(tests))
    assert result.exit_code == 2
    assert result.stderr.splitlines()[0] == f"{tests}:6: case 'same': the name is also used by the case at line 4"


def test_a_case_with_an_unknown_key_still_has_its_step_names_checked(flows: Path) -> None:
    tests = write_tests(flows, expect_block("path: [answer:next, menu:1, sails:next]\n").replace("dtmf:", "dtfm:"))
    result = agiflow("test", "--flows", str(flows), str(tests))
    assert result.exit_code == 2
    case = "case 'caller who presses 1 reaches sales'"
    assert result.stderr.splitlines()[0].startswith(f"{tests}:{line_of(tests, 'dtfm:')}: {case}: unknown key 'dtfm'")
    assert result.stderr.splitlines()[1:] == [f"{tests}:{line_of(tests, 'path:')}: {case}: path: flow 'desk' has no step "
                                              "'sails'", "2 errors in test files"]


def test_an_unknown_expectation_does_not_hide_a_misspelt_step_in_the_others(flows: Path) -> None:
    tests = write_tests(flows, expect_block("pth: [answer:next]\nvisits: [sails]\n"))
    result = agiflow("test", "--flows", str(flows), str(tests))
    assert result.exit_code == 2
    case = "case 'caller who presses 1 reaches sales'"
    assert [line.split("; allowed")[0] for line in result.stderr.splitlines()] == [
        f"{tests}:{line_of(tests, 'pth:')}: {case}: expect: unknown key 'pth'",
        f"{tests}:{line_of(tests, 'visits:')}: {case}: visits: flow 'desk' has no step 'sails'", "2 errors in test files"]


def test_an_error_in_defaults_does_not_hide_the_errors_of_the_cases(flows: Path) -> None:
    tests = write_tests(flows, expect_block("path: [answer:next, menu:1, sails:next]\n")
                        .replace("cases:\n", "defaults: {dtfm: ['1']}\ncases:\n"))
    result = agiflow("test", "--flows", str(flows), str(tests))
    assert result.exit_code == 2
    assert [line.split("; allowed")[0] for line in result.stderr.splitlines()] == [
        f"{tests}:3: defaults: unknown key 'dtfm'",
        f"{tests}:{line_of(tests, 'path:')}: case 'caller who presses 1 reaches sales': path: flow 'desk' has no step "
        "'sails'", "2 errors in test files"]


def test_errors_of_every_test_file_are_reported_and_no_case_runs(flows: Path) -> None:
    good = write_tests(flows, expect_block("status: completed\n"), "good.tests.yaml")
    bad_a = write_tests(flows, "version: 1\nflow: desk\ncases: []\n", "a.tests.yaml")
    bad_b = write_tests(flows, "version: 1\nflow: desk\ncases:\n  - name: x\n    expect: {status: [\n",
                        "b.tests.yaml")
    result = agiflow("test", "--flows", str(flows), str(flows / "tests"))
    assert result.exit_code == 2
    assert result.stdout == ""
    assert [line.split(":")[0] for line in result.stderr.splitlines()[:-1]] == [str(bad_a), str(bad_b)]
    assert result.stderr.splitlines()[-1] == "2 errors in test files"
    assert str(good) not in result.output


def test_invalid_flows_exit_2_before_any_case_runs(flows: Path) -> None:
    tests = write_tests(flows, expect_block("status: completed\n"))
    (flows / "broken.yaml").write_text("version: 1\nname: broken\nstart: a\nsteps:\n  a:\n    hangup:\n    nxt: a\n")
    result = agiflow("test", "--flows", str(flows), str(tests))
    assert result.exit_code == 2
    assert result.stderr.splitlines()[0].startswith(f"{flows / 'broken.yaml'}:7: step 'a': unknown key 'nxt'")
    assert "PASSED" not in result.output


def test_a_folder_without_test_files_exits_2(flows: Path) -> None:
    result = agiflow("test", "--flows", str(flows), str(flows))
    assert result.exit_code == 2
    assert result.stderr == f"{flows}: no test files (*.tests.yaml) found\n"


def test_a_missing_flows_folder_exits_2_naming_it(flows: Path, empty_workdir: Path) -> None:
    tests = write_tests(flows, expect_block("status: completed\n"))
    result = agiflow("test", str(tests))
    assert result.exit_code == 2
    assert result.stderr.startswith("flows: no such flows folder (give one with --flows")


# -- selecting, formats, the configured folder -------------------------------------------------

TWO_CASES = """\
version: 1
flow: desk
cases:
  - name: Sales caller
    dtmf: ["1"]
    expect: {fields: {department: sales}}
  - name: support caller
    dtmf: ["2"]
    expect: {fields: {department: support}}
"""


def test_k_runs_only_the_cases_whose_name_contains_the_pattern_ignoring_case(flows: Path) -> None:
    tests = write_tests(flows, TWO_CASES)
    result = agiflow("test", "--flows", str(flows), str(tests), "-k", "SALES")
    assert result.exit_code == 0
    assert result.stdout == f"{tests}::Sales caller PASSED\n\n1 passed, 1 deselected\n"


def test_k_given_twice_runs_the_cases_matching_either(flows: Path) -> None:
    tests = write_tests(flows, TWO_CASES)
    result = agiflow("test", "--flows", str(flows), str(tests), "-k", "sales", "-k", "support")
    assert result.stdout.endswith("\n2 passed\n")


def test_k_also_matches_the_file_name(flows: Path) -> None:
    write_tests(flows, TWO_CASES, "desk.tests.yaml")
    write_tests(flows, TWO_CASES, "other.tests.yaml")
    result = agiflow("test", "--flows", str(flows), str(flows), "-k", "other.tests")
    assert result.stdout.endswith("\n2 passed, 2 deselected\n")
    assert "desk.tests.yaml::" not in result.stdout


def test_k_matching_no_case_exits_2(flows: Path) -> None:
    tests = write_tests(flows, TWO_CASES)
    result = agiflow("test", "--flows", str(flows), str(tests), "-k", "billing")
    assert result.exit_code == 2
    assert result.stderr == "no case matches -k billing (2 cases found)\n"


def test_verbose_prints_the_path_and_commands_of_each_case(flows: Path) -> None:
    tests = write_tests(flows, expect_block("status: completed\n"))
    result = agiflow("test", "--flows", str(flows), str(tests), "-v")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[:4] == [f"{tests}::caller who presses 1 reaches sales PASSED", f"    path: {SALES_PATH}",
                         "    commands:", "      ANSWER"]
    assert '      EXEC "Queue" "sales"' in lines


def test_json_format_lists_each_case_with_its_mismatches(flows: Path) -> None:
    tests = write_tests(flows, TWO_CASES.replace("department: support}", "department: billing}"))
    result = agiflow("test", "--flows", str(flows), str(tests), "--format", "json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert (report["passed"], report["failed"], report["deselected"]) == (1, 1, 0)
    sales, support = report["cases"]
    assert sales["passed"] and sales["mismatches"] == [] and sales["path"][1] == "menu:1"
    assert support["id"] == f"{tests}::support caller" and support["line"] == 7
    assert support["mismatches"] == [{"file": str(tests), "line": 9, "key": "fields",
                                      "message": 'department: expected "billing", got "support"',
                                      "expected": "billing", "got": "support"}]


def test_without_paths_the_configured_flows_folder_is_searched(flows: Path, empty_workdir: Path) -> None:
    write_tests(flows, TWO_CASES)
    (empty_workdir / "config.yaml").write_text(f"flows: {flows}\n")
    result = agiflow("test")
    assert result.exit_code == 0, result.output
    assert result.stdout.endswith("\n2 passed\n")


LONG_NOTE_FLOW = """\
version: 1
name: note
start: note
steps:
  note:
    set: {variables: {NOTE: "{{ 'x' * LENGTH }}"}}
    next: bye
  bye:
    hangup:
"""


@pytest.mark.parametrize("limit, length, outcome", [(256, 400, "error"), (8191, 3000, "next")])
def test_cases_and_simulate_refuse_a_command_longer_than_the_servers_max_command_line(
        flows: Path, empty_workdir: Path, limit: int, length: int, outcome: str) -> None:
    (flows / "note.yaml").write_text(LONG_NOTE_FLOW.replace("LENGTH", str(length)))
    write_tests(flows, f"version: 1\nflow: note\ncases:\n  - name: the note\n"
                       f"    expect: {{path_includes: ['note:{outcome}']}}\n", "note.tests.yaml")
    (empty_workdir / "config.yaml").write_text(f"flows: {flows}\nserver: {{max_command_line: {limit}}}\n")
    result = agiflow("test")
    assert result.exit_code == 0, result.output
    simulated = agiflow("simulate", "note", "--caller", "600111222", "--format", "json")
    assert simulated.exit_code == 0, simulated.output
    assert [step["outcome"] for step in json.loads(simulated.stdout)["steps"]][0] == outcome


def test_a_case_and_simulate_see_a_failed_call_sent_to_the_configured_fallback(
        flows: Path, empty_workdir: Path) -> None:
    (flows / "note.yaml").write_text(LONG_NOTE_FLOW.replace("LENGTH", "3000"))
    write_tests(flows, "version: 1\nflow: note\ncases:\n  - name: the note\n    expect:\n      status: error\n"
                       "      commands_include: ['SET CONTEXT \"operators\"', 'SET PRIORITY \"start\"']\n",
                "note.tests.yaml")
    (empty_workdir / "config.yaml").write_text(f"flows: {flows}\n"
                                               "server: {fallback: {context: operators, priority: start}}\n")
    result = agiflow("test")
    assert result.exit_code == 0, result.output
    simulated = agiflow("simulate", "note", "--caller", "600111222")
    assert '>> SET CONTEXT "operators"' in simulated.stdout, simulated.output


def test_cases_of_the_configured_folder_are_named_from_the_working_folder_as_the_docs_show(
        empty_workdir: Path) -> None:
    (empty_workdir / "config.yaml").write_text("flows: flows\n")
    (empty_workdir / "flows").mkdir()
    (empty_workdir / "flows" / "desk.yaml").write_text(DESK_FLOW)
    write_tests(empty_workdir / "flows", TWO_CASES)
    result = agiflow("test", "-k", "tests/desk")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("flows/tests/desk.tests.yaml::"), result.stdout


def test_the_test_files_beside_the_flows_are_not_loaded_as_flows(flows: Path) -> None:
    write_tests(flows, TWO_CASES)
    loaded, errors = load_flows([flows])
    assert errors == [] and sorted(loaded.flows) == ["desk"]
    assert agiflow("validate", str(flows)).exit_code == 0


def test_the_shipped_test_cases_pass_against_the_shipped_flows() -> None:
    result = agiflow("test", "-c", str(ROOT / "config.yaml"))
    assert result.exit_code == 0, result.output
    shipped = sorted((ROOT / "flows").rglob("*.tests.yaml"))
    assert {line.split("::")[0] for line in result.stdout.splitlines() if "::" in line} == \
        {str(path) for path in shipped}
    assert "failed" not in result.stdout.splitlines()[-1]


def test_every_shipped_flow_has_a_test_file_named_after_it() -> None:
    """docs/testing.md and the README promise test cases for each shipped flow."""
    flows, errors = load_flows([ROOT / "flows"])
    assert errors == []
    tested = {path.name.removesuffix(".tests.yaml"): yaml.safe_load(path.read_text(encoding="utf-8"))["flow"]
              for path in (ROOT / "flows" / "tests").glob("*.tests.yaml")}
    assert {name: tested.get(name) for name in flows.flows} == {name: name for name in flows.flows}


# -- in-memory services of a case -------------------------------------------------------------------

def test_a_listed_number_matches_however_it_is_written() -> None:
    lists = MemoryLists({"vip": ["+34 600 111 222", "0034911*", "93*"]}, "ES")
    assert lists.match("vip", "600111222") == ListHit("vip", "+34600111222")
    assert lists.match("vip", "+34911000111") == ListHit("vip", "+34911", prefix=True)
    assert lists.match("vip", "0034 932 000 000") == ListHit("vip", "+3493", prefix=True)
    assert lists.match("vip", "+34600999999") is None


def test_an_exact_entry_wins_over_a_prefix_and_the_longest_prefix_over_shorter_ones() -> None:
    lists = MemoryLists({"block": ["+3490*", "+34901*", "+34901000111"]}, "ES")
    assert lists.match("block", "901000111") == ListHit("block", "+34901000111")
    assert lists.match("block", "901000222") == ListHit("block", "+34901", prefix=True)
    assert lists.match("block", "902000222") == ListHit("block", "+3490", prefix=True)


def test_a_list_the_case_does_not_name_or_names_unavailable_cannot_be_read() -> None:
    lists = MemoryLists({"robinson": "unavailable"}, "ES")
    with pytest.raises(ListUnavailable, match="unavailable"):
        lists.match("robinson", "600111222")
    with pytest.raises(ListUnavailable, match="not given"):
        lists.match("vip", "600111222")


def test_an_anonymous_caller_is_not_a_number_to_look_up() -> None:
    with pytest.raises(ValueError):
        MemoryLists({"vip": []}, "ES").match("vip", "anonymous")


def test_an_override_holds_until_its_end() -> None:
    until = datetime(2025, 3, 10, 12, tzinfo=timezone.utc)
    overrides = MemoryOverrides([CaseOverride("office_hours", "closed", until, "strike")])
    assert overrides.active("office_hours", until - timedelta(seconds=1)) == \
        Override("office_hours", "closed", until, "strike")
    assert overrides.active("office_hours", until) is None
    assert overrides.active("support_hours", until - timedelta(hours=1)) is None


def test_an_override_without_an_end_is_in_force_for_the_call() -> None:
    at = datetime(2025, 3, 10, 12, tzinfo=timezone.utc)
    active = MemoryOverrides([CaseOverride("office_hours", "open")]).active("office_hours", at)
    assert active == Override("office_hours", "open", at + timedelta(days=1))


def test_random_draws_follow_the_case_then_repeat_the_last() -> None:
    chance = fixed_chance([0.1, 0.9])
    assert [chance(), chance(), chance()] == [0.1, 0.9, 0.9]


def test_webhooks_are_recorded_and_answered_with_the_cases_status() -> None:
    hooks = CaseWebhooks(503)
    result = run_sync(hooks.post("https://crm.example/calls", {"caller": "+34600111222"}, 2.0, {}))
    assert (result.ok, result.status) == (False, 503)
    [post] = hooks.posts
    assert (post["url"], post["payload"], post["wait"]) == ("https://crm.example/calls", {"caller": "+34600111222"}, True)
    answers: list[WebhookResult] = []
    CaseWebhooks("timeout").post_in_background("https://crm.example/calls", {}, 2.0, {}, answers.append)
    assert answers == [WebhookResult(ok=False, error="no answer within 2 s")]
    assert not run_sync(CaseWebhooks(200).post("ftp://crm.example", {}, 2.0, {})).ok


# -- services through real steps: schedules, overrides, lists ----------------------------------------

SCHEDULES = """\
version: 1
schedules:
  office_hours:
    timezone: Europe/Madrid
    hours: {mon-fri: "09:00-18:00"}
"""

FRONT_FLOW = """\
version: 1
name: front
timezone: Europe/Madrid
start: hours
steps:
  hours:
    schedule: office_hours
    on: {open: vip, closed: closed, holiday: closed}
  vip:
    lookup: {list: vip}
    on: {found: vip_priority, missing: answer, anonymous: answer, error: answer}
  vip_priority:
    set: {variables: {QUEUE_PRIO: 10}}
    next: answer
  answer:
    answer:
    next: bye
  closed:
    hangup: {cause: 21}
  bye:
    hangup:
"""

OUTBOUND_FLOW = """\
version: 1
name: outbound
start: dnc
steps:
  dnc:
    robinson: {list: robinson}
    on: {clear: dial, listed: bye}
  dial:
    exec: {app: Dial, args: ["PJSIP/{{ call.called }}@trunk", 30]}
    next: bye
  bye:
    hangup:
"""

FRONT_CASES = """\
version: 1
flow: front
defaults:
  caller: "+34600111222"
  at: 2025-03-10T10:00:00
  lists: {vip: ["600 111 222"]}
cases:
  - name: a VIP caller in office hours is given queue priority
    expect:
      path_includes: [hours:open, vip:found, vip_priority]
      variables: {QUEUE_PRIO: "10"}
  - name: a caller not in the VIP list keeps the default priority
    lists: {vip: ["+34911*"]}
    expect: {path_includes: [vip:missing], variables: {QUEUE_PRIO: null}}
  - name: a caller whose number starts with a VIP prefix is given priority
    caller: "911000111"
    lists: {vip: ["+34911*"]}
    expect: {path_includes: [vip:found]}
  - name: without the VIP list the lookup fails and the call goes on
    lists: {}
    expect: {path_includes: [vip:error, answer]}
  - name: a caller at night is told the office is closed
    at: 2025-03-10T20:00:00
    expect: {path: [hours:closed, closed:done], commands_include: ['EXEC "Hangup" "21"']}
  - name: an override closes the office in its hours
    overrides: {office_hours: closed}
    expect: {path: [hours:closed, closed:done]}
  - name: an override that ended before the call changes nothing
    overrides: {office_hours: {state: closed, until: 2025-03-10T09:00:00, reason: drill}}
    expect: {path_includes: [hours:open]}
  - name: an override opens the office at night
    at: 2025-03-10T23:00:00
    overrides: {office_hours: {state: open, until: 2025-03-11T00:00:00+01:00}}
    expect: {path_includes: [hours:open, vip:found]}
"""

OUTBOUND_CASES = """\
version: 1
flow: outbound
defaults: {caller: "+34911000000", called: "600111222"}
cases:
  - name: a number in no do-not-call list is dialled
    lists: {robinson: ["+34900*"]}
    expect: {path_includes: [dnc:clear, dial], cdr: {robinson: clear},
             commands_include: ['EXEC "Dial" "PJSIP/600111222@trunk,30"']}
  - name: a number in the do-not-call list by prefix is never dialled
    lists: {robinson: ["+34600*"]}
    expect: {path: [dnc:listed, bye:done], cdr: {robinson: listed, robinson_list: robinson},
             commands_exclude: ['EXEC "Dial"']}
  - name: an unreadable do-not-call list fails closed
    lists: {robinson: unavailable}
    expect: {path: [dnc:error], status: error, cdr: {robinson: error}, commands_exclude: ['EXEC "Dial"']}
"""


@pytest.fixture
def service_flows(tmp_path: Path) -> Path:
    folder = tmp_path / "service-flows"
    folder.mkdir()
    (folder / "schedules.yaml").write_text(SCHEDULES)
    (folder / "front.yaml").write_text(FRONT_FLOW)
    (folder / "outbound.yaml").write_text(OUTBOUND_FLOW)
    write_tests(folder, FRONT_CASES, "front.tests.yaml")
    write_tests(folder, OUTBOUND_CASES, "outbound.tests.yaml")
    return folder


def test_lists_and_schedule_overrides_of_each_case_reach_the_steps(service_flows: Path) -> None:
    result = agiflow("test", "--flows", str(service_flows), str(service_flows))
    assert result.exit_code == 0, result.output
    assert result.stdout.endswith("\n11 passed\n")


def test_a_wrong_expectation_on_a_list_step_fails(service_flows: Path) -> None:
    cases = service_flows / "tests" / "outbound.tests.yaml"
    cases.write_text(cases.read_text().replace("robinson: listed, robinson_list", "robinson: clear, robinson_list"))
    result = agiflow("test", "--flows", str(service_flows), str(cases), "-k", "prefix")
    assert result.exit_code == 1
    line = line_of(cases, "robinson: clear, robinson_list")
    assert f'    {cases}:{line}: cdr: robinson: expected "clear", got "listed"' in result.stdout.splitlines()


def test_a_path_mismatch_says_why_a_failed_call_ended(service_flows: Path) -> None:
    cases = service_flows / "tests" / "outbound.tests.yaml"
    cases.write_text(cases.read_text().replace("expect: {path: [dnc:error], status: error",
                                               "expect: {path: [dnc:error, bye:done], status: error"))
    result = agiflow("test", "--flows", str(service_flows), str(cases), "-k", "unreadable")
    assert result.exit_code == 1
    assert "       got: dnc:error (the call ended with error: " in result.stdout


@pytest.mark.parametrize("inputs, marker, message", [
    ("overrides: {office_hour: closed}", "office_hour", "overrides: no schedule named 'office_hour' among the "
     "loaded schedules (did you mean 'office_hours'?); known: office_hours"),
    ("lists: {vipp: [\"+34600111222\"]}", "vipp", "lists: no step of the loaded flows reads list 'vipp' "
     "(did you mean 'vip'?); lists read: robinson, vip"),
])
def test_a_list_or_schedule_override_the_flows_never_read_is_an_error_of_the_test_file(
        service_flows: Path, inputs: str, marker: str, message: str) -> None:
    cases = service_flows / "tests" / "front.tests.yaml"
    cases.write_text(cases.read_text().replace("    overrides: {office_hours: closed}\n", f"    {inputs}\n"))
    result = agiflow("test", "--flows", str(service_flows), str(cases))
    assert result.exit_code == 2, result.output
    assert result.stderr.splitlines() == [
        f"{cases}:{line_of(cases, marker)}: case 'an override closes the office in its hours': {message}",
        "1 error in test files"]


def test_a_list_in_defaults_the_flows_never_read_is_an_error_at_its_line(service_flows: Path) -> None:
    cases = service_flows / "tests" / "front.tests.yaml"
    cases.write_text(cases.read_text().replace('lists: {vip: ["600 111 222"]}', 'lists: {vip: ["600 111 222"], dnc: []}'))
    result = agiflow("test", "--flows", str(service_flows), str(cases))
    assert result.exit_code == 2, result.output
    assert result.stderr.splitlines() == [
        f"{cases}:{line_of(cases, 'dnc: []')}: defaults: lists: no step of the loaded flows reads list 'dnc'; "
        "lists read: robinson, vip", "1 error in test files"]


def test_an_error_in_defaults_is_reported_once_not_once_per_case(flows: Path) -> None:
    tests = write_tests(flows, TWO_CASES.replace("cases:\n", "defaults: {at: next monday}\ncases:\n"))
    result = agiflow("test", "--flows", str(flows), str(tests))
    assert result.exit_code == 2, result.output
    assert result.stderr.splitlines() == [
        f"{tests}:{line_of(tests, 'next monday')}: defaults: at: 'next monday' is not a date and time such as "
        "2025-03-10T09:30:00+01:00", "1 error in test files"]


QUEUE_FLOW = """\
version: 1
name: line
start: queue
steps:
  queue:
    queue: {name: support, timeout: 300}
    on: {answered: bye, timeout: voicemail}
  voicemail:
    exec: {app: VoiceMail, args: [100@default, u]}
    next: record
  record:
    exec: {app: SendText, args: [goodbye]}
    next: bye
  bye:
    hangup:
"""


def test_queue_wait_talk_time_and_app_results_reach_the_simulated_asterisk(tmp_path: Path) -> None:
    folder = tmp_path / "queue-flows"
    folder.mkdir()
    (folder / "line.yaml").write_text(QUEUE_FLOW)
    tests = write_tests(folder, """\
        version: 1
        flow: line
        defaults: {caller: "+34600111222", at: 2025-03-10T10:00:00}
        cases:
          - name: an answered caller waited and talked
            queue_statuses: [ANSWERED]
            queue_wait: 40
            talk_time: 120
            expect:
              path: [queue:answered, bye:done]
              cdr: {queue_status: ANSWERED, queue_wait: 40, talk_time: 120, duration: 160}
          - name: a caller nobody answers leaves a voicemail, then an application is missing
            queue_wait: 300
            vm_statuses: [FAILED]
            app_results: {sendtext: -2}
            expect:
              path: [queue:timeout, voicemail:next, record:error]
              variables: {VMSTATUS: FAILED}
              status: error
        """, "line.tests.yaml")
    result = agiflow("test", "--flows", str(folder), str(tests))
    assert result.exit_code == 0, result.output


MISSED_FLOW = """\
version: 1
name: missed
start: ab
steps:
  ab:
    split: {new_menu: 20, old_menu: 80}
    on: {new_menu: notify, old_menu: notify}
  notify:
    webhook: {url: "https://crm.example/calls", data: {event: missed_call}}
    on: {ok: answer, failed: answer}
  answer:
    answer:
    next: offer
  offer:
    callback: {confirm: cb-confirm, enter: cb-enter, reason: busy line}
    on: {requested: bye, declined: bye, invalid: bye}
  bye:
    hangup:
"""

MISSED_CASES = """\
version: 1
flow: missed
defaults: {caller: "+34600111222", at: 2025-03-10T10:00:00}
cases:
  - name: a low draw takes the 20 % branch
    random: 0.1
    expect: {path_includes: [ab:new_menu]}
  - name: a high draw takes the 80 % branch
    random: 0.5
    expect: {path_includes: [ab:old_menu]}
  - name: the CRM hears of the call and the caller's number is kept for a callback
    dtmf: ["1"]
    expect:
      path_includes: [notify:ok, offer:requested]
      webhooks: [{url: "https://crm.example/calls", wait: true,
                  payload: {flow: missed, call: {caller: "+34600111222"}, data: {event: missed_call}}}]
      callbacks: [{number: "+34600111222", reason: busy line, flow: missed}]
  - name: a CRM that is down does not stop the call
    webhook_response: 503
    dtmf: ["2"]
    expect: {path_includes: [notify:failed, answer, offer:declined], callbacks: []}
  - name: a CRM that does not answer does not stop the call
    webhook_response: timeout
    expect: {path_includes: [notify:failed, answer]}
"""


def test_random_draws_webhooks_and_callback_requests_of_each_case(tmp_path: Path) -> None:
    folder = tmp_path / "missed-flows"
    folder.mkdir()
    (folder / "missed.yaml").write_text(MISSED_FLOW)
    tests = write_tests(folder, MISSED_CASES, "missed.tests.yaml")
    result = agiflow("test", "--flows", str(folder), str(tests))
    assert result.exit_code == 0, result.output
    assert result.stdout.endswith("\n5 passed\n")


def test_a_missing_callback_request_and_a_wrong_webhook_payload_are_reported(tmp_path: Path) -> None:
    folder = tmp_path / "missed-flows"
    folder.mkdir()
    (folder / "missed.yaml").write_text(MISSED_FLOW)
    tests = write_tests(folder, MISSED_CASES.replace('dtmf: ["1"]', 'dtmf: ["2"]')
                        .replace("event: missed_call}}}]", "event: repeat_caller}}}]"), "missed.tests.yaml")
    result = agiflow("test", "--flows", str(folder), str(tests), "-k", "CRM hears")
    assert result.exit_code == 1
    mismatches = [line.strip() for line in result.stdout.splitlines() if line.startswith("    ")]
    assert mismatches[0].startswith(f"{tests}:{line_of(tests, 'path_includes: [notify:ok')}: path_includes: "
                                    "offer:requested does not come after notify:ok")
    assert mismatches[1] == (f"{tests}:{line_of(tests, 'webhooks:')}: webhooks: webhook post 1: "
                             'payload.data.event: expected "repeat_caller", got "missed_call"')
    assert mismatches[2] == f"{tests}:{line_of(tests, 'callbacks: [{number')}: callbacks: expected 1 callback request(s), got 0"


def test_webhook_header_names_compare_in_any_case_as_http_reads_them(tmp_path: Path) -> None:
    folder = tmp_path / "missed-flows"
    folder.mkdir()
    (folder / "missed.yaml").write_text(MISSED_FLOW.replace(
        "data: {event: missed_call}}", "data: {event: missed_call}, headers: {authorization: Bearer abc}}"))
    tests = write_tests(folder, MISSED_CASES.replace(
        "wait: true,", "wait: true, headers: {Authorization: Bearer abc, content-type: application/json},"),
        "missed.tests.yaml")
    result = agiflow("test", "--flows", str(folder), str(tests), "-k", "CRM hears")
    assert result.exit_code == 0, result.output
    tests.write_text(tests.read_text().replace("Authorization: Bearer abc", "AUTHORIZATION: Bearer xyz"))
    result = agiflow("test", "--flows", str(folder), str(tests), "-k", "CRM hears")
    assert result.exit_code == 1
    assert f"{tests}:{line_of(tests, 'webhooks:')}: webhooks: webhook post 1: headers.AUTHORIZATION: " \
           'expected "Bearer xyz", got "Bearer abc"' in result.stdout


def test_reaching_an_agent_closes_only_a_pending_callback_request(tmp_path: Path) -> None:
    (tmp_path / "flows" / "tests").mkdir(parents=True)
    (tmp_path / "flows" / "agent.yaml").write_text(
        "version: 1\nname: agent\nstart: agent\nsteps:\n  agent:\n    dial: {destination: PJSIP/201, timeout: 15}\n")
    tests = write_tests(tmp_path / "flows", """\
        version: 1
        flow: agent
        defaults: {caller: "600111222"}
        cases:
          - name: a caller with a pending request has it closed
            pending_callbacks: ["+34600111222"]
            expect: {callbacks_closed: ["+34600111222"]}
          - name: a caller without one closes none
            expect: {callbacks_closed: []}
        """, "agent.tests.yaml")
    result = agiflow("test", "--flows", str(tmp_path / "flows"), str(tests))
    assert result.exit_code == 0, result.output


def test_a_test_file_that_is_a_broken_link_is_reported_not_left_out(tmp_path: Path) -> None:
    """Once left out without a word: its cases were not run and the run passed."""
    from agi.engine.model import FlowSet
    from agi.flowtest.loader import find_case_files, load_case_files

    (tmp_path / "gone.tests.yaml").symlink_to(tmp_path / "removed.tests.yaml")
    (tmp_path / "loop.tests.yaml").symlink_to("loop.tests.yaml")
    _, errors = load_case_files(find_case_files([tmp_path]), FlowSet(), "ES")
    assert [(Path(error.file).name, error.message.split(":")[0]) for error in errors] == [
        ("gone.tests.yaml", "cannot read test file"), ("loop.tests.yaml", "cannot read test file")]


def test_a_test_file_that_cannot_be_read_is_named_once_with_the_reason(tmp_path: Path) -> None:
    """Once `gone.tests.yaml:1: cannot read test file: [Errno 2] No such file
    or directory: 'gone.tests.yaml'`: the name twice, and Python's errno."""
    from agi.engine.model import FlowSet
    from agi.flowtest.loader import load_case_files

    (tmp_path / "folder.tests.yaml").mkdir()
    _, errors = load_case_files([tmp_path / "gone.tests.yaml", tmp_path / "folder.tests.yaml"], FlowSet(), "ES")
    assert [(Path(error.file).name, error.message) for error in errors] == [
        ("folder.tests.yaml", "cannot read test file: Is a directory"),
        ("gone.tests.yaml", "cannot read test file: No such file or directory")]


def test_a_flow_file_given_with_flows_runs_with_the_schedules_beside_it(tmp_path: Path) -> None:
    """``--flows flows/after_hours.yaml`` once loaded that file alone and
    stopped at its schedule step (unknown schedule 'office_hours'), where
    ``simulate flows/after_hours.yaml`` runs it."""
    import shutil
    repo = Path(__file__).resolve().parents[2]
    folder = tmp_path / "flows"
    shutil.copytree(repo / "flows", folder)
    result = agiflow("test", "--flows", str(folder / "after_hours.yaml"),
                     str(folder / "tests" / "after_hours.tests.yaml"))
    assert result.exit_code == 0, result.output
    assert result.stdout.rstrip().endswith("passed") and "failed" not in result.stdout


def test_app_results_answer_for_an_application_the_simulator_does_not_model(tmp_path: Path) -> None:
    """testing.md: app_results are what applications answer instead of
    running, so a result given for one the simulator has no model of
    (SayAlpha, Originate...) is its answer, not 'no such application'."""
    folder = tmp_path / "flows"
    folder.mkdir()
    (folder / "spell.yaml").write_text("""\
version: 1
name: spell
start: spell
steps:
  spell:
    exec: {app: SayAlpha, args: [abc]}
    on: {next: bye, error: bye}
  bye:
    hangup:
""")
    tests = write_tests(folder, """\
        version: 1
        flow: spell
        cases:
          - name: the application answers the result given
            app_results: {sayalpha: 0}
            expect: {path: [spell:next, bye:done], commands_include: ['EXEC "SayAlpha" "abc"']}
          - name: without one the simulator has no such application
            expect: {path: [spell:error, bye:done]}
        """, "spell.tests.yaml")
    result = agiflow("test", "--flows", str(folder), str(tests))
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("name, kind", [("desk.yaml", "a flow"), ("schedules.yaml", "a schedules file")])
def test_a_flow_or_schedules_file_given_as_a_test_file_is_one_line_saying_so(flows: Path, name: str,
                                                                              kind: str) -> None:
    """``agiflow test flows/desk.yaml`` (the flow, not its tests) printed a
    line for every key of the flow: 'cases' is required, 'flow' is required,
    unknown key 'name', 'start', 'steps'..."""
    if name == "schedules.yaml":
        (flows / name).write_text("version: 1\nschedules:\n  day:\n    timezone: UTC\n    hours: {daily: 09:00-17:00}\n")
    result = agiflow("test", "--flows", str(flows), str(flows / name))
    assert result.exit_code == 2, result.output
    assert result.stderr.splitlines() == [
        f"{flows / name}:1: {kind}, not a test file: a test file holds version, flow and cases, and is named "
        "NAME.tests.yaml (docs/testing.md)", "1 error in test files"]


def test_a_passing_run_writes_nothing_on_stderr_and_verbose_shows_the_calls_log_lines() -> None:
    """The simulated calls' warnings (a list a case makes unavailable) went
    to stderr through Python's last-resort handler, bare and tied to no case,
    in every run: ``[1741600800.1 campaign] robinson check failed (blocked):
    list 'robinson' is unavailable in this test case`` under a run that passed."""
    args = ["test", "--flows", str(ROOT / "flows"), str(ROOT / "flows" / "tests" / "campaign.tests.yaml")]
    quiet = agiflow(*args)
    assert quiet.exit_code == 0 and quiet.stderr == "", quiet.stderr
    verbose = agiflow(*args, "-v")
    assert verbose.exit_code == 0 and "robinson check failed" in verbose.stderr, verbose.stderr
