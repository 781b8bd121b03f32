"""Option letters as Asterisk reads them, through ``agiflow serve`` over
real TCP: ``parse_options`` (main/app.c) reads each byte of the options as
its low seven bits, so a character outside ASCII is read as letters
(``ƒ``, bytes C6 92, is ``F``; a character from U+80000 on starts with
F2, ``r``), and a ``(`` that follows no option is an option itself, so
``(F)`` is ``F``. The guard reads the letters the same way: ChanSpy's
``r`` records without consent, Dial's ``F`` alone runs dialplan after
the caller declined, and both are refused."""
from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote

import pytest

from agi.sim import CallerScript, EverySound, SimulatedAsterisk, make_environment, run_simulated_call
from support.server_process import HOST, ServerProcess, finished_cdr, running_server, write_config

pytestmark = pytest.mark.integration

LISTEN = """\
version: 1
name: listen
params: {o: q}
start: listen
steps:
  listen:
    exec: {app: ChanSpy, args: [PJSIP/201, "{{ params.o }}"]}
"""

#: A supervisor's phone called to listen to this call: the options of its
#: ChanSpy come from the AGI URL, so validate cannot read them.
LISTEN_IN = """\
version: 1
name: listen-in
params: {o: q}
start: originate
steps:
  originate:
    exec: {app: Originate, args: [PJSIP/201, app, ChanSpy, "{{ call.channel }},{{ params.o }}"]}
"""

DECLINED = """\
version: 1
name: declined
params: {o: t}
start: consent
steps:
  consent:
    consent: {notice: agiflow/recording-notice, ask: agiflow/recording-ask}
    on: {declined: agent}
  agent:
    exec: {app: Dial, args: [PJSIP/agent, 30, "{{ params.o }}"]}
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    folder = tmp_path_factory.mktemp("option_letters")
    (folder / "flows").mkdir()
    (folder / "flows" / "listen.yaml").write_text(LISTEN)
    (folder / "flows" / "declined.yaml").write_text(DECLINED)
    (folder / "flows" / "listen-in.yaml").write_text(LISTEN_IN)
    with running_server(write_config(folder)) as process:
        yield process


def call(server: ServerProcess, uniqueid: str, flow: str, options: str) -> tuple[SimulatedAsterisk, dict]:
    env = make_environment(f"{flow}?o={quote(options)}", uniqueid=uniqueid, callerid="+34600111222")
    script = CallerScript(dtmf=["2"], sounds=EverySound(8000), app_results={"ChanSpy": 0, "Originate": 0})
    sim = SimulatedAsterisk(env, script)
    assert run_simulated_call(HOST, server.port, sim, timeout=10).closed_by_server
    [row] = finished_cdr(server.database, uniqueid)
    return sim, row


def test_chanspy_listens_with_letters_that_do_not_record(server: ServerProcess) -> None:
    sim, row = call(server, "1796800000.1", "listen", "q")
    assert sim.applications == [("ChanSpy", "PJSIP/201,q")]
    assert row["refused_commands"] is None


def test_a_character_whose_first_byte_reads_as_r_records_so_it_needs_consent(server: ServerProcess) -> None:
    sim, row = call(server, "1796800000.2", "listen", "q\U00080000")
    assert sim.applications == []
    assert (row["path"], row["refused_commands"], row["recording_commands"]) == (
        "listen:error", "ChanSpy (no consent)", 0)


def test_a_plain_dial_after_a_decline_is_sent(server: ServerProcess) -> None:
    sim, row = call(server, "1796800000.3", "declined", "t")
    assert sim.applications == [("Dial", "PJSIP/agent,30,t")]
    assert row["refused_commands"] is None


@pytest.mark.parametrize("options", ["(F)", "tƒ"])
def test_dial_options_that_read_as_f_alone_run_dialplan_so_not_after_a_decline(server: ServerProcess,
                                                                                options: str) -> None:
    sim, row = call(server, f"1796800000.{4 + len(options)}", "declined", options)
    assert [app for app, _ in sim.applications] == []
    assert (row["path"], row["refused_commands"]) == ("consent:declined > agent:error", "Dial (no consent)")


def test_an_originate_whose_new_channel_listens_without_recording_is_sent(server: ServerProcess) -> None:
    sim, row = call(server, "1796800000.20", "listen-in", "q")
    assert [app for app, _ in sim.applications] == ["Originate"]
    assert row["refused_commands"] is None


def test_an_originate_whose_new_channel_records_this_call_needs_consent(server: ServerProcess) -> None:
    """The supervisor's ChanSpy with ``r`` would record this call, which
    gave no consent: refused, as an Exec of ChanSpy with ``r`` is."""
    sim, row = call(server, "1796800000.21", "listen-in", "qr")
    assert sim.applications == []
    assert (row["path"], row["refused_commands"]) == ("originate:error", "Originate (no consent)")
