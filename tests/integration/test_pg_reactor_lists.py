"""PostgreSQL list lookups sent and read on the reactor thread
(agi/server/pg_reactor.py), against a real server and a real reactor: the
same answers as the threaded store, no thread per lookup, every failure
bounded by the timeout and closed (``ListUnavailable``), and the
connections replaced after the server drops them."""
from __future__ import annotations

import threading
import time
from typing import Any, Awaitable, Callable

import psycopg
from support.held_pool import server_services
from support.number_lists import lists_database
from twisted.internet import defer, task
from twisted.internet.pollreactor import PollReactor
from twisted.python.failure import Failure

from agi.db import postgres as pg
from agi.db.location import PostgresUrl
from agi.lists.pg_store import LOOKUP_STATEMENT_TIMEOUT_MS, PostgresNumberLists
from agi.server.database_threads import MAX_WAITING, DatabaseThreads
from agi.metered import MeteredLists
from agi.server.pg_reactor import ReactorLists, text_array
from agi.server.pg_reactor import reactor_lists as server_reactor_lists
from agi.server.prometheus import PrometheusMetrics
from agi.services import ListHit, ListUnavailable


def on_a_reactor(scenario: Callable[[Any], Awaitable[Any]], limit: float = 20.0) -> Any:
    """Runs ``scenario(reactor)`` on a reactor of its own; its result."""
    reactor = PollReactor()  # type: ignore[no-untyped-call]
    outcome: list[Any] = []

    def start() -> None:
        running: defer.Deferred[Any] = defer.ensureDeferred(scenario(reactor))  # type: ignore[arg-type]
        running.addTimeout(limit, reactor)
        running.addBoth(outcome.append).addBoth(lambda _: reactor.stop())

    reactor.callWhenRunning(start)
    reactor.run(installSignalHandlers=False)
    if isinstance(outcome[0], Failure):
        outcome[0].raiseException()
    return outcome[0]


class CountingStore(PostgresNumberLists):
    """The server's store, counting the connections it opens and the threads that open them."""

    def __init__(self, url: PostgresUrl) -> None:
        super().__init__(url, "ES")
        self.opened_in: list[str] = []

    def connect(self) -> psycopg.Connection[Any]:
        self.opened_in.append(threading.current_thread().name)
        return super().connect()


async def settle(lists: ReactorLists, threads: DatabaseThreads) -> None:
    lists.close()
    threads.stop()


def reactor_lists(reactor: Any, store: PostgresNumberLists, *, timeout: float = 2.0,
                  connections: int = 4) -> tuple[ReactorLists, DatabaseThreads]:
    threads = DatabaseThreads(reactor, timeout)
    threads.start()
    return ReactorLists(store, threads, reactor, connections=connections), threads


def test_an_array_literal_quotes_every_item() -> None:
    assert text_array(["+34600", '+3"4\\', "+3490*"]) == b'{"+34600","+3\\"4\\\\","+3490*"}'


def test_lookups_on_the_reactor_answer_as_the_threaded_store(postgres_url: PostgresUrl) -> None:
    lists_database(postgres_url)
    threaded = PostgresNumberLists(postgres_url, "ES")
    asked = [("robinson", "600111222"), ("robinson", "+34 600 111 222"), ("robinson", "905123456"),
             ("robinson", "600000001"), ("vip", "0034600999888"), ("internal", "611000000"), ("block", "622000001")]

    async def scenario(reactor: Any) -> list[Any]:
        lists, threads = reactor_lists(reactor, PostgresNumberLists(postgres_url, "ES"))
        answers = [await lists.match(name, number) for name, number in asked]
        together = await defer.gatherResults([lists.match(name, number) for name, number in asked * 3])
        await settle(lists, threads)
        return [answers, together]

    answers, together = on_a_reactor(scenario)
    expected = [threaded.match(name, number) for name, number in asked]
    threaded.close()
    assert answers == expected and together == expected * 3
    assert expected[0] == ListHit("robinson", "+34600111222", False, "asked 2025-01-03")
    assert expected[2] is not None and expected[2].prefix and expected[3] is None


def test_no_thread_runs_a_lookup_threads_only_open_the_connections(postgres_url: PostgresUrl) -> None:
    lists_database(postgres_url)
    store = CountingStore(postgres_url)

    async def scenario(reactor: Any) -> None:
        lists, threads = reactor_lists(reactor, store, connections=2)
        hits = await defer.gatherResults([lists.match("robinson", "600111222") for _ in range(MAX_WAITING)])
        assert all(hit is not None for hit in hits)
        await settle(lists, threads)

    on_a_reactor(scenario)
    assert 1 <= len(store.opened_in) <= 2
    assert all(name != threading.main_thread().name for name in store.opened_in)


def test_unknown_lists_and_bad_numbers_fail_as_the_threaded_store(postgres_url: PostgresUrl) -> None:
    lists_database(postgres_url)

    async def scenario(reactor: Any) -> list[str]:
        lists, threads = reactor_lists(reactor, PostgresNumberLists(postgres_url, "ES"))
        seen = []
        for name, number in [("nope", "600111222"), ("robinson", "not a number")]:
            try:
                await lists.match(name, number)
            except (ListUnavailable, ValueError) as exc:
                seen.append(type(exc).__name__ + ": " + str(exc))
        hit = await lists.match("robinson", "600111222")  # the connection is still good
        await settle(lists, threads)
        return seen + [str(hit is not None)]

    seen = on_a_reactor(scenario)
    assert seen[0].startswith("ListUnavailable: no number list named 'nope'")
    assert seen[1].startswith("ValueError") and seen[2] == "True"


def test_a_lookup_the_database_does_not_answer_fails_closed_within_the_timeout_and_the_next_one_works(
        postgres_url: PostgresUrl) -> None:
    lists_database(postgres_url)
    locker = psycopg.connect(postgres_url.url)
    locker.execute("LOCK TABLE number_lists IN ACCESS EXCLUSIVE MODE")

    async def scenario(reactor: Any) -> tuple[float, str, int, bool]:
        lists, threads = reactor_lists(reactor, PostgresNumberLists(postgres_url, "ES"), timeout=0.4,
                                       connections=1)
        started = time.monotonic()
        try:
            await lists.match("robinson", "600111222")
            why = "answered"
        except ListUnavailable as exc:
            why = str(exc)
        took = time.monotonic() - started
        # one connection, stuck: the waiting room is bounded, past it a lookup fails at once
        waiting = [lists.match("robinson", "600111222") for _ in range(MAX_WAITING + 1)]
        for waiter in waiting:
            waiter.addErrback(lambda _: None)
        refused = sum(1 for waiter in waiting if waiter.called)
        # the stuck statement keeps its connection's place until the server's statement timeout
        await task.deferLater(reactor, LOOKUP_STATEMENT_TIMEOUT_MS / 1000 + 0.5, lambda: None)
        locker.rollback()
        hit = await lists.match("robinson", "600111222")
        await settle(lists, threads)
        return took, why, refused, hit is not None

    took, why, refused, answered_after = on_a_reactor(scenario)
    locker.close()
    assert why.startswith("cannot read number list 'robinson'") and "within 0.4s" in why
    assert 0.35 <= took < 1.5
    assert refused >= 1
    assert answered_after


def test_lookups_that_time_out_on_a_locked_table_open_no_more_connections_than_the_bound(
        postgres_url: PostgresUrl) -> None:
    """A lookup that timed out closes its connection while its statement
    still waits on the server, until the server's statement timeout ends it.
    Each one's place was given at once to a new connection: with a list
    table locked, every call opened one, and a node's two workers at 50
    calls a second kept 54 connections waiting on the lock (4 a worker
    documented), enough to use up ``max_connections`` for a fleet."""
    lists_database(postgres_url)
    locker = psycopg.connect(postgres_url.url)
    locker.execute("LOCK TABLE number_lists IN ACCESS EXCLUSIVE MODE")
    store = CountingStore(postgres_url)
    store.statement_timeout_ms = 500

    async def scenario(reactor: Any) -> int:
        lists, threads = reactor_lists(reactor, store, timeout=0.1, connections=2)
        looking = []
        for _ in range(60):  # a lookup every 20 ms for 1.2 s
            looking.append(lists.match("robinson", "600111222"))
            looking[-1].addErrback(lambda failure: failure.trap(ListUnavailable))
            await task.deferLater(reactor, 0.02, lambda: None)
        await defer.DeferredList(looking)
        with psycopg.connect(postgres_url.url, autocommit=True) as admin:
            waiting = admin.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'agiflow lists' "
                                    "AND datname = current_database() AND wait_event_type = 'Lock'").fetchone()
        await settle(lists, threads)
        return int(waiting[0]) if waiting else 0

    try:
        waiting = on_a_reactor(scenario)
    finally:
        locker.close()
    assert waiting <= 2
    assert len(store.opened_in) <= 2 * 4  # a place frees once the server has ended its statement: 0.6 s


def test_connections_the_server_drops_are_replaced_without_failing_a_lookup(postgres_url: PostgresUrl) -> None:
    lists_database(postgres_url)
    store = CountingStore(postgres_url)

    async def scenario(reactor: Any) -> list[bool]:
        lists, threads = reactor_lists(reactor, store, connections=2)
        await defer.gatherResults([lists.match("robinson", "600111222") for _ in range(4)])
        with psycopg.connect(postgres_url.url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                          "WHERE application_name = 'agiflow lists' AND datname = current_database()")
        await task.deferLater(reactor, 0.3, lambda: None)  # seen while idle
        hits = [await lists.match("robinson", "600111222") is not None for _ in range(3)]
        await settle(lists, threads)
        return hits

    assert on_a_reactor(scenario) == [True, True, True]
    assert len(store.opened_in) >= 2


def test_a_server_that_cannot_be_reached_fails_every_lookup_closed_at_once() -> None:
    url = PostgresUrl("postgresql://postgres@127.0.0.1:9/agiflow")  # the discard port: nothing listens

    async def scenario(reactor: Any) -> tuple[float, list[bool]]:
        lists, threads = reactor_lists(reactor, PostgresNumberLists(url, "ES"), timeout=2.0)
        started = time.monotonic()
        results: list[Any] = await defer.DeferredList([lists.match("robinson", "600111222") for _ in range(5)],
                                           consumeErrors=True)
        took = time.monotonic() - started
        await settle(lists, threads)
        return took, [not ok and result.check(ListUnavailable) is not None for ok, result in results]

    took, closed = on_a_reactor(scenario)
    assert closed == [True] * 5 and took < 2.0


def test_the_server_on_postgresql_looks_lists_up_on_its_reactor(postgres_url: PostgresUrl) -> None:
    with server_services(lists_database(postgres_url)) as services:
        assert isinstance(services.lists, ReactorLists)


def test_with_the_metrics_listener_the_server_still_looks_lists_up_on_its_reactor(postgres_url: PostgresUrl) -> None:
    """The metrics listener once sent every lookup through the threads and
    a pool of connections that several threads could each open."""
    with server_services(lists_database(postgres_url), metrics=True) as services:
        assert isinstance(server_reactor_lists(services.lists), ReactorLists)


def test_lookups_on_the_reactor_are_counted_when_their_answer_arrives(postgres_url: PostgresUrl) -> None:
    lists_database(postgres_url)
    metrics = PrometheusMetrics()

    async def scenario(reactor: Any) -> list[str]:
        lists, threads = reactor_lists(reactor, PostgresNumberLists(postgres_url, "ES"))
        counted = MeteredLists(lists, metrics)
        seen = []
        for name, number in [("robinson", "600111222"), ("robinson", "600000001"), ("nope", "600111222"),
                             ("robinson", "not a number")]:
            try:
                seen.append(str(await counted.match(name, number) is not None))
            except (ListUnavailable, ValueError) as exc:
                seen.append(type(exc).__name__)
        await settle(lists, threads)
        return seen

    assert on_a_reactor(scenario) == ["True", "False", "ListUnavailable", "ValueError"]
    assert metrics.list_checks == {("robinson", "hit"): 1, ("robinson", "miss"): 1, ("nope", "error"): 1,
                                   ("robinson", "invalid_number"): 1}


def test_threads_that_look_up_at_once_share_one_pool_of_connections(
        postgres_url: PostgresUrl, monkeypatch: Any) -> None:
    """Each thread of the first lookups once opened a pool of its own; all
    but one were left to the garbage collector, whose traceback went to stderr."""
    lists_database(postgres_url)
    store = PostgresNumberLists(postgres_url, "ES", threads=4)
    opened = []
    real_pool = pg.pool

    def slow_pool(*args: Any, **kwargs: Any) -> Any:
        opened.append(threading.current_thread().name)
        time.sleep(0.2)  # every thread is inside before the first pool is kept
        return real_pool(*args, **kwargs)

    monkeypatch.setattr(pg, "pool", slow_pool)
    answers: list[bool] = []
    threads = [threading.Thread(target=lambda: answers.append(store.match("robinson", "600111222") is not None))
               for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    store.close()
    assert answers == [True] * 4 and len(opened) == 1
