"""The ``branch`` step: the first condition that holds picks the next step.

Each test writes a small flow, loads it through the real loader and runs
it with ``agi.simulate.simulate`` against the simulated Asterisk 22.
Assertions are on what Asterisk receives (the exact command lines), on the
path the call takes, and on the CDR rows and variables that come out of it.
"""
from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path

import pytest

from support.step_runner import STATUS, commands, details, path, run


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
