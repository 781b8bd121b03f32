"""Play a SimulatedAsterisk against a real FastAGI server over TCP.

``run_simulated_call`` connects like Asterisk's AGI() does, writes the
environment, then answers each command line with ``sim.handle`` and never
more than one command at a time. It copes with the server closing the socket
at any moment, and can misbehave on purpose: write every byte in its own
``send()`` (replies split across TCP segments) or close in the middle of the
environment.
"""
from __future__ import annotations

import select
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from agi.sim.asterisk import SimulatedAsterisk


@dataclass
class SimulatedCallResult:
    """What the simulated Asterisk saw of one call."""

    commands: list[str] = field(default_factory=list)
    closed_by_server: bool = False
    seconds: float = 0.0
    timed_out: bool = False
    #: Commands that arrived while another one was still unanswered.
    pipelined: list[str] = field(default_factory=list)
    #: Bytes after the last newline when the server closed.
    unterminated: bytes = b""
    environment_sent: bool = False


class _Wire:
    """Line framing and writing over one blocking socket."""

    def __init__(self, sock: socket.socket, deadline: float, split: bool) -> None:
        self.sock, self.deadline, self.split = sock, deadline, split
        self.buffer = bytearray()
        self.eof = False

    def _recv(self, wait: float | None) -> None:
        self.sock.settimeout(wait)
        try:
            data = self.sock.recv(65536)
        except (ConnectionResetError, ConnectionAbortedError):
            data = b""
        if not data:
            self.eof = True
        self.buffer += data

    def read_line(self) -> bytes | None:
        """The next line without its LF, or None at end of stream."""
        while b"\n" not in self.buffer:
            if self.eof:
                return None
            remaining = self.deadline - time.monotonic()
            if remaining <= 0:
                raise socket.timeout("simulated call timed out")
            self._recv(remaining)
        line, _, rest = bytes(self.buffer).partition(b"\n")
        self.buffer = bytearray(rest)
        return line

    def more_waiting(self) -> bool:
        """True when the server already sent more bytes (pipelining)."""
        if not self.eof and select.select([self.sock], [], [], 0)[0]:
            self._recv(None)
        return bool(self.buffer)

    def write(self, lines: list[str]) -> bool:
        """Write lines, LF-terminated; False when the server has gone."""
        data = "".join(f"{line}\n" for line in lines).encode("utf-8", "surrogateescape")
        self.sock.settimeout(max(self.deadline - time.monotonic(), 0.001))
        try:
            if self.split:
                for byte in data:
                    self.sock.send(bytes([byte]))
            else:
                self.sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            return False
        return True


def run_simulated_call(
    host: str,
    port: int,
    sim: SimulatedAsterisk,
    *,
    timeout: float = 10.0,
    script_path: str = "flow",
    split_segments: bool = False,
    close_after_env_lines: int | None = None,
) -> SimulatedCallResult:
    """Run one call against the FastAGI server at host:port.

    ``script_path`` is the flow asked for (agi_network_script) when the
    simulated environment names none. ``split_segments`` writes every byte
    in its own send(); ``close_after_env_lines`` closes after that many
    environment lines. The result tells whether the server closed the
    socket and how many seconds after connecting.
    """
    start = time.monotonic()
    return _run_on(socket.create_connection((host, port), timeout=timeout), sim, start, timeout=timeout,
                   script_path=script_path, split_segments=split_segments,
                   close_after_env_lines=close_after_env_lines)


#: Asterisk's connect timeout for a FastAGI server (MAX_AGI_CONNECT in res_agi.c).
AGI_CONNECT_TIMEOUT = 2.0


def run_simulated_ha_call(servers: Sequence[tuple[str, int]], sim: SimulatedAsterisk, *, timeout: float = 10.0,
                          connect_timeout: float = AGI_CONNECT_TIMEOUT,
                          script_path: str = "flow") -> tuple[SimulatedCallResult, int | None]:
    """Run one call as Asterisk's ``hagi://`` does once its SRV lookup has
    given ``servers`` in order: try each in turn; a connect that is refused
    or not answered within ``connect_timeout`` goes on to the next; the
    first that accepts runs the whole call, and there is no going back after
    that. Returns the result and the index of that server (None, and an
    empty result, when none accepted: Asterisk sets AGISTATUS=FAILURE)."""
    start = time.monotonic()
    for index, (host, port) in enumerate(servers):
        try:
            sock = socket.create_connection((host, port), timeout=connect_timeout)
        except OSError:
            continue
        return _run_on(sock, sim, start, timeout=timeout, script_path=script_path), index
    return SimulatedCallResult(seconds=time.monotonic() - start), None


def _run_on(sock: socket.socket, sim: SimulatedAsterisk, start: float, *, timeout: float, script_path: str,
            split_segments: bool = False, close_after_env_lines: int | None = None) -> SimulatedCallResult:
    """The call on a connected socket; closes it."""
    result = SimulatedCallResult()
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    wire = _Wire(sock, start + timeout, split_segments)
    try:
        env = sim.env_lines(script_path)
        if close_after_env_lines is not None:
            wire.write(env[:close_after_env_lines])
            return result
        result.environment_sent = wire.write(env)
        _converse(wire, sim, result)
    except socket.timeout:
        result.timed_out = True
    finally:
        result.seconds = time.monotonic() - start
        sock.close()
    return result


def _converse(wire: _Wire, sim: SimulatedAsterisk, result: SimulatedCallResult) -> None:
    while not sim.ended:
        raw = wire.read_line()
        if raw is None:
            result.closed_by_server = True
            result.unterminated = bytes(wire.buffer)
            return
        line = raw.decode("utf-8", "surrogateescape")
        result.commands.append(line)
        interrupted = wire.more_waiting()
        if interrupted:
            result.pipelined.append(line)
        if not wire.write(sim.handle(line, interrupted=interrupted)):
            result.closed_by_server = True
            return
