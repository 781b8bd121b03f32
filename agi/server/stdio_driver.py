"""Run one call's coroutine to the end in a process of its own.

Commands over stdin/stdout complete at once (``agi.ready.Ready``), so most calls never
need an event loop: the coroutine runs straight through, and Twisted is not
even imported (it costs a third of a second per call). Only when a step
awaits something really pending (a webhook's Deferred, a timer) is the rest
of the call handed to the Twisted reactor, which runs until the call ends.
"""
from __future__ import annotations

from collections.abc import Coroutine, Generator
from typing import Any, TypeVar


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
            except BaseException as error:  # noqa: BLE001 - thrown back where the coroutine waits
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
