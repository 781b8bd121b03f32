"""What happens to a call at a ``lookup`` step: VIP routing and blocklists.

Each test loads a small flow through the real loader and runs it with
``agi.simulate.simulate`` against the simulated Asterisk, with lists in a
real SQLite file.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from support.number_lists import run, services
from support.step_runner import commands, details, flow_errors, path


# -- lookup ---------------------------------------------------------------------------

VIP = """\
version: 1
name: inbound
start: vip
steps:
  vip:
    lookup: {{list: {lists}{options}}}
    on: {{found: priority, missing: normal{on}}}
  priority:
    set: {{variables: {{QUEUE_PRIO: 10, VIP_NOTE: "{{{{ vars.LOOKUP_NOTE }}}}"}}}}
  normal:
    play: welcome
{extra}"""


def vip(lists: str = "vip", options: str = "", on: str = ", anonymous: normal", extra: str = "") -> str:
    return VIP.format(lists=lists, options=options, on=on, extra=extra)


def test_a_vip_caller_is_found_and_the_entry_note_is_a_variable(tmp_path: Path, lists_db: Path) -> None:
    result = run(tmp_path, vip(), lists=services(lists_db), caller="+34600999888")
    assert path(result) == ["vip:found", "priority:next"]
    assert result.variables["QUEUE_PRIO"] == "10"
    assert result.variables["VIP_NOTE"] == "Ana (gold)"
    assert details(result, "vip") == {"number": "+34600999888", "lists": ["vip"], "list": "vip",
                                      "entry": "+34600999888", "entry_note": "Ana (gold)"}
    assert result.call.get("blocked") is None


def test_a_caller_not_in_the_list_is_missing(tmp_path: Path, lists_db: Path) -> None:
    result = run(tmp_path, vip(), lists=services(lists_db), caller="600000001")
    assert path(result) == ["vip:missing", "normal:next"]


@pytest.mark.parametrize("caller", ["", "anonymous", "Anonymous", "restricted", "PRIVATE", "withheld",
                                    "sip:anonymous@anonymous.invalid"])
def test_a_withheld_caller_id_is_anonymous(tmp_path: Path, lists_db: Path, caller: str) -> None:
    result = run(tmp_path, vip(), lists=services(lists_db), caller=caller)
    assert path(result) == ["vip:anonymous", "normal:next"]


def test_anonymous_missing_sends_withheld_callers_the_missing_way(tmp_path: Path, lists_db: Path) -> None:
    result = run(tmp_path, vip(options=", anonymous: missing", on=""), lists=services(lists_db), caller="anonymous")
    assert path(result) == ["vip:missing", "normal:next"]


def test_anonymous_is_not_an_outcome_when_withheld_callers_go_another_way(tmp_path: Path) -> None:
    errors = flow_errors(tmp_path, vip(options=", anonymous: missing"))
    assert errors and "unknown outcome 'anonymous'" in errors[0]


def test_a_caller_id_that_is_not_a_phone_number_is_missing(tmp_path: Path, lists_db: Path) -> None:
    result = run(tmp_path, vip(), lists=services(lists_db), caller="100")
    assert path(result) == ["vip:missing", "normal:next"]
    assert "invalid_number" in details(result, "vip")


@pytest.mark.parametrize("lists", ["vipp", "[vip, gone]"])
def test_a_list_that_cannot_be_read_is_an_error(tmp_path: Path, lists_db: Path, lists: str) -> None:
    result = run(tmp_path, vip(lists=lists), lists=services(lists_db), caller="600000001")
    assert path(result) == ["vip:error"]


def test_no_lists_at_all_is_an_error(tmp_path: Path) -> None:
    result = run(tmp_path, vip(), lists=services(None), caller="600000001")
    assert path(result) == ["vip:error"]


BLOCKLIST = """\
version: 1
name: blocklist
start: screen
steps:
  screen:
    lookup: {list: [block, robinson], block: true}
    on: {found: reject, anonymous: reject, missing: welcome}
  reject:
    hangup: {cause: 21}
  welcome:
    play: welcome
"""


def test_a_blocked_caller_takes_the_reject_branch_and_the_cdr_names_the_list(tmp_path: Path, lists_db: Path) -> None:
    result = run(tmp_path, BLOCKLIST, lists=services(lists_db), caller="622000000")
    assert [p.split(":")[0] for p in path(result)] == ["screen", "reject"]
    assert path(result)[0] == "screen:found"
    assert commands(result)[0] == 'EXEC "Hangup" "21"'
    assert result.call["blocked"] == "block"


def test_an_anonymous_caller_is_blocked_as_anonymous(tmp_path: Path, lists_db: Path) -> None:
    result = run(tmp_path, BLOCKLIST, lists=services(lists_db), caller="")
    assert path(result)[0] == "screen:anonymous"
    assert result.call["blocked"] == "anonymous"


def test_a_caller_in_no_list_is_not_blocked(tmp_path: Path, lists_db: Path) -> None:
    result = run(tmp_path, BLOCKLIST, lists=services(lists_db), caller="600000001")
    assert path(result) == ["screen:missing", "welcome:next"]
    assert result.call.get("blocked") is None
