"""What a process that runs one call (``agiflow-agi``) needs of Twisted, and
only when it needs it.

Commands over stdin/stdout complete at once (``agi.ready.Ready``), so most calls never
need an event loop: the coroutine runs straight through, and Twisted is not
even imported (it costs a third of a second per call). Only when a step
awaits something really pending (a webhook's Deferred, a timer) is the rest
of the call handed to the Twisted reactor, which runs until the call ends.
Likewise ``OnDemandWebhooks`` imports the server's webhook sender only when
a flow posts a webhook.
"""
from __future__ import annotations

from collections.abc import Coroutine, Generator
from typing import Any, Callable, Mapping, TypeVar

from agi.services import WebhookResult

T = TypeVar("T")


def run_to_completion(coroutine: Coroutine[Any, Any, T]) -> T:
    """The coroutine's result (or its exception, raised here)."""
    try:
        pending = coroutine.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    return _run_on_reactor(coroutine, pending)


class _Resume:
    """Awaitable that goes on driving a coroutine which already yielded
    ``pending``; its yields reach Twisted's coroutine runner unchanged."""

    def __init__(self, coroutine: Coroutine[Any, Any, Any], pending: Any) -> None:
        self.coroutine = coroutine
        self.pending = pending

    def __await__(self) -> Generator[Any, Any, Any]:
        pending = self.pending
        while True:
            try:
                yield pending
            except GeneratorExit:
                self.coroutine.close()
                raise
            except BaseException as error:
                thrown: BaseException | None = error
            else:
                thrown = None
            try:
                pending = self.coroutine.send(None) if thrown is None else self.coroutine.throw(thrown)
            except StopIteration as done:
                return done.value


def _run_on_reactor(coroutine: Coroutine[Any, Any, T], pending: Any) -> T:
    from twisted.internet import defer
    from twisted.internet import reactor as installed
    from twisted.python.failure import Failure

    reactor: Any = installed

    async def rest() -> Any:
        return await _Resume(coroutine, pending)

    call = defer.Deferred.fromCoroutine(rest())
    outcome: list[Any] = []

    def finished(result: Any) -> None:
        outcome.append(result)
        if reactor.running:
            reactor.stop()

    call.addBoth(finished)
    if not outcome:
        reactor.run(installSignalHandlers=False)
    if isinstance(outcome[0], Failure):
        outcome[0].raiseException()
    return outcome[0]  # type: ignore[no-any-return]


class OnDemandWebhooks:
    """Webhooks for a process that runs one call: the server's sender
    (agi/server/webhooks.py), made on the first post, so that most calls
    never import Twisted; ``settle`` lets background posts finish before the
    process exits."""

    def __init__(self) -> None:
        self._sender: Any = None

    def _get(self) -> Any:
        if self._sender is None:
            from twisted.internet import reactor

            from agi.server.webhooks import TwistedWebhooks
            self._sender = TwistedWebhooks(reactor)
        return self._sender

    async def post(self, url: str, payload: Mapping[str, Any], timeout: float,
                   headers: Mapping[str, str]) -> WebhookResult:
        result: WebhookResult = await self._get().post(url, payload, timeout, headers)
        return result

    def post_in_background(self, url: str, payload: Mapping[str, Any], timeout: float,
                           headers: Mapping[str, str], done: Callable[[WebhookResult], None]) -> None:
        self._get().post_in_background(url, payload, timeout, headers, done)

    async def settle(self) -> None:
        """Wait for the background posts still in flight, if any."""
        if self._sender is not None and self._sender.in_flight:
            await self._sender.settle()
