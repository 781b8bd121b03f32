"""Running one small flow through the simulated Asterisk, for the tests of
the step types (one test file per type) and of the interpreter around them.

``run`` goes through ``agi.simulate.simulate`` like ``agiflow simulate``;
``run_script`` runs the same session code over a ``CallerScript`` given in
full, for what ``simulate`` does not expose (missing sounds, queues.conf
settings).
"""
from __future__ import annotations

import json
import textwrap
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Awaitable

from agi.channel import ConnectionClosed
from agi.loading.loader import load_flows
from agi.protocol.wire import Reply
from agi.ready import Ready
from agi.storage.cdr_memory import MemoryCdr
from agi.engine.model import FlowSet
from agi.services import Services
from agi.session import SessionSettings, run_session
from agi.simulate import SimulationResult, simulate
from agi.sim.asterisk import SimulatedAsterisk
from agi.sim.script import CallerScript, make_environment
from agi.sim.transport import SimTransport, run_sync

#: A Monday morning: 09:30 in Madrid.
AT = datetime(2025, 3, 10, 8, 30, tzinfo=timezone.utc)
STATUS = 'SET VARIABLE "AGIFLOW_STATUS" "{}"'


def load(tmp_path: Path, text: str, *others: str) -> tuple[FlowSet, str]:
    """Load the flow in ``text`` (and the ``others`` it may goto); its name."""
    source = textwrap.dedent(text)
    (tmp_path / "flow.yaml").write_text(source)
    for i, other in enumerate(others, 1):
        (tmp_path / f"flow{i}.yaml").write_text(textwrap.dedent(other))
    flows, errors = load_flows([tmp_path])
    assert errors == [], errors
    name = next(line.split(":", 1)[1].strip() for line in source.splitlines() if line.startswith("name:"))
    return flows, name


def run(tmp_path: Path, text: str, *others: str, caller: str = "600111222", **options: Any) -> SimulationResult:
    """Run the flow in ``text`` once with ``simulate`` (``others``: flows it may goto)."""
    flows, name = load(tmp_path, text, *others)
    options.setdefault("at", AT)
    flow = flows.get(name)
    assert flow is not None
    return simulate(flow, flows, caller=caller, **options)


def run_script(tmp_path: Path, text: str, script: CallerScript, *, caller: str = "600111222",
               called: str = "911234567", services: Services | None = None,
               hangup_noted: bool = False) -> SimulationResult:
    """Run the flow in ``text`` against ``script`` as given (sounds included).
    ``hangup_noted``: the transport knows of the hangup before the first step
    (a ``HANGUP`` line read while no command was pending, a SIGHUP)."""
    flows, name = load(tmp_path, text)
    moment = AT.timestamp()
    env = make_environment(name, callerid=caller, dnid=called, uniqueid=f"{int(moment)}.42")
    asterisk = SimulatedAsterisk(env, script)
    transport = SimTransport(asterisk)
    transport.hangup_seen = hangup_noted
    cdr = MemoryCdr()

    def clock() -> float:
        return moment + asterisk.elapsed

    run_sync(run_session(transport.environment(), transport, flows, cdr, SessionSettings(), clock, services))
    [call] = cdr.calls.values()
    return SimulationResult(call, cdr.steps, transport.exchanges, dict(asterisk.variables), asterisk.continue_at)


def cdr(result: SimulationResult, *columns: str) -> tuple[Any, ...]:
    """CDR columns of the call; None for one no step set."""
    return tuple(result.call.get(column) for column in columns)


def commands(result: SimulationResult) -> list[str]:
    return [e.command for e in result.exchanges]


def path(result: SimulationResult) -> list[str]:
    return [f"{s['step']}:{s['outcome']}" for s in result.steps]


def details(result: SimulationResult, step: str) -> dict[str, Any]:
    [row] = [s for s in result.steps if s["step"] == step]
    return dict(json.loads(row["details"]))


def fields(result: SimulationResult) -> dict[str, Any]:
    """The CDR fields ``set`` steps gave the call."""
    return dict(json.loads(result.call["fields"]))


def flow_errors(tmp_path: Path, text: str) -> list[str]:
    """The messages ``agiflow validate`` gives for the flow in ``text``."""
    (tmp_path / "flow.yaml").write_text(textwrap.dedent(text))
    _, errors = load_flows([tmp_path / "flow.yaml"])
    return [e.message for e in errors]


def mixmonitor_commands(result: SimulationResult) -> list[str]:
    return [c for c in commands(result) if c.startswith('EXEC "MixMonitor"')]


class CutTransport(SimTransport):
    """The connection to Asterisk closes as the first command starting with
    ``at`` is sent (the server's drain timeout, agiflow-agi stopped by
    SIGTERM, an Asterisk restart): that command and every later one fail
    with ConnectionClosed, as the server's protocol fails them."""

    def __init__(self, sim: SimulatedAsterisk, at: bytes) -> None:
        super().__init__(sim)
        self.at = at
        self.cut = False

    def send(self, line: bytes) -> Awaitable[Reply]:
        self.cut = self.cut or line.startswith(self.at)
        if self.cut:
            return Ready(error=ConnectionClosed("connection lost: cut"))
        return super().send(line)
