"""The ``history`` step's lookups for ``agiflow serve``: run in the
reactor's thread pool, never on the reactor thread, and bounded by the
query's timeout, so a slow database costs the one call that asked (at most
its timeout), never the other calls."""
from __future__ import annotations

from typing import Any, Protocol

from twisted.internet import defer, threads
from twisted.internet.interfaces import IReactorThreads, IReactorTime

from agi.services import CallHistorySummary, HistoryQuery, HistoryUnavailable


class HistoryReader(Protocol):
    def summary(self, query: HistoryQuery) -> CallHistorySummary:
        """The lookup itself, run in a thread; raises HistoryUnavailable."""


class ThreadedHistory:
    """``CallHistory`` whose lookups run ``reader.summary`` in a thread."""

    def __init__(self, reader: HistoryReader, reactor: Any) -> None:
        self.reader = reader
        self.reactor: IReactorTime = reactor
        self.threads: IReactorThreads = reactor

    async def lookup(self, query: HistoryQuery) -> CallHistorySummary:
        pool = self.threads.getThreadPool()
        running = threads.deferToThreadPool(self.threads, pool, self.reader.summary, query)  # type: ignore[arg-type]
        running.addTimeout(query.timeout, self.reactor)
        try:
            return await running
        except defer.TimeoutError:
            raise HistoryUnavailable(f"no answer from the database within {query.timeout:g} s") from None
