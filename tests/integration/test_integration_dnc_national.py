"""The campaign leg of docs/compliance.md, as written, through ``agiflow
serve`` over real TCP in a country whose national numbers start with a
trunk prefix (France: ``06 12 34 56 78`` is ``+33 6 12 34 56 78``): the
dialer sends the number nationally, the flow checks it and dials what it
checked, and the guard must take that for the number checked."""
from __future__ import annotations

import io
import json
from collections.abc import Iterator

import pytest

from agi.lists.admin import ListAdmin
from agi.lists.csvio import ReadReport, read_entries
from agi.lists.numbers import Normaliser
from agi.sim import CallerScript, EverySound, SimulatedAsterisk, make_environment, run_simulated_call
from support.server_process import HOST, ServerProcess, finished_cdr, running_server, write_config

pytestmark = pytest.mark.integration

#: The example of docs/compliance.md, word for word.
CAMPAIGN = """\
version: 1
name: dnc-example
description: A campaign leg; the number to call is the extension the dialer sends.
start: dnc
steps:
  dnc:
    robinson: {list: [robinson, internal_dnc]}
    on: {clear: call_customer, listed: skip, error: not_checked}
  call_customer:
    dial: {destination: "PJSIP/{{ call.called }}@trunk", timeout: 45}
  skip:
    set: {cdr: {campaign_result: do_not_call}}
    next: bye
  not_checked:
    set: {cdr: {campaign_result: list_unavailable}}
    next: bye
  bye:
    hangup: {cause: 21}
"""

#: The dialer sends E.164; the flow dials the national form of the number.
NATIONAL_DIAL = """\
version: 1
name: national-dial
start: dnc
steps:
  dnc:
    robinson: {list: robinson}
    on: {clear: call_customer}
  call_customer:
    dial: {destination: "PJSIP/0{{ call.called[3:] }}@trunk", timeout: 45}
"""

#: The dialer sends a German number; the flow dials its last nine digits
#: as a French national number: another number, which the list holds.
TAIL_DIAL = NATIONAL_DIAL.replace("national-dial", "tail-dial").replace("call.called[3:]", "call.called[-9:]")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    folder = tmp_path_factory.mktemp("dnc_national")
    (folder / "flows").mkdir()
    (folder / "flows" / "dnc-example.yaml").write_text(CAMPAIGN)
    (folder / "flows" / "national-dial.yaml").write_text(NATIONAL_DIAL)
    (folder / "flows" / "tail-dial.yaml").write_text(TAIL_DIAL)
    config = write_config(folder)
    config.write_text(json.dumps({**json.loads(config.read_text()), "default_region": "FR"}))
    with ListAdmin(folder / "cdr.db") as admin:
        admin.import_entries("robinson", read_entries(io.StringIO("0611111111\n"), Normaliser("FR"), ReadReport()))
        admin.create("internal_dnc")
    with running_server(config) as process:
        yield process


def leg(server: ServerProcess, flow: str, uniqueid: str, number: str) -> tuple[list[str], dict]:
    env = make_environment(flow, uniqueid=uniqueid, callerid="100", dnid=number)
    result = run_simulated_call(HOST, server.port, SimulatedAsterisk(env, CallerScript(sounds=EverySound(8000))),
                                timeout=10)
    [row] = finished_cdr(server.database, uniqueid)
    return list(result.commands), row


def test_a_clear_national_number_is_dialled_as_the_flow_checked_it(server: ServerProcess) -> None:
    commands, row = leg(server, "dnc-example", "1796600000.1", "0612345678")
    assert 'EXEC "Dial" "PJSIP/0612345678@trunk,45"' in commands
    assert (row["robinson"], row["refused_commands"], row["status"]) == ("clear", None, "completed")
    assert row["path"].startswith("dnc:clear > call_customer:answer")


def test_a_listed_national_number_is_still_never_dialled(server: ServerProcess) -> None:
    commands, row = leg(server, "dnc-example", "1796600000.2", "06 11 11 11 11")
    assert not any(c.startswith('EXEC "Dial"') for c in commands)
    assert (row["robinson"], row["robinson_list"]) == ("listed", "robinson")


def test_a_number_checked_in_e164_may_be_dialled_in_its_national_form(server: ServerProcess) -> None:
    commands, row = leg(server, "national-dial", "1796600000.3", "+33612345678")
    assert 'EXEC "Dial" "PJSIP/0612345678@trunk,45"' in commands
    assert row["refused_commands"] is None



def test_a_number_that_only_ends_like_the_one_checked_is_never_dialled(server: ServerProcess) -> None:
    commands, row = leg(server, "tail-dial", "1796600000.4", "+4930611111111")
    assert not any(c.startswith('EXEC "Dial"') for c in commands)
    assert (row["robinson"], row["refused_commands"]) == ("clear", "Dial (do-not-call)")
