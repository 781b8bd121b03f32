"""Caller memory through ``agiflow serve`` over real TCP: the second call of a
number finds the first one in the CDR database the server writes, read in
the server's thread pool, whatever spelling of the number Asterisk sends."""
from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator

import pytest

from agi.sim import CallerScript, EverySound, SimulatedAsterisk, make_environment, run_simulated_call
from support.server_process import HOST, ServerProcess, error_lines, finished_cdr, running_server, step_rows

pytestmark = pytest.mark.integration

FLOW = """\
version: 1
name: memory
timezone: Europe/Madrid
start: memory
steps:
  memory:
    history: {window: 1d, timeout: 2}
    on: {new: support, returning: again, repeat: again, abandoned_recently: again}
  again:
    play: "agiflow/welcome-back-{{ history.last_agent }}"
    next: support
  support:
    queue: {name: support, timeout: 300}
    on: {answered: bye, timeout: bye}
  bye:
    hangup:
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    folder = tmp_path_factory.mktemp("memory")
    (folder / "flows").mkdir()
    (folder / "flows" / "memory.yaml").write_text(textwrap.dedent(FLOW))
    config = folder / "config.yaml"
    config.write_text(json.dumps({
        "server": {"host": HOST, "port": 0, "env_timeout": 0.5, "drain_timeout": 10},
        "flows": "flows", "database": "cdr.db", "log_level": "INFO", "default_region": "ES"}))
    with running_server(config) as process:
        yield process


def place_call(server: ServerProcess, uniqueid: str, caller: str, member: tuple[str, str]) -> tuple[SimulatedAsterisk, dict]:
    env = make_environment("memory", uniqueid=uniqueid, callerid=caller, dnid="912345678")
    script = CallerScript(queue_statuses=["ANSWERED"], queue_member=member, sounds=EverySound(8000))
    sim = SimulatedAsterisk(env, script)
    result = run_simulated_call(HOST, server.port, sim, timeout=10)
    assert result.closed_by_server, result
    [row] = finished_cdr(server.database, uniqueid)
    return sim, row


def test_the_second_call_of_a_number_finds_the_first_and_its_agent(server: ServerProcess) -> None:
    _, first = place_call(server, "1795500000.1", "600111222", ("Ana", "PJSIP/201"))
    assert (first["history"], first["agent"], first["agent_interface"]) == ("new", "Ana", "PJSIP/201")

    sim, second = place_call(server, "1795500000.2", "+34600111222", ("Luis", "PJSIP/202"))
    assert second["path"].startswith("memory:returning > again:next")
    assert "agiflow/welcome-back-Ana" in sim.played
    [step] = [s for s in step_rows(server.database, second["id"]) if s["step"] == "memory"]
    found = json.loads(step["details"])
    assert (found["number"], found["calls"], found["last_agent"], found["last_outcome"]) == \
        ("+34600111222", 1, "Ana", "answered")
    assert second["history"] == "returning"
    assert error_lines(server.log()) == []


def test_another_number_is_a_new_caller(server: ServerProcess) -> None:
    _, row = place_call(server, "1795500000.3", "+34611222333", ("Ana", "PJSIP/201"))
    assert row["history"] == "new"
