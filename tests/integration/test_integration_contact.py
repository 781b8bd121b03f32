"""Consent, priority and queue through ``agiflow serve`` over real TCP: the
server runs a contact-center flow for the simulated Asterisk 22 and writes
the consent, recording, VIP and queue columns to the SQLite CDR."""
from __future__ import annotations

import json
import re
import textwrap
from collections.abc import Iterator

import pytest

from agi.sim import CallerScript, EverySound, SimulatedAsterisk, make_environment, run_simulated_call
from support.server_process import HOST, ServerProcess, running_server, finished_cdr, step_rows

pytestmark = pytest.mark.integration

RECORDINGS = "/srv/recordings"
FLOW = """\
version: 1
name: contact
timezone: Europe/Madrid
start: answer
steps:
  answer:
    answer:
    next: consent
  consent:
    consent: {notice: agiflow/recording-notice, ask: agiflow/recording-ask,
              privacy_key: "5", privacy: agiflow/privacy-policy}
    on: {accepted: vip, declined: vip}
  vip:
    priority: {value: 10, vip: true}
    next: support
  support:
    queue: {name: support, timeout: 300, options: t}
    on: {answered: goodbye, timeout: goodbye}
  goodbye:
    play: agiflow/thanks-for-calling
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    folder = tmp_path_factory.mktemp("contact")
    (folder / "flows").mkdir()
    (folder / "flows" / "contact.yaml").write_text(textwrap.dedent(FLOW))
    config = folder / "config.yaml"
    config.write_text(json.dumps({
        "server": {"host": HOST, "port": 0, "env_timeout": 0.5, "drain_timeout": 10},
        "flows": "flows", "database": "cdr.db", "log_level": "INFO",
        "recordings": {"directory": RECORDINGS, "format": "wav"}}))
    with running_server(config) as process:
        yield process


def place_call(server: ServerProcess, uniqueid: str, script: CallerScript) -> tuple[SimulatedAsterisk, dict]:
    env = make_environment("contact", uniqueid=uniqueid, callerid="+34600111222", dnid="912345678")
    sim = SimulatedAsterisk(env, script)
    result = run_simulated_call(HOST, server.port, sim, timeout=10)
    assert result.closed_by_server and not result.pipelined, result
    [row] = finished_cdr(server.database, uniqueid)
    return sim, row


def test_caller_who_accepts_is_recorded_queued_as_vip_and_answered(server: ServerProcess) -> None:
    script = CallerScript(dtmf=["1"], queue_statuses=["ANSWERED"], sounds=EverySound(8000))
    sim, row = place_call(server, "1795400000.1", script)
    assert row["status"] == "completed"
    assert row["path"] == "answer:next > consent:accepted > vip:next > support:answered > goodbye:next"
    assert (row["consent"], row["vip"], row["priority"]) == ("accepted", 1, 10)
    assert re.fullmatch(rf"{RECORDINGS}/\d{{4}}/\d\d/\d\d/\d{{8}}-\d{{6}}_\+34600111222_912345678_1795400000\.1\.wav",
                        row["recording"])
    assert sim.mixmonitor_files == [row["recording"]]
    assert sim.variables["QUEUE_PRIO"] == "10"
    assert (row["queue"], row["queue_status"], row["queue_wait"]) == ("support", "ANSWERED", 0)
    assert 0 <= row["talk_time"] < 5
    applications = [name for name, _ in sim.applications]
    assert applications == ["MixMonitor", "Queue"]


def test_caller_who_declines_then_abandons_the_queue_is_never_recorded(server: ServerProcess) -> None:
    # Commands: ANSWER, STREAM FILE, GET DATA, SET QUEUE_PRIO, three SET VARIABLE, EXEC Queue (the 8th).
    script = CallerScript(dtmf=["2"], hangup_during=8, sounds=EverySound(8000))
    sim, row = place_call(server, "1795400000.2", script)
    assert row["status"] == "caller_hangup"
    assert (row["consent"], row["recording"]) == ("declined", None)
    assert sim.mixmonitor_files == []
    assert (row["queue"], row["queue_status"], row["talk_time"]) == ("support", "ABANDONED", None)
    assert row["queue_wait"] is not None and row["queue_wait"] >= 0
    steps = step_rows(server.database, row["id"])
    assert [s["outcome"] for s in steps] == ["next", "declined", "next", "hangup"]
    assert json.loads(steps[-1]["details"])["status"] == "ABANDONED"
