"""What happens to a call at a ``robinson`` step.

Each test loads a small flow through the real loader and runs it with
``agi.simulate.simulate`` against the simulated Asterisk, with lists in a
real SQLite file. The tests pin the fail-closed rule: whenever a number
cannot be checked (missing list, unreadable or corrupt database, no lists
at all, a number that is not one) nothing is dialled.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from agi.simulate import SimulationResult
from support.number_lists import run, services
from support.step_runner import commands, details, flow_errors, path

DIAL = 'EXEC "Dial" "PJSIP/{}@trunk"'


def dialled(result: SimulationResult) -> bool:
    return any(c.startswith('EXEC "Dial"') for c in commands(result))


# -- robinson ---------------------------------------------------------------------

OUTBOUND = """\
version: 1
name: outbound
start: check
steps:
  check:
    robinson: {{list: {lists}{options}}}
    on: {{clear: dial, listed: listed_msg{on}}}
  dial:
    exec: {{app: Dial, options: "PJSIP/{{{{ call.called }}}}@trunk"}}
  listed_msg:
    play: number-not-allowed
{extra}"""


def outbound(lists: str = "robinson", options: str = "", on: str = "", extra: str = "") -> str:
    return OUTBOUND.format(lists=lists, options=options, on=on, extra=extra)


def test_a_clear_number_is_dialled_and_the_cdr_says_clear(tmp_path: Path, lists_db: Path) -> None:
    result = run(tmp_path, outbound(), lists=services(lists_db), called="612345678")
    assert path(result) == ["check:clear", "dial:next"]
    assert commands(result)[:2] == ['SET VARIABLE "ROBINSON" "clear"', DIAL.format("612345678")]
    assert (result.call["robinson"], result.call["robinson_list"], result.call["dialled"]) == \
        ("clear", None, "+34612345678")


def test_a_listed_number_is_never_dialled_and_the_cdr_names_the_list(tmp_path: Path, lists_db: Path) -> None:
    result = run(tmp_path, outbound(), lists=services(lists_db), called="0034 600 111 222")
    assert path(result) == ["check:listed", "listed_msg:next"]
    assert not dialled(result)
    assert (result.call["robinson"], result.call["robinson_list"], result.call["dialled"]) == \
        ("listed", "robinson", "+34600111222")
    assert details(result, "check") == {"number": "+34600111222", "lists": ["robinson"], "result": "listed",
                                         "list": "robinson", "entry": "+34600111222",
                                         "entry_note": "asked 2025-01-03"}
    assert result.variables["ROBINSON"] == "listed"


def test_a_number_under_a_listed_prefix_is_not_dialled(tmp_path: Path, lists_db: Path) -> None:
    result = run(tmp_path, outbound(), lists=services(lists_db), called="902123456")
    assert path(result) == ["check:listed", "listed_msg:next"]
    assert details(result, "check")["entry"] == "+3490*"


def test_every_list_is_checked_in_order(tmp_path: Path, lists_db: Path) -> None:
    result = run(tmp_path, outbound("[robinson, internal]"), lists=services(lists_db), called="611000000")
    assert path(result) == ["check:listed", "listed_msg:next"]
    assert result.call["robinson_list"] == "internal"


def test_the_number_to_check_can_come_from_a_variable(tmp_path: Path, lists_db: Path) -> None:
    result = run(tmp_path, """\
        version: 1
        name: campaign
        start: pick
        steps:
          pick:
            set: {variables: {TARGET: "600111222"}}
            next: check
          check:
            robinson: {list: robinson, number: "{{ vars.TARGET }}", variable: DNC}
            on: {clear: dial}
          dial:
            exec: {app: Dial, options: "PJSIP/{{ vars.TARGET }}@trunk"}
        """, lists=services(lists_db), called="612345678")
    assert path(result) == ["pick:next", "check:listed"]
    assert not dialled(result)
    assert result.variables["DNC"] == "listed"


# -- robinson fails closed ------------------------------------------------------------

def assert_blocked_by_error(result: SimulationResult, message: str) -> None:
    assert path(result)[0] == "check:error"
    assert not dialled(result)
    assert result.call["robinson"] == "error"
    assert result.call["status"] == "error"
    assert message in details(result, "check")["error"]


def test_a_missing_list_fails_closed(tmp_path: Path, lists_db: Path) -> None:
    result = run(tmp_path, outbound("robinsn"), lists=services(lists_db), called="612345678")
    assert_blocked_by_error(result, "no number list named 'robinsn'")
    assert result.call["robinson_list"] == "robinsn"
    assert path(result) == ["check:error"]  # no target for error: the call ends there


def test_one_missing_list_among_several_fails_closed_when_the_others_are_clear(tmp_path: Path, lists_db: Path) -> None:
    result = run(tmp_path, outbound("[robinson, gone]"), lists=services(lists_db), called="612345678")
    assert_blocked_by_error(result, "'gone'")
    assert result.call["robinson_list"] == "gone"


def test_a_missing_list_still_reports_a_hit_in_another_list(tmp_path: Path, lists_db: Path) -> None:
    result = run(tmp_path, outbound("[gone, robinson]"), lists=services(lists_db), called="600111222")
    assert path(result) == ["check:listed", "listed_msg:next"]


@pytest.mark.sqlite_only
def test_a_corrupt_database_fails_closed(tmp_path: Path, lists_db: Path) -> None:
    lists_db.write_bytes(b"garbage" * 1000)
    result = run(tmp_path, outbound(), lists=services(lists_db), called="612345678")
    assert_blocked_by_error(result, "cannot read number list 'robinson'")


@pytest.mark.sqlite_only
def test_a_database_that_cannot_be_opened_fails_closed(tmp_path: Path, lists_db: Path) -> None:
    lists_db.unlink()
    lists_db.mkdir()  # a folder where the database should be
    result = run(tmp_path, outbound(), lists=services(lists_db), called="612345678")
    assert_blocked_by_error(result, "cannot read number list")


def test_no_lists_at_all_fails_closed(tmp_path: Path) -> None:
    result = run(tmp_path, outbound(), lists=services(None), called="612345678")
    assert_blocked_by_error(result, "number lists are not available")


@pytest.mark.parametrize("called", ["", "abc", "12"])
def test_a_number_that_cannot_be_parsed_fails_closed(tmp_path: Path, lists_db: Path, called: str) -> None:
    result = run(tmp_path, outbound(), lists=services(lists_db), called=called)
    assert_blocked_by_error(result, "phone number")


def test_an_error_routed_to_a_message_still_never_dials(tmp_path: Path) -> None:
    result = run(tmp_path, outbound(on=", error: sorry", extra="  sorry:\n    play: cannot-place-call\n"),
                 lists=services(None), called="612345678")
    assert path(result) == ["check:error", "sorry:next"]
    assert not dialled(result)


def test_on_error_allow_dials_and_the_cdr_says_unchecked(tmp_path: Path) -> None:
    result = run(tmp_path, outbound(options=", on_error: allow"), lists=services(None), called="612345678")
    assert path(result) == ["check:clear", "dial:next"]
    assert dialled(result)
    assert result.call["robinson"] == "unchecked"
    assert details(result, "check")["result"] == "unchecked"


@pytest.mark.parametrize("options", ["", ", on_error: allow"])
def test_a_number_template_that_fails_is_a_failed_check_in_the_cdr_and_never_dials(
        tmp_path: Path, lists_db: Path, options: str) -> None:
    """No number to check: the check fails closed whatever on_error says, and
    says so in the CDR and the variable. The CDR's robinson stayed empty (the
    compliance report did not count the failed check) and ROBINSON unset."""
    flow = outbound(options=f', number: "{{{{ args[0] }}}}"{options}', on=", error: sorry",
                    extra="  sorry:\n    play: cannot-place-call\n")
    result = run(tmp_path, flow, lists=services(lists_db), called="612345678")
    assert path(result) == ["check:error", "sorry:next"]
    assert not dialled(result)
    assert (result.call["robinson"], result.call.get("dialled")) == ("error", None)
    assert 'SET VARIABLE "ROBINSON" "error"' in commands(result)
    assert details(result, "check")["result"] == "error" and "cannot render" in details(result, "check")["error"]


def test_on_error_allow_never_lets_a_listed_number_through(tmp_path: Path, lists_db: Path) -> None:
    result = run(tmp_path, outbound(options=", on_error: allow"), lists=services(lists_db), called="600111222")
    assert path(result) == ["check:listed", "listed_msg:next"]


def test_the_validator_refuses_a_flow_where_error_leads_to_a_dial(tmp_path: Path) -> None:
    errors = flow_errors(tmp_path, outbound(on=", error: dial"))
    assert errors == ["step 'check': outcome 'error' leads to step 'dial', which dials; a robinson step "
                      "must never lead to a dial when the number is listed or cannot be checked"]


def test_the_validator_follows_the_path_from_listed_to_a_later_dial(tmp_path: Path) -> None:
    flow = outbound().replace("    play: number-not-allowed\n", "    play: number-not-allowed\n    next: dial\n")
    errors = flow_errors(tmp_path, flow)
    assert errors and "outcome 'listed' leads to step 'dial', which dials" in errors[0]


def test_the_validator_accepts_error_and_listed_that_never_reach_a_dial(tmp_path: Path) -> None:
    assert flow_errors(tmp_path, outbound(on=", error: listed_msg")) == []


def test_the_validator_refuses_a_dial_step_after_a_failed_check(tmp_path: Path) -> None:
    errors = flow_errors(tmp_path, """\
        version: 1
        name: outbound
        start: check
        steps:
          check:
            robinson: {list: robinson}
            on: {clear: call, listed: call, error: call}
          call:
            dial: {destination: "PJSIP/{{ call.called }}@trunk", timeout: 30}
        """)
    assert [e.split(";")[0] for e in errors] == [
        "step 'check': outcome 'error' leads to step 'call', which dials",
        "step 'check': outcome 'listed' leads to step 'call', which dials"]
