"""Runs a call's coroutine on the reactor without a Deferred per command.

A call awaits thirteen or so AGI replies. Through ``Deferred.fromCoroutine``
each one costs a Deferred, its callback chain and a pass through
``_inlineCallbacks``: a tenth of the server's CPU per call. Here the
protocol hands each reply straight to the waiting coroutine: it awaits a
``PendingReply``, and ``resolve`` resumes it. Anything else it awaits (a
Deferred, such as a webhook's HTTP request) resumes it from a callback.
"""
from __future__ import annotations

from collections.abc import Coroutine, Generator
from typing import Any, Callable, Generic, TypeVar

from twisted.internet.defer import Deferred
from twisted.python.failure import Failure

T = TypeVar("T")


class PendingReply(Generic[T]):
    """The answer to the command in flight; awaiting it suspends the call
    until the protocol resolves it (at once when it is already resolved)."""

    __slots__ = ("done", "_value", "_error", "_wake")

    def __init__(self) -> None:
        self.done = False
        self._value: T | None = None
        self._error: BaseException | None = None
        self._wake: Callable[[], None] | None = None

    def resolve(self, value: T) -> None:
        self._settle(value, None)

    def reject(self, error: BaseException) -> None:
        self._settle(None, error)

    def _settle(self, value: T | None, error: BaseException | None) -> None:
        if self.done:
            raise RuntimeError("this reply is already settled")
        self.done, self._value, self._error = True, value, error
        wake, self._wake = self._wake, None
        if wake is not None:
            wake()

    def __await__(self) -> Generator[Any, None, T]:
        if not self.done:
            yield self
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]


class CallRunner:
    """Drives one coroutine to its end, then calls ``done`` with its return
    value, or with a Failure if it raised."""

    def __init__(self, coroutine: Coroutine[Any, Any, T], done: Callable[[T | Failure], object]) -> None:
        self._coroutine = coroutine
        self._done = done
        #: The Deferred the call waits for (a webhook, a database read), if any.
        self._waiting: Deferred[Any] | None = None
        self._cut = False

    def cut(self) -> None:
        """Stop waiting: the Deferred the call waits for now, and any it
        waits for from now on, is cancelled (CancelledError where it waits),
        so that the call ends at once rather than at that wait's own timeout."""
        self._cut = True
        if self._waiting is not None:
            self._waiting.cancel()

    def start(self) -> None:
        self._resume()

    def _resume(self, error: BaseException | None = None) -> None:
        try:
            if error is None:
                awaited = self._coroutine.send(None)
            else:
                awaited = self._coroutine.throw(error)
        except StopIteration as stop:
            self._done(stop.value)
            return
        except BaseException:
            self._done(Failure())
            return
        if isinstance(awaited, PendingReply):
            awaited._wake = self._resume
        elif isinstance(awaited, Deferred):
            self._waiting = awaited
            awaited.addBoth(self._resumed_by_deferred)
            if self._cut and self._waiting is awaited:
                awaited.cancel()
        else:
            self._resume(TypeError(f"a call awaited {awaited!r}, which is neither a reply nor a Deferred"))

    def _resumed_by_deferred(self, result: object) -> None:
        """A result is read by the coroutine from the Deferred, which still
        holds it while this callback runs; a failure is thrown in where it
        waits. Returning None consumes either."""
        self._waiting = None
        self._resume(result.value if isinstance(result, Failure) else None)
