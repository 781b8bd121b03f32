"""Options a flow takes from a variable, through ``agiflow serve`` over
real TCP: the server loads a flow whose ChanSpy options come from a
template (the letters of the template are no options: the ``r`` of
``vars`` once made validation take it for a recording), and the guard
judges the options as sent: ``q`` listens, ``qr`` would record the call
listened to and is refused without consent."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from agi.sim import CallerScript, EverySound, SimulatedAsterisk, make_environment, run_simulated_call
from support.server_process import HOST, ServerProcess, finished_cdr, running_server, write_config

pytestmark = pytest.mark.integration

SPY = """\
version: 1
name: spy
params: {options: q}
start: pick
steps:
  pick:
    set: {variables: {SPY_OPTS: "{{ params.options }}"}}
    next: listen
  listen:
    exec: {app: ChanSpy, args: [PJSIP/201, "{{ vars.SPY_OPTS }}"]}
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    folder = tmp_path_factory.mktemp("template_options")
    (folder / "flows").mkdir()
    (folder / "flows" / "spy.yaml").write_text(SPY)
    with running_server(write_config(folder)) as process:
        yield process


def listen(server: ServerProcess, uniqueid: str, request: str) -> tuple[SimulatedAsterisk, dict]:
    env = make_environment(request, uniqueid=uniqueid, callerid="+34600111222", dnid="912345678")
    sim = SimulatedAsterisk(env, CallerScript(sounds=EverySound(8000), app_results={"ChanSpy": 0}))
    assert run_simulated_call(HOST, server.port, sim, timeout=10).closed_by_server
    [row] = finished_cdr(server.database, uniqueid)
    return sim, row


def test_options_from_a_variable_are_judged_as_sent(server: ServerProcess) -> None:
    sim, row = listen(server, "1796700000.1", "spy")
    assert sim.applications == [("ChanSpy", "PJSIP/201,q")]
    assert (row["path"], row["refused_commands"]) == ("pick:next > listen:next", None)

    sim, row = listen(server, "1796700000.2", "spy?options=qr")
    assert sim.applications == []
    assert (row["path"], row["refused_commands"]) == ("pick:next > listen:error", "ChanSpy (no consent)")
