"""A call's database work off the reactor, in one small thread pool: on
PostgreSQL, schedule override reads (list lookups are sent from the reactor
without blocking, agi/server/pg_reactor.py; only their connections are
opened here); on either
backend, the ``history`` step's lookups and the blocking work steps hand to
``Services.offload`` (PIN checks with scrypt, override changes, the audit
log). A call waits for the answer at most ``timeout`` seconds
(``database_timeout``; a history lookup and offloaded work give their own). A lookup that gets no
answer in time, or finds every thread busy and ``MAX_WAITING`` lookups
already waiting, is ``ListUnavailable`` at once: the step takes its
``error`` outcome (a do-not-call check fails closed). An override read
that gets no answer is ``OverridesUnavailable``: the call uses the
schedule alone. A thread that is still waiting on a stopped server is not
freed by the timeout; the pool is bounded, so such threads are never more
than ``THREADS``, and they come back when the server answers or the
connection breaks (TCP keepalives, docs/database.md). A read the call
stopped waiting for keeps its place until a thread has run it, so no more
than ``MAX_WAITING`` ever wait behind the threads (once, each timed-out
read left its place while it still waited: a frozen database let calls
queue reads without bound, and once it answered the pool went through the
stale ones first).
"""
from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, Callable, Protocol, TypeVar

from twisted.internet import defer
from twisted.internet.threads import deferToThreadPool
from twisted.python.failure import Failure
from twisted.python.threadpool import ThreadPool

from agi.services import CallHistorySummary, HistoryQuery, HistoryUnavailable, ListHit, ListUnavailable, \
    NumberLists, OffloadTimeout, Override, OverridesUnavailable, ScheduleOverrides, Services

log = logging.getLogger("agiflow.database")

#: Threads that read PostgreSQL for calls.
THREADS = 4
#: Reads that may wait for a thread; past that a read fails at once.
MAX_WAITING = 64

T = TypeVar("T")


class HistoryReader(Protocol):
    def summary(self, query: HistoryQuery) -> CallHistorySummary:
        """The lookup itself, run in a thread; raises HistoryUnavailable."""


class DatabaseThreads:
    """The bounded pool, and how many reads are in it."""

    def __init__(self, reactor: Any, timeout: float, threads: int = THREADS, pool: Any = None) -> None:
        self.reactor = reactor
        self.timeout = timeout
        self.pool = pool if pool is not None else ThreadPool(minthreads=0, maxthreads=threads, name="agiflow-database")
        self.in_flight = 0
        self.limit = threads + MAX_WAITING

    def start(self) -> None:
        self.pool.start()

    def stop(self) -> None:
        self.pool.stop()

    def run(self, work: Callable[..., Any], *args: Any, failure: Callable[[str], Exception],
            timeout: float | None = None) -> "defer.Deferred[Any]":
        """``work(*args)`` in the pool; fails with ``failure(reason)`` when
        it takes longer than ``timeout`` (None: the pool's) or too many
        reads already wait."""
        if self.in_flight >= self.limit:
            return defer.fail(failure(f"{self.in_flight} database reads already waiting"))
        self.in_flight += 1
        answer: defer.Deferred[Any] = defer.Deferred()

        def done(result: Any) -> None:
            """The work has run: its place is free (not before, even when the
            call stopped waiting: it still held a thread or a place in line)."""
            self.in_flight -= 1
            if not answer.called:
                answer.errback(result) if isinstance(result, Failure) else answer.callback(result)

        def timed_out(result: Any, timeout: float) -> Failure:
            return Failure(failure(f"no answer from the database within {timeout:g}s"))

        deferToThreadPool(self.reactor, self.pool, work, *args).addBoth(done)
        answer.addTimeout(self.timeout if timeout is None else timeout, self.reactor, onTimeoutCancel=timed_out)
        return answer

    async def offload(self, timeout: float, work: Callable[..., Any], *args: Any) -> Any:
        """``Services.offload``: ``work(*args)`` in the pool, its result or
        its exception; OffloadTimeout after ``timeout`` seconds or when too
        many already wait."""
        return await self.run(work, *args, failure=OffloadTimeout, timeout=timeout)


class ThreadedLists:
    """``NumberLists`` whose lookups run in the pool."""

    def __init__(self, store: NumberLists, threads: DatabaseThreads) -> None:
        self.store = store
        self.threads = threads

    def match(self, list_name: str, number: str) -> "defer.Deferred[ListHit | None]":
        return self.threads.run(self.store.match, list_name, number,
                                failure=lambda why: ListUnavailable(f"cannot read number list {list_name!r}: {why}"))


class ThreadedOverrides:
    """``ScheduleOverrides`` whose reads run in the pool."""

    def __init__(self, store: ScheduleOverrides, threads: DatabaseThreads) -> None:
        self.store = store
        self.threads = threads

    def active(self, schedule: str, at: datetime) -> "defer.Deferred[Override | None]":
        return self.threads.run(self.store.active, schedule, at, failure=OverridesUnavailable)

    def unexpired(self, schedule: str, at: datetime) -> "defer.Deferred[Override | None]":
        return self.threads.run(self.store.unexpired, schedule, at, failure=OverridesUnavailable)


class ThreadedHistory:
    """``CallHistory`` whose lookups run ``reader.summary`` in the pool,
    each bounded by its query's timeout."""

    def __init__(self, reader: HistoryReader, threads: DatabaseThreads) -> None:
        self.reader = reader
        self.threads = threads

    async def lookup(self, query: HistoryQuery) -> CallHistorySummary:
        summary: CallHistorySummary = await self.threads.run(self.reader.summary, query, timeout=query.timeout,
                                                             failure=HistoryUnavailable)
        return summary


def off_the_reactor(services: Services, threads: DatabaseThreads, *, postgres: bool) -> Services:
    """``services`` with their blocking work run through ``threads``:
    history lookups and ``offload`` on either backend; list lookups (see
    ``lookups_on_the_reactor``) and override reads on PostgreSQL (SQLite's are local, indexed and read on
    the reactor)."""
    if postgres and services.lists is not None:
        services.lists = ThreadedLists(services.lists, threads)
    if postgres and services.overrides is not None:
        services.overrides = ThreadedOverrides(services.overrides, threads)
    if services.history is not None:
        services.history = ThreadedHistory(services.history, threads)  # type: ignore[arg-type]
    services.offload = threads.offload
    return services
