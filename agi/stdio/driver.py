"""Run one call's coroutine to the end in a process of its own.

Channel commands over stdin/stdout complete at once, so most calls never
need an event loop: the coroutine runs straight through. Only when a step
awaits something really pending (a webhook, a timer) is the Twisted reactor
imported and run until the call is done.
"""
from __future__ import annotations

from typing import Any, Coroutine, TypeVar

from twisted.internet import defer
from twisted.python.failure import Failure

T = TypeVar("T")


def run_to_completion(coroutine: Coroutine[Any, Any, T]) -> T:
    """The coroutine's result (or its exception, raised here)."""
    call = defer.Deferred.fromCoroutine(coroutine)
    if not call.called:
        _run_reactor_until(call)
    outcome: list[Any] = []
    call.addBoth(outcome.append)
    result = outcome[0]
    if isinstance(result, Failure):
        result.raiseException()
    return result  # type: ignore[no-any-return]


def _run_reactor_until(call: "defer.Deferred[Any]") -> None:
    from twisted.internet import reactor as installed

    reactor: Any = installed

    def stop(result: Any) -> Any:
        if reactor.running:
            reactor.stop()
        return result

    call.addBoth(stop)
    if not call.called:
        reactor.run(installSignalHandlers=False)
