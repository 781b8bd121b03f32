"""Blocking work of a call (a history lookup, a PIN check, an override
change) for ``agiflow serve``: run in the reactor's thread pool, never on
the reactor thread, and bounded by a timeout, so a slow database costs the
one call that asked (at most its timeout), never the other calls."""
from __future__ import annotations

from typing import Any, Callable

from twisted.internet import defer, threads
from twisted.internet.interfaces import IReactorThreads, IReactorTime

from agi.services import OffloadTimeout


class ThreadOffload:
    """``Services.offload`` for the server."""

    def __init__(self, reactor: Any) -> None:
        self.reactor: IReactorTime = reactor
        self.threads: IReactorThreads = reactor

    async def __call__(self, timeout: float, work: Callable[..., Any], *args: Any) -> Any:
        pool = self.threads.getThreadPool()
        running = threads.deferToThreadPool(self.threads, pool, work, *args)  # type: ignore[arg-type]
        running.addTimeout(timeout, self.reactor)
        try:
            return await running
        except defer.TimeoutError:
            raise OffloadTimeout(f"no answer within {timeout:g} s") from None
