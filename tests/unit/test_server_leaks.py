"""Calls leave nothing behind: after many calls held open together end (or
their callers hang up in the middle), the server holds no more objects than
before them. A per-call leak would grow a long-running server's memory."""
from __future__ import annotations

import gc
import shutil
from pathlib import Path
from typing import Any

from twisted.internet import task
from twisted.internet.address import IPv4Address
from twisted.internet.testing import StringTransport

from agi.config import ServerConfig
from agi.loading.library import FlowLibrary
from agi.server.factory import FastAGIFactory
from agi.sim import CallerScript, EverySound, SimulatedAsterisk, make_environment

REPO = Path(__file__).resolve().parents[2]
HELD = 400


class Discard:
    """A CDR sink that keeps nothing (a store keeps rows by design)."""

    def call_started(self, row: dict[str, Any]) -> None:
        pass

    def step_finished(self, call: str, step: dict[str, Any]) -> None:
        pass

    def call_ended(self, call: str, values: dict[str, Any]) -> None:
        pass


class Calls:
    """Support calls on in-memory transports, answered by the simulated Asterisk."""

    def __init__(self, folder: Path) -> None:
        (folder / "flows").mkdir()
        shutil.copy(REPO / "flows" / "support.yaml", folder / "flows")
        library = FlowLibrary(folder / "flows")
        assert library.reload() == []
        self.factory = FastAGIFactory(library, Discard(), ServerConfig(max_calls=HELD * 2), task.Clock())
        self.count = 0

    def start(self) -> tuple[Any, StringTransport, SimulatedAsterisk]:
        self.count += 1
        env = make_environment("support", uniqueid=f"1795385106.{self.count}", callerid="+34600111222")
        sim = SimulatedAsterisk(env, CallerScript(dtmf=["1"], sounds=EverySound(8000)))
        proto = self.factory.buildProtocol(None)
        transport = StringTransport(peerAddress=IPv4Address("TCP", "127.0.0.1", 40000))
        proto.makeConnection(transport)
        proto.dataReceived("".join(f"{line}\n" for line in sim.env_lines()).encode())
        return proto, transport, sim

    @staticmethod
    def answer(call: tuple[Any, StringTransport, SimulatedAsterisk], commands: int | None = None) -> None:
        """Answer the call's commands (``commands`` of them, or to its end)."""
        proto, transport, sim = call
        while not transport.disconnecting and commands != 0:
            command = transport.value().decode().rstrip("\n")
            transport.clear()
            proto.dataReceived("".join(f"{line}\n" for line in sim.handle(command)).encode())
            commands = None if commands is None else commands - 1

    @staticmethod
    def end(call: tuple[Any, StringTransport, SimulatedAsterisk]) -> None:
        call[0].connectionLost()


def live_objects() -> int:
    gc.collect()
    return len(gc.get_objects())


def test_calls_held_together_leave_no_object_behind_when_they_end_or_their_callers_hang_up(tmp_path: Path) -> None:
    calls = Calls(tmp_path)
    for _ in range(50):  # caches and first-time imports warm
        call = calls.start()
        calls.answer(call)
        calls.end(call)
    baseline = live_objects()
    held = [calls.start() for _ in range(HELD)]
    for call in held:
        calls.answer(call, 3)
    assert len(calls.factory.calls) == HELD
    assert live_objects() > baseline + HELD * 10, "the held calls are not alive"
    for n, call in enumerate(held):
        if n % 2:
            calls.answer(call)  # to the end of the flow
        calls.end(call)  # the others: the caller hangs up in the middle
    del held, call
    assert not calls.factory.calls and not calls.factory.connections
    assert live_objects() <= baseline + 20, f"{HELD} calls left objects behind"
