"""Do-not-call lists in a running ``agiflow serve``, over real TCP.

The list is imported into the configured database before the server starts
(as an operator does with ``agiflow lists import``), and changed while it
runs. The simulated Asterisk calls the outbound flow with the number to
dial as DNID: a listed number must never reach ``Dial`` and its CDR row
names the list.
"""
from __future__ import annotations

import io
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from agi.lists.admin import ListAdmin
from agi.lists.csvio import ReadReport, read_entries
from agi.lists.numbers import Normaliser
from agi.sim import CallerScript, EverySound, SimulatedAsterisk, make_environment, run_simulated_call
from support.server_process import HOST, ServerProcess, running_server, call_rows, write_config

pytestmark = pytest.mark.integration

OUTBOUND = """\
version: 1
name: outbound
start: dnc
steps:
  dnc:
    robinson: {list: robinson}
    on: {clear: dial, listed: refused}
  dial:
    exec: {app: Dial, options: "PJSIP/{{ call.called }}@trunk,30"}
  refused:
    hangup: {cause: 21}
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    folder = tmp_path_factory.mktemp("lists")
    config = write_config(folder)
    (folder / "flows" / "outbound.yaml").write_text(textwrap.dedent(OUTBOUND))
    with ListAdmin(folder / "cdr.db") as admin:
        rows = read_entries(io.StringIO("+34600111222,asked 2025-01-03\n+3490*,premium\n"), Normaliser("ES"),
                            ReadReport())
        admin.import_entries("robinson", rows)
    with running_server(config) as process:
        yield process


def dial_out(server: ServerProcess, uniqueid: str, number: str) -> list[str]:
    env = make_environment("outbound", uniqueid=uniqueid, callerid="100", dnid=number)
    sim = SimulatedAsterisk(env, CallerScript(sounds=EverySound(8000)))
    result = run_simulated_call(HOST, server.port, sim, timeout=10)
    return list(result.commands)


def cdr(server: ServerProcess, uniqueid: str) -> dict[str, object]:
    """The call's CDR row once the writer thread has finished it."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        rows = call_rows(server.database, uniqueid)
        if rows and rows[0]["status"] != "in_progress":
            return rows[0]
        time.sleep(0.02)
    raise AssertionError(f"no finished CDR for {uniqueid}")


def test_a_listed_number_is_never_dialled_and_the_cdr_names_the_list(server: ServerProcess) -> None:
    commands = dial_out(server, "1795385106.901", "600 111 222")
    assert not any(c.startswith('EXEC "Dial"') for c in commands)
    assert commands == ['SET VARIABLE "ROBINSON" "listed"', 'EXEC "Hangup" "21"',
                        'SET VARIABLE "AGIFLOW_STATUS" "completed"']
    row = cdr(server, "1795385106.901")
    assert (row["robinson"], row["robinson_list"], row["dialled"]) == ("listed", "robinson", "+34600111222")
    assert row["path"] == "dnc:listed > refused:done"


def test_a_clear_number_is_dialled(server: ServerProcess) -> None:
    commands = dial_out(server, "1795385106.902", "612345678")
    assert 'EXEC "Dial" "PJSIP/612345678@trunk,30"' in commands
    row = cdr(server, "1795385106.902")
    assert (row["robinson"], row["robinson_list"]) == ("clear", None)


def test_a_number_added_while_the_server_runs_is_blocked_at_once(server: ServerProcess) -> None:
    with ListAdmin(server.database) as admin:
        admin.add("robinson", Normaliser("ES").entry("611000000"), "added live")
    commands = dial_out(server, "1795385106.903", "611000000")
    assert not any(c.startswith('EXEC "Dial"') for c in commands)
    assert cdr(server, "1795385106.903")["robinson"] == "listed"


def test_a_deleted_list_fails_closed_in_the_running_server(server: ServerProcess) -> None:
    with ListAdmin(server.database) as admin:
        admin.create("spare")
    flows = Path(server.folder / "flows")
    (flows / "outbound2.yaml").write_text(textwrap.dedent(OUTBOUND).replace("name: outbound", "name: outbound2")
                                          .replace("list: robinson", "list: spare"))
    mark = server.mark()
    server.wait_for_log(r"outbound2", since=mark, timeout=10)
    with ListAdmin(server.database) as admin:
        admin.delete("spare")
    env = make_environment("outbound2", uniqueid="1795385106.904", callerid="100", dnid="612345678")
    result = run_simulated_call(HOST, server.port, SimulatedAsterisk(env, CallerScript(sounds=EverySound(8000))),
                                timeout=10)
    assert not any(c.startswith('EXEC "Dial"') for c in result.commands)
    row = cdr(server, "1795385106.904")
    assert (row["robinson"], row["robinson_list"], row["status"]) == ("error", "spare", "error")
