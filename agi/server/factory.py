"""Connections and calls: admission limits, starting each call's session,
closing the socket the moment a call ends, and draining on shutdown."""
from __future__ import annotations

import logging
import time
from typing import Any, Callable

from twisted.internet import defer
from twisted.internet.interfaces import IReactorTime
from twisted.internet.protocol import Factory
from twisted.python.failure import Failure

from agi.allowlist import AllowList
from agi.config import ServerConfig
from agi.metered import MeteredTransport
from agi.metrics import Metrics
from agi.engine.model import FlowSet
from agi.log_output import RateLimitedWarnings
from agi.protocol.environment import AgiEnvironment
from agi.server.protocol import FastAGIProtocol
from agi.server.runner import CallRunner
from agi.services import Services
from agi.session import CdrSink, SessionSettings, run_session

log = logging.getLogger("agiflow.server")


class FastAGIFactory(Factory):
    """Builds one protocol per connection and runs one session per call."""

    noisy = False

    def __init__(self, flows: Callable[[], FlowSet], cdr: CdrSink, config: ServerConfig,
                 clock: IReactorTime, wallclock: Callable[[], float] = time.time,
                 services: Services | None = None, metrics: Metrics | None = None,
                 node: str | None = None, worker: int | None = None) -> None:
        self.flows = flows
        self.cdr = cdr
        self.config = config
        self.clock = clock
        self.wallclock = wallclock
        self.services = services or Services()
        #: When set, each call's AGI commands are timed (agi.metered.MeteredTransport).
        self.metrics = metrics
        self.settings = SessionSettings(max_line=config.max_command_line, fallback=config.fallback,
                                        node=node, worker=worker)
        self.env_timeout = config.env_timeout
        self.max_reply_line = config.max_reply_line
        self.allow = AllowList.parse(config.allow)
        self.warnings = RateLimitedWarnings(log, clock.seconds)
        self.accepting = True
        self.connections: set[FastAGIProtocol] = set()
        self.calls: dict[FastAGIProtocol, CallRunner] = {}
        self.rejected = 0
        self.finished = 0
        self._idle: list[defer.Deferred[None]] = []

    def buildProtocol(self, addr: Any) -> FastAGIProtocol:
        return FastAGIProtocol(self)

    def admit(self, proto: FastAGIProtocol) -> bool:
        """Refuse connections from outside the allowlist, beyond max_calls or
        while draining; count every refusal."""
        host = getattr(proto.tcp.getPeer(), "host", "")
        reason = None
        if not self.allow.allows(host):
            reason = f"{host} is not in server.allow"
        elif not self.accepting:
            reason = "the server is shutting down"
        elif len(self.connections) >= self.config.max_calls:
            reason = f"max_calls ({self.config.max_calls}) reached"
        if reason:
            self.rejected += 1
            self.warnings.warning("refused", "refused connection from %s: %s (%d refused so far)",
                                  host, reason, self.rejected)
            return False
        self.connections.add(proto)
        return True

    def start_call(self, proto: FastAGIProtocol, env: AgiEnvironment) -> None:
        transport = proto if self.metrics is None else MeteredTransport(proto, self.metrics)
        session = run_session(env, transport, self.flows(), self.cdr, self.settings, self.wallclock, self.services)
        call = CallRunner(session, lambda result: self._call_done(result, proto))
        self.calls[proto] = call
        call.start()

    def _call_done(self, result: object, proto: FastAGIProtocol) -> None:
        if isinstance(result, Failure):
            log.error("call session failed outside its boundary: %s", result.getTraceback())
        self.calls.pop(proto, None)
        self.finished += 1
        proto.close()
        self._check_idle()

    def connection_gone(self, proto: FastAGIProtocol) -> None:
        self.connections.discard(proto)
        self._check_idle()

    def _check_idle(self) -> None:
        if not self.calls and not self.connections:
            waiting, self._idle = self._idle, []
            for d in waiting:
                d.callback(None)

    def drain(self, timeout: float) -> "defer.Deferred[None]":
        """Stop accepting; let running calls end for up to ``timeout``
        seconds, then cut the rest (their CDRs say interrupted)."""
        self.accepting = False
        if not self.connections and not self.calls:
            return defer.succeed(None)
        log.info("draining %d calls%s (up to %.0fs)", len(self.calls), self._still_sending(), timeout)
        idle: defer.Deferred[None] = defer.Deferred()
        self._idle.append(idle)
        timer = self.clock.callLater(timeout, self._cut_remaining)

        def stop_timer(result: Any) -> Any:
            if timer.active():
                timer.cancel()
            return result

        return idle.addBoth(stop_timer)

    def _still_sending(self) -> str:
        """The connections that have not sent their environment yet (each
        gets up to ``env_timeout`` to become a call), for the drain's lines."""
        waiting = len(self.connections) - len(self.calls)
        return f" and {waiting} connections still sending their environment" if waiting > 0 else ""

    def _cut_remaining(self) -> None:
        log.warning("drain timeout: cutting %d calls%s", len(self.calls), self._still_sending())
        reason = "the server cut the call at the end of the drain timeout"
        for proto in list(self.connections):
            proto.abort(reason)
        for proto, call in list(self.calls.items()):
            # a call may outlive its connection, waiting for a webhook or the database
            proto.abort_reason = proto.abort_reason or reason
            call.cut()
