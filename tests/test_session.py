"""The per-call boundary: a bug inside a step ends that call cleanly, with a
log line naming it, its CDR and the dialplan's fallback."""
from __future__ import annotations

import logging
import textwrap
from pathlib import Path

import pytest

from agi.cdr.memory import MemoryCdr
from agi.flow.loader import load_flows
from agi.nodes.play import PlayNode
from agi.session import Fallback, SessionSettings, run_session
from agi.sim.asterisk import SimulatedAsterisk
from agi.sim.script import CallerScript, EverySound, make_environment
from agi.sim.transport import SimTransport, run_sync

FLOW = """\
version: 1
name: demo
start: answer
steps:
  answer:
    answer:
    next: play
  play:
    play: hello
"""


def test_a_crash_inside_a_step_sends_the_call_to_the_fallback_with_its_cdr(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "demo.yaml").write_text(textwrap.dedent(FLOW))
    flows, errors = load_flows([tmp_path])
    assert errors == []

    async def broken(self: PlayNode, ctx: object) -> str:
        raise ZeroDivisionError("a bug in a step")

    monkeypatch.setattr(PlayNode, "run", broken)
    asterisk = SimulatedAsterisk(make_environment("demo", uniqueid="1795385106.7"), CallerScript(sounds=EverySound()))
    transport = SimTransport(asterisk)
    cdr = MemoryCdr()
    settings = SessionSettings(fallback=Fallback("agiflow-fallback", "s", "1"))
    with caplog.at_level(logging.ERROR):
        status = run_sync(run_session(transport.environment(), transport, flows, cdr, settings, lambda: 1.8e9))
    assert status == "error"
    assert "[1795385106.7 demo] flow crashed" in caplog.text and "ZeroDivisionError" in caplog.text
    assert asterisk.variables["AGIFLOW_STATUS"] == "error"
    assert asterisk.continue_at == ("agiflow-fallback", "s", 1)
    [row] = cdr.calls.values()
    assert row["status"] == "error" and "ZeroDivisionError" in row["error"]
    assert row["path"] == "answer:next" and row["steps"] == 1
