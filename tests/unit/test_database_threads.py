"""A blocking database read never runs on the reactor thread: the
server hands it to its bounded pool of database threads (a PostgreSQL list
lookup is sent from the reactor without blocking instead, see
test_pg_reactor_lists.py) and the call waits
for the answer at most ``database_timeout``, while every other call goes on;
past the pool's bound a lookup fails at once (a do-not-call check then fails
closed)."""
from __future__ import annotations

import threading
from typing import Any

from support.held_pool import HeldReactor, held_threads, server_services
from support.number_lists import lists_database
from twisted.internet import defer

from agi.db.location import PostgresUrl
from agi.server.database_threads import MAX_WAITING, THREADS, ThreadedLists, ThreadedOverrides, off_the_reactor
from agi.services import ListHit, ListUnavailable, Services


class _Lists:
    """A list store that says which thread asked it."""

    def __init__(self) -> None:
        self.asked_from: list[str] = []

    def match(self, list_name: str, number: str) -> ListHit | None:
        self.asked_from.append(threading.current_thread().name)
        return ListHit(list_name, number, None) if number == "+34600111222" else None


def _failure(deferred: "defer.Deferred[Any]") -> Any:
    failure = deferred.result
    deferred.addErrback(lambda _: None)
    return failure


def test_a_postgresql_lookup_waits_in_a_database_thread_while_the_reactor_goes_on() -> None:
    reactor, lists = HeldReactor(), _Lists()
    services = off_the_reactor(Services(lists=lists), held_threads(reactor), postgres=True)
    looking = services.lists.match("robinson", "+34600111222")  # type: ignore[union-attr]
    assert isinstance(looking, defer.Deferred) and not looking.called
    assert lists.asked_from == []  # nothing ran on the reactor thread
    reactor.pool.run_all()
    assert looking.result == ListHit("robinson", "+34600111222", None)


def test_a_lookup_with_no_answer_within_the_timeout_is_unavailable() -> None:
    reactor = HeldReactor()
    looking = ThreadedLists(_Lists(), held_threads(reactor, timeout=0.5)).match("robinson", "+34600111222")
    reactor.advance(0.49)
    assert not looking.called
    reactor.advance(0.02)
    failure = _failure(looking)
    assert failure.check(ListUnavailable) and "within 0.5s" in str(failure.value)


def test_lookups_past_the_pools_bound_fail_at_once() -> None:
    reactor = HeldReactor()
    lists = ThreadedLists(_Lists(), held_threads(reactor))
    waiting = [lists.match("robinson", f"+3460011{n:04d}") for n in range(THREADS + MAX_WAITING)]
    refused = lists.match("robinson", "+34600111222")
    assert not any(d.called for d in waiting)
    failure = _failure(refused)
    assert failure.check(ListUnavailable) and "already waiting" in str(failure.value)
    reactor.pool.run_all()
    assert all(d.called for d in waiting)
    again = lists.match("robinson", "+34600111222")  # the pool has room again: it waits, not refused
    assert not again.called
    reactor.pool.run_all()
    assert again.result == ListHit("robinson", "+34600111222", None)


def test_reads_a_call_stopped_waiting_for_still_hold_their_place_until_a_thread_has_run_them() -> None:
    """A frozen database once had every read that timed out leave its place
    while it still waited in the pool: calls went on queueing reads without
    bound, and once the database answered again the pool worked through
    the stale ones first, so new lookups timed out long after."""
    reactor = HeldReactor()
    lists = ThreadedLists(_Lists(), held_threads(reactor, timeout=0.5))
    stale = [lists.match("robinson", f"+3460011{n:04d}") for n in range(THREADS + MAX_WAITING)]
    reactor.advance(1)
    assert all(_failure(d).check(ListUnavailable) for d in stale)  # their calls went on
    refused = lists.match("robinson", "+34600111222")
    assert "already waiting" in str(_failure(refused).value)
    assert len(reactor.pool.waiting) == THREADS + MAX_WAITING
    reactor.pool.run_all()  # the database answers again
    again = lists.match("robinson", "+34600111222")
    assert not again.called
    reactor.pool.run_all()
    assert again.result == ListHit("robinson", "+34600111222", None)


def test_sqlite_lookups_stay_on_the_reactor_they_are_local_and_indexed() -> None:
    reactor, lists = HeldReactor(), _Lists()
    services = off_the_reactor(Services(lists=lists), held_threads(reactor), postgres=False)
    assert services.lists is lists


def test_the_server_on_postgresql_reads_overrides_in_its_database_threads(postgres_url: PostgresUrl) -> None:
    with server_services(lists_database(postgres_url)) as services:
        assert isinstance(services.overrides, ThreadedOverrides)
