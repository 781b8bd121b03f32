"""Number list lookups on PostgreSQL sent and read on the reactor thread.

A do-not-call check is one short statement; handing it to a thread and
back cost more than the statement itself (docs/benchmarks.md). So the
server keeps a few connections whose sockets the reactor watches: a lookup
takes an idle one, sends ``MATCH`` with libpq's non-blocking calls and is
answered when the reply arrives, without any thread. Only opening a
connection (rare: at the first lookups and after a failure) runs in the
database threads.

The bounds are those of ``ThreadedLists`` (agi/server/database_threads.py):
at most ``THREADS`` connections, ``MAX_WAITING`` lookups waiting for one,
an answer within ``database_timeout`` or ``ListUnavailable`` (the step's
``error`` outcome: a do-not-call check fails closed). A connection whose
lookup timed out is closed (its statement may still be running) and keeps
its place until the server's statement timeout has ended that statement,
so a locked or slow table never has more than ``THREADS`` connections a
process waiting on it; one the server closed is noticed at once, even idle,
and replaced; a lookup that finds its connection gone runs once more on a
fresh one.
"""
from __future__ import annotations

import json
import os
from collections import deque
from typing import Any, Generator

import psycopg
from psycopg import pq
from twisted.internet import defer
from twisted.python.failure import Failure
from zope.interface import implementer
from twisted.internet.interfaces import IReadDescriptor, IWriteDescriptor

from agi.db import postgres as pg
from agi.db.postgres_params import pyformat
from agi.db import postgres_sql as pgsql
from agi.lists.pg_store import Match, PostgresNumberLists, parse_match
from agi.metered import MeteredLists
from agi.server.database_threads import MAX_WAITING, THREADS, DatabaseThreads, ThreadedLists
from agi.services import ListHit, ListUnavailable, Services

#: How long after the server's statement timeout a closed connection's backend is taken to be gone.
_STATEMENT_END_MARGIN = 0.05
_MATCH = pyformat(pgsql.MATCH).replace("%s", "$1", 1).replace("%s", "$2", 1).encode()


class ConnectionGone(Exception):
    """The connection broke (the server closed it or cannot be reached)."""


class QueryFailed(Exception):
    """The server answered with an error (a statement timeout...); the connection is still good."""


def text_array(items: list[str]) -> bytes:
    """``items`` as a PostgreSQL array literal of texts."""
    quoted = ('"' + item.replace("\\", "\\\\").replace('"', '\\"') + '"' for item in items)
    return ("{" + ",".join(quoted) + "}").encode()


@implementer(IReadDescriptor, IWriteDescriptor)
class ReactorConnection:
    """One libpq connection in non-blocking mode; the reactor watches a
    duplicate of its socket (so that a number reused after libpq closes
    its own can never be watched by mistake) for as long as it is open."""

    def __init__(self, reactor: Any, conn: psycopg.Connection[Any]) -> None:
        self.reactor = reactor
        self.conn = conn
        self.pgconn = conn.pgconn
        self.pgconn.nonblocking = 1
        self.fd = os.dup(self.pgconn.socket)
        self.reused = False
        self.closed = False
        self.sent_at = 0.0  # when the last statement was sent (the reactor's clock)
        self._answer: defer.Deferred[tuple[Any, Any] | None] | None = None
        self._rows: list[tuple[Any, Any]] = []
        self._error: str | None = None
        reactor.addReader(self)  # also while idle: a server closing it is seen at once

    def fileno(self) -> int:
        return self.fd

    def logPrefix(self) -> str:
        return "agiflow-lists"

    def query(self, keys: list[str], list_name: str) -> "defer.Deferred[tuple[Any, Any] | None]":
        """``MATCH``'s row (or None), or ConnectionGone / QueryFailed."""
        answer: defer.Deferred[tuple[Any, Any] | None] = defer.Deferred(lambda _: self.close())
        try:
            self.pgconn.send_query_params(_MATCH, [text_array(keys), list_name.encode()])
            if self.pgconn.flush():
                self.reactor.addWriter(self)
        except psycopg.Error as exc:
            self.close()
            return defer.fail(ConnectionGone(pg.one_line(exc)))
        self._answer, self._rows, self._error = answer, [], None
        self.sent_at = self.reactor.seconds()
        return answer

    def doWrite(self) -> None:
        try:
            if not self.pgconn.flush():
                self.reactor.removeWriter(self)
        except psycopg.Error as exc:
            self._gone(pg.one_line(exc))

    def doRead(self) -> None:
        try:
            self.pgconn.consume_input()
        except psycopg.Error as exc:
            self._gone(pg.one_line(exc))
            return
        while self._answer is not None and not self.pgconn.is_busy():
            result = self.pgconn.get_result()
            if result is None:
                self._finish()
            elif result.status == pq.ExecStatus.TUPLES_OK:
                self._rows += [(result.get_value(row, 0), result.get_value(row, 1)) for row in range(result.ntuples)]
            else:
                self._error = (result.error_message or b"").decode("utf-8", "replace").strip() or "query failed"
        if self.pgconn.status != pq.ConnStatus.OK:
            self._gone("the connection is closed")

    def _finish(self) -> None:
        answer, self._answer = self._answer, None
        if answer is None:
            return
        if self._error is not None and self.pgconn.status != pq.ConnStatus.OK:
            self.close()
            answer.errback(ConnectionGone(" ".join(self._error.split())))
        elif self._error is not None:
            answer.errback(QueryFailed(" ".join(self._error.split())))
        else:
            answer.callback(self._rows[0] if self._rows else None)

    def _gone(self, why: str) -> None:
        answer, self._answer = self._answer, None
        self.close()
        if answer is not None:
            answer.errback(ConnectionGone(why))

    def connectionLost(self, reason: Failure) -> None:
        self._gone("the connection is closed")

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.reactor.removeReader(self)
        self.reactor.removeWriter(self)
        os.close(self.fd)
        self.conn.close()


class ReactorLists:
    """``NumberLists`` whose PostgreSQL lookups run on the reactor."""

    def __init__(self, store: PostgresNumberLists, threads: DatabaseThreads, reactor: Any, *,
                 connections: int = THREADS, timeout: float | None = None) -> None:
        self.store = store
        self.threads = threads
        self.reactor = reactor
        self.size = connections
        self.timeout = threads.timeout if timeout is None else timeout
        self.idle: list[ReactorConnection] = []
        self.opening = 0
        self.busy = 0
        #: Places of connections closed while their statement may still run on the server.
        self.draining: list[Any] = []
        self.waiting: deque[defer.Deferred[ReactorConnection]] = deque()

    def match(self, list_name: str, number: str) -> "defer.Deferred[ListHit | None]":
        """As ``NumberLists.match``: ValueError, ListUnavailable or the hit."""
        try:
            plan = self.store.plan(list_name, number)
            keys = next(plan)
        except Exception:
            return defer.fail()
        looking = defer.ensureDeferred(self._converse(list_name, plan, keys))

        def timed_out(result: Any, timeout: float) -> Failure:
            return Failure(ListUnavailable(f"cannot read number list {list_name!r}: "
                                           f"no answer from the database within {timeout:g}s"))

        looking.addTimeout(self.timeout, self.reactor, onTimeoutCancel=timed_out)
        return looking

    async def _converse(self, list_name: str, plan: Generator[list[str], Match, ListHit | None],
                        keys: list[str]) -> ListHit | None:
        while True:
            answer = await self._ask(list_name, keys)
            try:
                keys = plan.send(answer)
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]

    async def _ask(self, list_name: str, keys: list[str]) -> Match:
        for attempt in (1, 2):
            conn = await self._connection(list_name)
            try:
                row = await conn.query(keys, list_name)
            except ConnectionGone as exc:
                self._drop(conn)
                if attempt == 1 and conn.reused:  # the server restarted since it was opened
                    continue
                raise ListUnavailable(f"cannot read number list {list_name!r} from {self.store.url}: {exc}") from None
            except QueryFailed as exc:
                self._release(conn)
                raise ListUnavailable(f"cannot read number list {list_name!r} from {self.store.url}: {exc}") from None
            except BaseException:  # timed out: the statement may still run until the server's timeout
                self._drop(conn, running=True)
                raise
            self._release(conn)
            return parse_match(self.store.url, list_name, None if row is None else (row[0], json.loads(row[1])))
        raise AssertionError("unreachable")

    def _connection(self, list_name: str) -> "defer.Deferred[ReactorConnection]":
        self.idle = [conn for conn in self.idle if not conn.closed]  # closed by the server while idle
        if self.idle:
            self.busy += 1
            return defer.succeed(self.idle.pop())
        if len(self.waiting) >= MAX_WAITING:
            return defer.fail(ListUnavailable(f"cannot read number list {list_name!r}: "
                                              f"{len(self.waiting)} database reads already waiting"))
        waiter: defer.Deferred[ReactorConnection] = defer.Deferred(self.waiting.remove)
        self.waiting.append(waiter)
        if self._room():
            self._open()
        return waiter

    def _room(self) -> bool:
        return self.opening + self.busy + len(self.idle) + len(self.draining) < self.size

    def _open(self) -> None:
        self.opening += 1
        opened = self.threads.run(self.store.connect, failure=ListUnavailable)

        def ready(conn: psycopg.Connection[Any]) -> None:
            self.opening -= 1
            self._hand_over(ReactorConnection(self.reactor, conn))

        def failed(reason: Failure) -> None:
            self.opening -= 1
            why = pg.one_line(reason.value) if reason.value is not None else "failed"
            while self.waiting:  # the server cannot be reached: no waiter is served soon
                self.waiting.popleft().errback(ListUnavailable(f"cannot connect to {self.store.url}: {why}"))

        opened.addCallbacks(ready, failed)

    def _release(self, conn: ReactorConnection) -> None:
        self.busy -= 1
        conn.reused = True
        self._hand_over(conn)

    def _hand_over(self, conn: ReactorConnection) -> None:
        if self.waiting:
            self.busy += 1
            self.waiting.popleft().callback(conn)
        else:
            self.idle.append(conn)

    def _drop(self, conn: ReactorConnection, running: bool = False) -> None:
        """Close ``conn``. When its statement may still be ``running`` on the
        server (the lookup timed out), its place is kept until the server's
        statement timeout has ended it: the server keeps a backend for it
        until then, and a new connection in its place would be one more."""
        self.busy -= 1
        conn.close()
        if running:
            ends = conn.sent_at + self.store.statement_timeout_ms / 1000 + _STATEMENT_END_MARGIN
            self.draining.append(self.reactor.callLater(max(0.0, ends - self.reactor.seconds()), self._drained))
        elif self.waiting and self._room():
            self._open()

    def _drained(self) -> None:
        self.draining = [call for call in self.draining if call.active()]
        if self.waiting and self._room():
            self._open()

    def close(self) -> None:
        """Closes the idle connections (at the server's stop)."""
        while self.idle:
            self.idle.pop().close()
        while self.draining:
            call = self.draining.pop()
            if call.active():
                call.cancel()


def lookups_on_the_reactor(services: Services, threads: DatabaseThreads, reactor: Any) -> Services:
    """``services`` with PostgreSQL list lookups moved from ``threads`` to
    the reactor, still counted when the metrics listener counts them."""
    lists = services.lists
    store = lists.store if isinstance(lists, ThreadedLists) else None
    metered = store if isinstance(store, MeteredLists) else None
    if metered is not None:
        store = metered.inner
    if isinstance(store, PostgresNumberLists):
        on_reactor = ReactorLists(store, threads, reactor)
        services.lists = on_reactor if metered is None else MeteredLists(on_reactor, metered.metrics)
    return services


def reactor_lists(lists: Any) -> ReactorLists | None:
    """The ``ReactorLists`` behind ``lists`` (counted or not), whose
    connections the server closes at its stop; None when there is none."""
    if isinstance(lists, MeteredLists):
        lists = lists.inner
    return lists if isinstance(lists, ReactorLists) else None
