"""The ``history`` step's lookups for ``agiflow serve``: run in the
reactor's thread pool, never on the reactor thread, and bounded by the
query's timeout, so a slow database costs the one call that asked (at most
its timeout), never the other calls."""
from __future__ import annotations

from typing import Any, Protocol

from agi.server.offload import ThreadOffload
from agi.services import CallHistorySummary, HistoryQuery, HistoryUnavailable, OffloadTimeout


class HistoryReader(Protocol):
    def summary(self, query: HistoryQuery) -> CallHistorySummary:
        """The lookup itself, run in a thread; raises HistoryUnavailable."""


class ThreadedHistory:
    """``CallHistory`` whose lookups run ``reader.summary`` in a thread."""

    def __init__(self, reader: HistoryReader, reactor: Any) -> None:
        self.reader = reader
        self.offload = ThreadOffload(reactor)

    async def lookup(self, query: HistoryQuery) -> CallHistorySummary:
        try:
            summary: CallHistorySummary = await self.offload(query.timeout, self.reader.summary, query)
        except OffloadTimeout:
            raise HistoryUnavailable(f"no answer from the database within {query.timeout:g} s") from None
        return summary
