"""An in-memory command transport backed by a SimulatedAsterisk.

``SimTransport`` is what ``agi.channel.Channel`` talks to in unit tests and
in the offline ``agiflow simulate`` command: ``send(line)`` hands the line to
the simulated Asterisk, parses its answer with the real ``ReplyParser`` and
returns an already-completed awaitable. ``run_sync`` drives a coroutine that
only awaits such things, and refuses one that really suspends.
"""
from __future__ import annotations

from collections.abc import Awaitable, Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

from agi.channel import ChannelHungUp
from agi.protocol.environment import AgiEnvironment, EnvironmentReader
from agi.protocol.wire import Reply, ReplyParser
from agi.ready import Ready
from agi.sim.asterisk import SimulatedAsterisk

T = TypeVar("T")


@dataclass(frozen=True)
class SimExchange:
    """One command as sent, the lines Asterisk wrote back, and the reply
    they make (None when the session had ended and nothing came back)."""

    command: str
    lines: tuple[str, ...]
    reply: Reply | None


class SimTransport:
    """Sends commands to a SimulatedAsterisk; records every exchange in order."""

    def __init__(self, sim: SimulatedAsterisk) -> None:
        self.sim = sim
        self.hangup_seen = False
        self.exchanges: list[SimExchange] = []
        self._parser = ReplyParser()

    @property
    def closed(self) -> bool:
        """True once the simulated Asterisk ended the session."""
        return self.sim.ended

    def environment(self, script: str | None = None) -> AgiEnvironment:
        """The environment the simulated Asterisk opens the session with,
        read through the real EnvironmentReader."""
        reader = EnvironmentReader()
        for line in self.sim.env_lines(script):
            reader.feed(line)
        return reader.environment()

    def send(self, line: bytes) -> Awaitable[Reply]:
        """Send one LF-terminated command line; resolve with its Reply.

        Fails with ChannelHungUp when Asterisk sends no reply (the session
        ended), and with ValueError for anything but exactly one line.
        """
        text = line.decode("utf-8", "surrogateescape")
        if not text.endswith("\n") or "\n" in text[:-1]:
            return Ready(error=ValueError(f"not exactly one command line: {line!r}"))
        command = text[:-1]
        lines = self.sim.handle(command)
        reply = None
        for answer in lines:
            parsed = self._parser.feed(answer)
            if parsed is not None:
                reply = parsed
        self.hangup_seen = self._parser.hangup_seen
        self.exchanges.append(SimExchange(command, tuple(lines), reply))
        if reply is None:
            return Ready(error=ChannelHungUp(f"{command!r}: no reply, the AGI session has ended"))
        return Ready(reply)


def run_sync(coroutine: Coroutine[Any, Any, T] | Awaitable[T]) -> T:
    """Run a coroutine that never really suspends; return its result.

    Raises RuntimeError if it awaits something that is not already complete
    (a Deferred, a sleep...): that would hang the offline simulation.
    """
    steps = coroutine.__await__()
    try:
        steps.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    close = getattr(steps, "close", None)
    if close is not None:
        close()
    raise RuntimeError("the coroutine suspended: it awaited something that was not complete")
