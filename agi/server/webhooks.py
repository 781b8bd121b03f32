"""Webhooks for ``agiflow serve``: HTTP POSTs on the reactor with
twisted.web's Agent. Nothing here blocks: a slow or dead endpoint costs
the call that waits for it (at most its timeout), never another call.

Every POST has a connect timeout and a total timeout (connect, send,
response and body) enforced with ``Deferred.addTimeout``; on expiry the
connection is aborted. An endpoint cannot grow the server either: at most
MAX_RESPONSE bytes of its answer (status line, headers and body) are read,
and only the body's first EXCERPT bytes are kept. Host names are looked up
in threads of the sender's own (RESOLVER_THREADS), never in the reactor's
pool, where a name server that does not answer would hold every thread
that ``/ready`` and flow loads need. Results are ``WebhookResult``s, never
exceptions.
"""
from __future__ import annotations

import logging
import re
import socket
import threading
from functools import partial
from typing import Any, Callable, Mapping

from twisted.internet import defer, protocol
from twisted.internet._resolver import GAIResolver
from twisted.internet.interfaces import (IHostnameResolver, IReactorPluggableNameResolver, IReactorTime,
                                         IResolutionReceiver)
from twisted.python.failure import Failure
from twisted.python.threadpool import ThreadPool
from twisted.web._newclient import HTTP11ClientProtocol
from twisted.web.client import Agent, HTTPConnectionPool, _HTTP11ClientFactory, _StandardEndpointFactory
from twisted.web.http_headers import Headers
from twisted.web.iweb import IBodyProducer, IResponse
from zope.interface import implementer

from agi.log_output import shorten
from agi.server.https_names import NamedHostPolicy
from agi.services import WebhookResult
from agi.webhooks import basic_auth, encode, request_headers, url_problem, wire_url

log = logging.getLogger("agiflow.webhooks")

#: Bytes of an endpoint's answer read at most; the connection is cut past them.
MAX_RESPONSE = 65536
#: Bytes of the body kept for the log and the CDR when the status is not 2xx.
EXCERPT = 200


class AnswerTooLong(Exception):
    """An endpoint's answer went past MAX_RESPONSE bytes."""


class NotHttp(Exception):
    """An answer whose status line is not HTTP/1.x with a three-digit code."""


#: A status line as RFC 9112 writes it: Twisted's own reading takes any
#: int() (``+200``, ``2_00``, ``0200``, 4,000 digits).
_STATUS_LINE = re.compile(rb"HTTP/1\.[01] [1-5][0-9]{2}(?: .*)?", re.DOTALL)


def _checked_status(read: Callable[[bytes], None], status: bytes) -> None:
    if not _STATUS_LINE.fullmatch(status):
        raise NotHttp(f"not an HTTP status line: {status[:EXCERPT]!r}")
    read(status)


@implementer(IBodyProducer)
class _Body:
    """The whole JSON body at once (no cooperator needed)."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.length = len(data)

    def startProducing(self, consumer: Any) -> "defer.Deferred[None]":
        consumer.write(self.data)
        return defer.succeed(None)

    def pauseProducing(self) -> None:
        pass

    def resumeProducing(self) -> None:
        pass

    def stopProducing(self) -> None:
        pass


class _BoundedClientProtocol(HTTP11ClientProtocol):
    """HTTP/1.1 that reads at most MAX_RESPONSE bytes of an answer, then cuts
    the connection (an answer that never ends is not kept in memory)."""

    received = 0

    def request(self, request: Any) -> Any:
        sending = super().request(request)
        parser: Any = self._parser
        if parser is not None:  # None when the request was not sent
            parser.statusReceived = partial(_checked_status, parser.statusReceived)
        return sending

    def dataReceived(self, bytes: bytes) -> None:
        room = MAX_RESPONSE - self.received
        self.received += len(bytes)
        if self.received > MAX_RESPONSE:
            if room > 0:  # the answer's first MAX_RESPONSE bytes are read, however they were cut into reads
                super().dataReceived(bytes[:room])
            if self.transport is not None:
                self.transport.abortConnection()  # type: ignore[attr-defined]
            # The parser hears why: an answer whose headers never ended fails
            # saying so (it said 'Connection was closed cleanly'); a body cut
            # ends with what was read.
            self._disconnectParser(Failure(AnswerTooLong(f"the answer is longer than {MAX_RESPONSE} bytes")))
            return
        super().dataReceived(bytes)


class _QuietFactory(_HTTP11ClientFactory):
    """No "Starting factory" log line for every webhook; bounded answers."""

    noisy = False

    def buildProtocol(self, addr: Any) -> HTTP11ClientProtocol:
        return _BoundedClientProtocol(self._quiescentCallback)


class _Excerpt(protocol.Protocol):
    """Keeps the first EXCERPT bytes of a body, drops the rest, and fires
    with them however the body ends (complete, cut or aborted)."""

    def __init__(self, done: "defer.Deferred[bytes]") -> None:
        self.done = done
        self.kept = b""

    def dataReceived(self, data: bytes) -> None:
        if len(self.kept) < EXCERPT:
            self.kept += data[:EXCERPT - len(self.kept)]

    def connectionLost(self, reason: Failure = protocol.connectionDone) -> None:
        if not self.done.called:
            self.done.callback(self.kept)


def _read_excerpt(response: IResponse) -> "defer.Deferred[bytes]":
    """The start of the body; cancelling it aborts the connection and fires
    it with what was kept (the answer's status is known by then)."""
    def cancel(done: "defer.Deferred[bytes]") -> None:
        abort = getattr(reader.transport, "abortConnection", None)
        if abort is not None:
            abort()
        if not done.called:
            done.callback(reader.kept)

    reader = _Excerpt(defer.Deferred(cancel))
    response.deliverBody(reader)
    return reader.done


#: Background webhooks (``wait: false``) in flight at most: each holds a
#: socket until its answer or its timeout (up to 60 s), and the calls do not
#: wait for them, so an endpoint that never answers would otherwise take the
#: file descriptors new calls need. One more is not sent: it fails at once.
MAX_BACKGROUND = 64


#: Host name lookups (getaddrinfo) webhooks run at once. Each holds a thread
#: until its name server answers or gives up (seconds when it does not
#: answer); the webhook's own timeout does not stop it.
RESOLVER_THREADS = 4
#: Lookups that may wait for a thread or a name server at once. A webhook's
#: timeout does not take its lookup back, so a name server that does not
#: answer would let them pile up without end; past this many a webhook
#: fails at once, unsent.
MAX_LOOKUPS = 64


class _DaemonThreadPool(ThreadPool):
    def threadFactory(self, *args: Any, **kwargs: Any) -> threading.Thread:  # type: ignore[override]
        return threading.Thread(*args, daemon=True, **kwargs)


#: Addresses of a host name a webhook tries at most. Twisted starts one more
#: connection every 0.3 s while the others still wait, each holding a socket
#: until the webhook's timeout: a name with 200 addresses that drop every
#: packet held 200 sockets for one webhook.
MAX_ADDRESSES = 4


@implementer(IHostnameResolver)
class _FirstAddresses:
    """A name resolver that hands on only the first MAX_ADDRESSES addresses."""

    def __init__(self, resolver: IHostnameResolver) -> None:
        self._resolver = resolver

    def resolveHostName(self, resolutionReceiver: Any, hostName: str, portNumber: int = 0,
                        addressTypes: Any = None, transportSemantics: str = "TCP") -> Any:
        return self._resolver.resolveHostName(_Counted(resolutionReceiver), hostName, portNumber, addressTypes,
                                              transportSemantics)


@implementer(IResolutionReceiver)
class _Counted:
    """A resolution receiver that lets MAX_ADDRESSES addresses through."""

    def __init__(self, receiver: Any) -> None:
        self._receiver = receiver
        self._left = MAX_ADDRESSES

    def resolutionBegan(self, resolution: Any) -> None:
        self._receiver.resolutionBegan(resolution)

    def addressResolved(self, address: Any) -> None:
        if self._left > 0:
            self._left -= 1
            self._receiver.addressResolved(address)

    def resolutionComplete(self) -> None:
        self._receiver.resolutionComplete()


@implementer(IReactorPluggableNameResolver)
class _ResolvingReactor:
    """The reactor, as the webhooks' connections see it: with their own
    name resolver."""

    def __init__(self, reactor: Any, resolver: IHostnameResolver) -> None:
        self._reactor = reactor
        self.nameResolver = resolver

    def installNameResolver(self, resolver: IHostnameResolver) -> IHostnameResolver:
        previous, self.nameResolver = self.nameResolver, resolver
        return previous

    def __getattr__(self, name: str) -> Any:
        return getattr(self._reactor, name)


class TwistedWebhooks:
    """Posts webhooks from the reactor; remembers those still in flight so
    shutdown can let them finish (each ends within its timeout).
    ``resolver`` looks up host names (default: getaddrinfo in RESOLVER_THREADS
    threads of its own, started at the first lookup)."""

    def __init__(self, reactor: Any, resolver: IHostnameResolver | None = None) -> None:
        self.reactor: IReactorTime = reactor
        self.in_flight: set[defer.Deferred[WebhookResult]] = set()
        self.background = 0
        self.pool = HTTPConnectionPool(reactor, persistent=False)  # a POST is never retried on a stale connection
        self.pool._factory = _QuietFactory
        self._tls = NamedHostPolicy()
        self._lookups: ThreadPool | None = None
        self._counting = threading.Lock()
        self.lookups = 0  # lookups waiting for a thread or a name server
        self._connecting = _ResolvingReactor(reactor, _FirstAddresses(
            resolver or GAIResolver(reactor, self._lookup_threads, getaddrinfo=self._getaddrinfo)))

    def _lookup_threads(self) -> ThreadPool:
        """The name lookups' own threads, started when first needed; the
        resolver asks for them once a lookup, so a lookup is counted here
        (``_getaddrinfo`` counts it off). They are daemon threads and
        nothing waits for them: a lookup still waiting for a name server
        must not hold up the server's exit."""
        with self._counting:
            self.lookups += 1
        if self._lookups is None:
            self._lookups = _DaemonThreadPool(minthreads=0, maxthreads=RESOLVER_THREADS, name="agiflow-webhook-dns")
            self._lookups.start()
        return self._lookups

    def _getaddrinfo(self, host: bytes | str | None, port: bytes | str | int | None, family: int = 0,
                     type: int = 0, proto: int = 0, flags: int = 0) -> Any:
        """getaddrinfo, counted until it ends (in a lookup thread)."""
        try:
            return socket.getaddrinfo(host, port, family, type, proto, flags)
        finally:
            with self._counting:
                self.lookups -= 1

    async def post(self, url: str, payload: Mapping[str, Any], timeout: float,
                   headers: Mapping[str, str]) -> WebhookResult:
        return await self._send(url, payload, timeout, headers)

    def post_in_background(self, url: str, payload: Mapping[str, Any], timeout: float,
                           headers: Mapping[str, str], done: Callable[[WebhookResult], None]) -> None:
        if self.background >= MAX_BACKGROUND:
            _report(WebhookResult(False, error=f"not sent: {MAX_BACKGROUND} background webhooks already "
                                               "wait for their answers"), done)
            return
        self.background += 1
        sending = self._send(url, payload, timeout, headers)
        sending.addCallback(self._background_done, done)

    def _background_done(self, result: WebhookResult, done: Callable[[WebhookResult], None]) -> None:
        self.background -= 1
        _report(result, done)

    def settle(self) -> "defer.Deferred[Any]":
        """Fires once every webhook in flight now has its result."""
        return defer.DeferredList(list(self.in_flight), consumeErrors=True)

    def _send(self, url: str, payload: Mapping[str, Any], timeout: float,
              headers: Mapping[str, str]) -> "defer.Deferred[WebhookResult]":
        problem = url_problem(url)
        if problem:
            return defer.succeed(WebhookResult(False, error=problem))
        if self.lookups >= MAX_LOOKUPS:
            return defer.succeed(WebhookResult(False, error=f"not sent: {MAX_LOOKUPS} host name lookups already "
                                                            "wait for a name server"))
        try:
            endpoints = _StandardEndpointFactory(self._connecting, self._tls, timeout, None)
            agent = Agent.usingEndpointFactory(self.reactor, endpoints, pool=self.pool)
            target, sending_headers = basic_auth(url, headers)
            sent = agent.request(b"POST", wire_url(target).encode("ascii"), _headers(sending_headers),
                                 _Body(encode(payload)))
        except NotImplementedError:
            return defer.succeed(WebhookResult(False, error="HTTPS needs Twisted's TLS support: "
                                                            "pip install 'Twisted[tls]'"))
        except Exception as exc:
            return defer.succeed(WebhookResult(False, error=f"cannot send: {exc}"))
        sending: defer.Deferred[WebhookResult] = sent.addCallback(_response)
        sending.addTimeout(timeout, self.reactor, onTimeoutCancel=_timed_out)
        sending.addErrback(_failed)
        self.in_flight.add(sending)
        sending.addBoth(self._forget, sending)
        return sending

    def _forget(self, result: Any, sending: "defer.Deferred[WebhookResult]") -> Any:
        self.in_flight.discard(sending)
        return result


def _headers(headers: Mapping[str, str]) -> Headers:
    """Names are ASCII (the schema's); values are sent as UTF-8, as the body
    is: a caller name in any script, not only Latin-1 (docs/steps.md)."""
    return Headers({name.encode("ascii"): [str(value).encode("utf-8")]
                    for name, value in request_headers(headers).items()})


def _response(response: IResponse) -> "defer.Deferred[WebhookResult]":
    """Read the body (keeping its start), so the connection ends cleanly; 2xx is ok."""
    code = response.code

    def result(body: bytes) -> WebhookResult:
        if 200 <= code < 300:
            return WebhookResult(True, status=code)
        excerpt = body[:200].decode("utf-8", "replace").strip()
        return WebhookResult(False, status=code, error=f"HTTP {code}" + (f": {excerpt}" if excerpt else ""))

    reading: defer.Deferred[bytes] = _read_excerpt(response)
    return reading.addCallback(result)


def _timed_out(result: Any, timeout: float) -> WebhookResult:
    """What a POST cut by its timeout gives: the answer's status when it
    came in time and only its body was still arriving (a 2xx is ok), else
    a failure, whatever the cancelled request failed with (CancelledError,
    or ResponseNeverReceived)."""
    if isinstance(result, WebhookResult):
        return result
    return WebhookResult(False, error=f"no answer within {timeout:g}s")


def _failed(failure: Failure) -> WebhookResult:
    """Each reason's message cut at EXCERPT characters: Twisted's quote what
    the endpoint sent (a 15 KB header line), and the error goes to the CDR."""
    reasons = getattr(failure.value, "reasons", None)
    if reasons:
        return WebhookResult(False, error="; ".join(shorten(r.getErrorMessage(), EXCERPT) for r in reasons))
    kind = failure.type.__name__ if failure.type is not None else "error"
    return WebhookResult(False, error=shorten(f"{kind}: {failure.getErrorMessage()}", EXCERPT))


def _report(result: WebhookResult, done: Callable[[WebhookResult], None]) -> None:
    try:
        done(result)
    except Exception:
        log.exception("reporting a webhook result failed")

