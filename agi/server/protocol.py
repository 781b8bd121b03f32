"""One FastAGI connection: read the environment, then carry one command at a
time for the call's flow. Framing only; parsing lives in agi.protocol."""
from __future__ import annotations

import logging
import socket
from typing import TYPE_CHECKING, Awaitable, cast

from twisted.internet.interfaces import IDelayedCall, ITCPTransport
from twisted.protocols.basic import LineOnlyReceiver
from twisted.python.failure import Failure

from agi.channel import ConnectionClosed
from agi.protocol.environment import AgiEnvironment, EnvironmentReader, decode_line
from agi.protocol.wire import (MAX_LINES_WITHOUT_REPLY, TOO_MANY_LINES_WITHOUT_REPLY, AnswerTooLong, Reply,
                               ReplyParser, whole_200_reply)
from agi.log_output import WarningBudget
from agi.ready import Ready
from agi.server.runner import PendingReply

if TYPE_CHECKING:
    from agi.server.factory import FastAGIFactory

log = logging.getLogger("agiflow.server")
#: The reason a connection closed when Twisted gives none.
CLOSED = Failure(ConnectionClosed())


class FastAGIProtocol(LineOnlyReceiver):
    """Asterisk's side sends ``\\n``-terminated lines; so do we."""

    delimiter = b"\n"

    def __init__(self, factory: "FastAGIFactory") -> None:
        self.factory = factory
        self.MAX_LENGTH = factory.max_reply_line
        self.hangup_seen = False
        self.abort_reason: str | None = None
        self.environment: AgiEnvironment | None = None
        self._env: EnvironmentReader | None = EnvironmentReader()
        self._parser = ReplyParser()
        self._pending: PendingReply[Reply] | None = None
        self._env_timer: IDelayedCall | None = None
        self._closed = False
        #: Written to directly while it takes every byte (see _write).
        self._socket: socket.socket | None = None
        self._head = b""  # an environment line not complete yet
        self._junk = WarningBudget()  # lines that answer no command
        self._unanswered = 0  # lines since the last reply to a command

    def connectionMade(self) -> None:
        if not self.factory.admit(self):
            self._closed = True
            self.tcp.abortConnection()
            return
        self._env_timer = self.factory.clock.callLater(self.factory.env_timeout, self._env_timed_out)
        handle = getattr(self.transport, "getHandle", lambda: None)()
        self._socket = handle if isinstance(handle, socket.socket) else None

    def dataReceived(self, data: bytes) -> None:
        """The environment first (see _environment_data). Then a segment
        that is one whole ``200`` reply to the pending command, as nearly
        all are, goes straight to it; LineOnlyReceiver frames the rest."""
        if self._env is not None:
            self._environment_data(data)
            return
        if self._pending is not None and not self._buffer and self._parser.idle and not self._closed:
            reply = whole_200_reply(data, self.MAX_LENGTH)
            if reply is not None:
                self._answer(self._parser.answer(reply))
                return
        super().dataReceived(data)

    def _environment_data(self, data: bytes) -> None:
        """Environment lines straight from each segment: a couple of dozen
        lines in one or two segments, decoded at once (a newline byte is
        never part of another character)."""
        data = self._head + data
        end = data.rfind(b"\n") + 1  # just past the last complete line
        self._head = data[end:]
        if end:
            self._environment_lines(data[:end - 1])
        if self._env is not None and not self._closed and len(self._head) > self.MAX_LENGTH:
            self.lineLengthExceeded(self._head)

    def _environment_lines(self, block: bytes) -> None:
        """Complete lines, joined by newlines: the environment's, then (once
        it has ended) the first replies', for LineOnlyReceiver."""
        assert self._env is not None
        lines = block.split(b"\n")
        try:
            taken = self._env.feed_text(decode_line(block))
        except ValueError as exc:
            self.factory.warnings.warning("environment", "%s: closing: %s", self.peer, exc)
            self.abort(str(exc))
            return
        if max(map(len, lines[:taken])) > self.MAX_LENGTH:
            self.lineLengthExceeded(next(line for line in lines if len(line) > self.MAX_LENGTH))
        elif self._env.done:
            rest, self._head = b"".join(line + b"\n" for line in lines[taken:]) + self._head, b""
            self._start_call()
            if rest and not self._closed:
                super().dataReceived(rest)

    def lineReceived(self, line: bytes) -> None:
        if self._closed:
            return  # the rest of a segment that came with the line that closed the connection
        text = decode_line(line)
        try:
            reply = self._parser.feed(text)
        except AnswerTooLong as exc:
            self.factory.warnings.warning("long answer", "%s: %s; closing", self.peer, exc)
            self.abort(str(exc))
            return
        self.hangup_seen = self.hangup_seen or self._parser.hangup_seen
        if reply is None or self._pending is None:
            self._unanswered += 1
            if self._unanswered > MAX_LINES_WITHOUT_REPLY:
                self.factory.warnings.warning("lines answering nothing", "%s: %s; closing", self.peer,
                                              TOO_MANY_LINES_WITHOUT_REPLY)
                self.abort(TOO_MANY_LINES_WITHOUT_REPLY)
                return
        if reply is None:
            return
        if self._pending is None:
            if self._junk.take():
                log.warning("%s: unexpected line with no command pending: %r%s", self.peer, text[:200],
                            "; further ones from this connection are only counted" if self._junk.last else "")
            return
        self._answer(reply)

    def _answer(self, reply: Reply) -> None:
        """Hand the reply to the command in flight, which then may send the next."""
        assert self._pending is not None
        self._unanswered = 0
        pending, self._pending = self._pending, None
        pending.resolve(reply)

    def _start_call(self) -> None:
        assert self._env is not None
        self._cancel_env_timer()
        environment = self._env.environment()
        if not environment.values:  # an HTTP request, a scanner's probe: no Asterisk, no call, no CDR row
            self.factory.warnings.warning("environment", "%s: closing: no agi_* variable in the environment "
                                          "(not Asterisk's AGI)", self.peer)
            self.abort("no agi_* variable in the environment")
            return
        self.environment = environment
        self.hangup_seen = self._env.hangup_seen
        self._env = None
        self.factory.start_call(self, self.environment)

    def send(self, line: bytes) -> Awaitable[Reply]:
        """Write one command; awaiting the result gives its reply. Never two at once."""
        if self._closed:
            return Ready(error=ConnectionClosed("connection to Asterisk is closed"))
        if self._pending is not None:
            raise RuntimeError("a command is already in flight: AGI commands are never pipelined")
        self._pending = PendingReply()
        self._write(line)
        return self._pending

    def _write(self, data: bytes) -> None:
        """Send at once when the socket takes it all: one send() instead of
        Twisted's register-for-writing turn (two epoll changes and a reactor
        pass per command). Anything it does not take, and everything after
        that on this connection, goes through the transport's buffer."""
        if self._socket is not None:
            try:
                data = data[self._socket.send(data):]
            except OSError:
                pass  # full, or gone: the transport's buffer and its error handling take over
            if not data:
                return
            self._socket = None
        self.tcp.write(data)

    def close(self) -> None:
        """End the AGI: Asterisk sets AGISTATUS and the dialplan continues."""
        if not self._closed:
            self._closed = True
            self.tcp.loseConnection()

    def abort(self, reason: str) -> None:
        """Cut the connection now; a running call's CDR gives ``reason``."""
        self.abort_reason = reason
        self._closed = True
        self.tcp.abortConnection()

    @property
    def tcp(self) -> ITCPTransport:
        assert self.transport is not None, "not connected"
        return cast(ITCPTransport, self.transport)

    @property
    def peer(self) -> str:
        address = self.transport.getPeer() if self.transport else None
        return f"{getattr(address, 'host', '?')}:{getattr(address, 'port', '?')}"

    def lineLengthExceeded(self, line: bytes) -> None:
        self.factory.warnings.warning("long line", "%s: line longer than %d bytes; closing", self.peer, self.MAX_LENGTH)
        self.abort(f"Asterisk sent a line longer than max_reply_line ({self.MAX_LENGTH} bytes)")

    def _env_timed_out(self) -> None:
        self._env_timer = None
        self.factory.warnings.warning("environment timeout", "%s: no complete AGI environment within %.1fs; closing",
                                      self.peer, self.factory.env_timeout)
        self.abort("no complete environment in time")

    def _cancel_env_timer(self) -> None:
        if self._env_timer is not None and self._env_timer.active():
            self._env_timer.cancel()
        self._env_timer = None

    def connectionLost(self, reason: Failure = CLOSED) -> None:
        self._closed = True
        self._cancel_env_timer()
        if self._pending is not None:
            pending, self._pending = self._pending, None
            pending.reject(ConnectionClosed(f"connection lost: {reason.getErrorMessage()}"))
        if self._junk.suppressed:
            log.warning("%s: %d more unexpected lines were not logged", self.peer, self._junk.suppressed)
        self.factory.connection_gone(self)
