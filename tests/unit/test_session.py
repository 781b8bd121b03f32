"""The per-call boundary: a bug inside a step ends that call cleanly, with a
log line naming it, its CDR and the dialplan's fallback."""
from __future__ import annotations

import logging
from pathlib import Path

import pytest

from agi.storage.cdr_memory import MemoryCdr
from agi.loading.loader import load_flows
from agi.steps.play import PlayNode
from agi.session import Fallback, SessionSettings, run_session
from agi.sim.asterisk import SimulatedAsterisk
from agi.sim.script import CallerScript, EverySound, make_environment
from agi.sim.transport import SimTransport, run_sync

SHIPPED_FLOWS = Path(__file__).resolve().parents[2] / "flows"


def test_a_crash_inside_a_step_sends_the_call_to_the_fallback_with_its_cdr(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    flows, errors = load_flows([SHIPPED_FLOWS])
    assert errors == []

    async def broken(self: PlayNode, ctx: object) -> str:
        raise ZeroDivisionError("a bug in a step")

    monkeypatch.setattr(PlayNode, "run", broken)
    asterisk = SimulatedAsterisk(make_environment("closed", uniqueid="1795385106.7"), CallerScript(sounds=EverySound()))
    transport = SimTransport(asterisk)
    cdr = MemoryCdr()
    settings = SessionSettings(fallback=Fallback("agiflow-fallback", "s", "1"))
    with caplog.at_level(logging.ERROR):
        status = run_sync(run_session(transport.environment(), transport, flows, cdr, settings, lambda: 1.8e9))
    assert status == "error"
    assert "[1795385106.7 closed] flow crashed" in caplog.text and "ZeroDivisionError" in caplog.text
    assert asterisk.variables["AGIFLOW_STATUS"] == "error"
    assert asterisk.continue_at == ("agiflow-fallback", "s", 1)
    [row] = cdr.calls.values()
    assert row["status"] == "error" and "ZeroDivisionError" in row["error"]
    assert row["path"] == "answer:next" and row["steps"] == 1
