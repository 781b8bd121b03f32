"""What happens to a call at ``robinson`` and ``lookup`` steps.

Each test loads a small flow through the real loader and runs it with
``agi.simulate.simulate`` against the simulated Asterisk, with lists in a
real SQLite file. The do-not-call tests pin the fail-closed rule: whenever
a number cannot be checked (missing list, unreadable or corrupt database,
no lists at all, a number that is not one) nothing is dialled.
"""
from __future__ import annotations

import io
import json
import textwrap
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from agi.loading.loader import load_flows  # noqa: I001  (before agi.simulate: import order)
from agi.lists.admin import ListAdmin
from agi.lists.csvio import ReadReport, read_entries
from agi.lists.numbers import Normaliser
from agi.lists.store import SqliteNumberLists
from agi.services import Services
from agi.simulate import SimulationResult, simulate

AT = datetime(2025, 3, 10, 8, 30, tzinfo=timezone.utc)
DIAL = 'EXEC "Dial" "PJSIP/{}@trunk"'


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """robinson: one number and the 90x prefix; internal: one number;
    vip: Ana with a note; block: one number."""
    path = tmp_path / "agiflow.db"
    with ListAdmin(path) as admin:
        for name, text in {"robinson": "+34600111222,asked 2025-01-03\n+3490*,premium rate\n",
                           "internal": "611000000,complained\n",
                           "vip": "+34600999888,Ana (gold)\n",
                           "block": "622000000,abusive\n"}.items():
            admin.import_entries(name, read_entries(io.StringIO(text), Normaliser("ES"), ReadReport()))
    return path


def services(db: Path | None) -> Services:
    return Services(lists=SqliteNumberLists(db, "ES") if db else None, default_region="ES")


def run(tmp_path: Path, flow: str, *, lists: Services, caller: str = "600000001",
        called: str = "") -> SimulationResult:
    folder = tmp_path / "flows"
    folder.mkdir(exist_ok=True)
    (folder / "flow.yaml").write_text(textwrap.dedent(flow))
    flows, errors = load_flows([folder])
    assert errors == []
    [found] = flows.flows.values()
    return simulate(found, flows, caller=caller, called=called, at=AT, services=lists)


def commands(result: SimulationResult) -> list[str]:
    return [e.command for e in result.exchanges]


def path(result: SimulationResult) -> list[str]:
    return [f"{s['step']}:{s['outcome']}" for s in result.steps]


def details(result: SimulationResult, step: str) -> dict[str, Any]:
    [row] = [s for s in result.steps if s["step"] == step]
    return json.loads(row["details"])


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


def test_a_clear_number_is_dialled_and_the_cdr_says_clear(tmp_path: Path, db: Path) -> None:
    result = run(tmp_path, outbound(), lists=services(db), called="612345678")
    assert path(result) == ["check:clear", "dial:next"]
    assert commands(result)[:2] == ['SET VARIABLE "ROBINSON" "clear"', DIAL.format("612345678")]
    assert (result.call["robinson"], result.call["robinson_list"], result.call["dialled"]) == \
        ("clear", None, "+34612345678")


def test_a_listed_number_is_never_dialled_and_the_cdr_names_the_list(tmp_path: Path, db: Path) -> None:
    result = run(tmp_path, outbound(), lists=services(db), called="0034 600 111 222")
    assert path(result) == ["check:listed", "listed_msg:next"]
    assert not dialled(result)
    assert (result.call["robinson"], result.call["robinson_list"], result.call["dialled"]) == \
        ("listed", "robinson", "+34600111222")
    assert details(result, "check") == {"number": "+34600111222", "lists": ["robinson"], "result": "listed",
                                         "list": "robinson", "entry": "+34600111222",
                                         "entry_note": "asked 2025-01-03"}
    assert result.variables["ROBINSON"] == "listed"


def test_a_number_under_a_listed_prefix_is_not_dialled(tmp_path: Path, db: Path) -> None:
    result = run(tmp_path, outbound(), lists=services(db), called="902123456")
    assert path(result) == ["check:listed", "listed_msg:next"]
    assert details(result, "check")["entry"] == "+3490*"


def test_every_list_is_checked_in_order(tmp_path: Path, db: Path) -> None:
    result = run(tmp_path, outbound("[robinson, internal]"), lists=services(db), called="611000000")
    assert path(result) == ["check:listed", "listed_msg:next"]
    assert result.call["robinson_list"] == "internal"


def test_the_number_to_check_can_come_from_a_variable(tmp_path: Path, db: Path) -> None:
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
        """, lists=services(db), called="612345678")
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


def test_a_missing_list_fails_closed(tmp_path: Path, db: Path) -> None:
    result = run(tmp_path, outbound("robinsn"), lists=services(db), called="612345678")
    assert_blocked_by_error(result, "no number list named 'robinsn'")
    assert result.call["robinson_list"] == "robinsn"
    assert path(result) == ["check:error"]  # no target for error: the call ends there


def test_one_missing_list_among_several_fails_closed_when_the_others_are_clear(tmp_path: Path, db: Path) -> None:
    result = run(tmp_path, outbound("[robinson, gone]"), lists=services(db), called="612345678")
    assert_blocked_by_error(result, "'gone'")
    assert result.call["robinson_list"] == "gone"


def test_a_missing_list_still_reports_a_hit_in_another_list(tmp_path: Path, db: Path) -> None:
    result = run(tmp_path, outbound("[gone, robinson]"), lists=services(db), called="600111222")
    assert path(result) == ["check:listed", "listed_msg:next"]


def test_a_corrupt_database_fails_closed(tmp_path: Path, db: Path) -> None:
    db.write_bytes(b"garbage" * 1000)
    result = run(tmp_path, outbound(), lists=services(db), called="612345678")
    assert_blocked_by_error(result, "cannot read number list 'robinson'")


def test_a_database_that_cannot_be_opened_fails_closed(tmp_path: Path, db: Path) -> None:
    db.unlink()
    db.mkdir()  # a folder where the database should be
    result = run(tmp_path, outbound(), lists=services(db), called="612345678")
    assert_blocked_by_error(result, "cannot read number list")


def test_no_lists_at_all_fails_closed(tmp_path: Path) -> None:
    result = run(tmp_path, outbound(), lists=services(None), called="612345678")
    assert_blocked_by_error(result, "number lists are not available")


@pytest.mark.parametrize("called", ["", "abc", "12"])
def test_a_number_that_cannot_be_parsed_fails_closed(tmp_path: Path, db: Path, called: str) -> None:
    result = run(tmp_path, outbound(), lists=services(db), called=called)
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


def test_on_error_allow_never_lets_a_listed_number_through(tmp_path: Path, db: Path) -> None:
    result = run(tmp_path, outbound(options=", on_error: allow"), lists=services(db), called="600111222")
    assert path(result) == ["check:listed", "listed_msg:next"]


def flow_errors(tmp_path: Path, flow: str) -> list[str]:
    (tmp_path / "flow.yaml").write_text(textwrap.dedent(flow))
    _, errors = load_flows([tmp_path / "flow.yaml"])
    return [e.message for e in errors]


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


def test_a_vip_caller_is_found_and_the_entry_note_is_a_variable(tmp_path: Path, db: Path) -> None:
    result = run(tmp_path, vip(), lists=services(db), caller="+34600999888")
    assert path(result) == ["vip:found", "priority:next"]
    assert result.variables["QUEUE_PRIO"] == "10"
    assert result.variables["VIP_NOTE"] == "Ana (gold)"
    assert details(result, "vip") == {"number": "+34600999888", "lists": ["vip"], "list": "vip",
                                      "entry": "+34600999888", "entry_note": "Ana (gold)"}
    assert result.call.get("blocked") is None


def test_a_caller_not_in_the_list_is_missing(tmp_path: Path, db: Path) -> None:
    result = run(tmp_path, vip(), lists=services(db), caller="600000001")
    assert path(result) == ["vip:missing", "normal:next"]


@pytest.mark.parametrize("caller", ["", "anonymous", "Anonymous", "restricted", "PRIVATE", "withheld",
                                    "sip:anonymous@anonymous.invalid"])
def test_a_withheld_caller_id_is_anonymous(tmp_path: Path, db: Path, caller: str) -> None:
    result = run(tmp_path, vip(), lists=services(db), caller=caller)
    assert path(result) == ["vip:anonymous", "normal:next"]


def test_anonymous_missing_sends_withheld_callers_the_missing_way(tmp_path: Path, db: Path) -> None:
    result = run(tmp_path, vip(options=", anonymous: missing", on=""), lists=services(db), caller="anonymous")
    assert path(result) == ["vip:missing", "normal:next"]


def test_anonymous_is_not_an_outcome_when_withheld_callers_go_another_way(tmp_path: Path) -> None:
    errors = flow_errors(tmp_path, vip(options=", anonymous: missing"))
    assert errors and "unknown outcome 'anonymous'" in errors[0]


def test_a_caller_id_that_is_not_a_phone_number_is_missing(tmp_path: Path, db: Path) -> None:
    result = run(tmp_path, vip(), lists=services(db), caller="100")
    assert path(result) == ["vip:missing", "normal:next"]
    assert "invalid_number" in details(result, "vip")


@pytest.mark.parametrize("lists", ["vipp", "[vip, gone]"])
def test_a_list_that_cannot_be_read_is_an_error(tmp_path: Path, db: Path, lists: str) -> None:
    result = run(tmp_path, vip(lists=lists), lists=services(db), caller="600000001")
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


def test_a_blocked_caller_takes_the_reject_branch_and_the_cdr_names_the_list(tmp_path: Path, db: Path) -> None:
    result = run(tmp_path, BLOCKLIST, lists=services(db), caller="622000000")
    assert [p.split(":")[0] for p in path(result)] == ["screen", "reject"]
    assert path(result)[0] == "screen:found"
    assert commands(result)[0] == 'EXEC "Hangup" "21"'
    assert result.call["blocked"] == "block"


def test_an_anonymous_caller_is_blocked_as_anonymous(tmp_path: Path, db: Path) -> None:
    result = run(tmp_path, BLOCKLIST, lists=services(db), caller="")
    assert path(result)[0] == "screen:anonymous"
    assert result.call["blocked"] == "anonymous"


def test_a_caller_in_no_list_is_not_blocked(tmp_path: Path, db: Path) -> None:
    result = run(tmp_path, BLOCKLIST, lists=services(db), caller="600000001")
    assert path(result) == ["screen:missing", "welcome:next"]
    assert result.call.get("blocked") is None


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
