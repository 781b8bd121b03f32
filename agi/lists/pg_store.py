"""Reading number lists from PostgreSQL: ``PostgresNumberLists.match``.

One statement per lookup (the list, its prefix lengths and the entries
among the probed keys come from one snapshot). ``match`` runs it on a
connection borrowed from a small pool, so that several threads may look up
at once (the command line, benchmarks); the server sends the same
statement from its reactor thread with libpq's non-blocking calls, driving
the same ``plan`` (agi/server/pg_reactor.py). Nothing is cached between lookups but
the prefix lengths each list had, which every lookup checks again: an
import or an added entry is seen by the very next lookup on every node.
Any problem (no such list, server down, too slow) is ``ListUnavailable``,
so that do-not-call checks fail closed.
"""
from __future__ import annotations

import contextlib
import threading
from typing import Any, Generator, Iterable

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from agi.db import postgres as pg
from agi.db.postgres_params import pyformat
from agi.db import postgres_sql as pgsql
from agi.db.location import PostgresUrl
from agi.lists.numbers import ALL_LENGTHS, Normaliser, probe_keys
from agi.lists.store import best_hit, no_tables_yet
from agi.services import ListHit, ListUnavailable

#: How long one lookup statement may run on the server (milliseconds).
LOOKUP_STATEMENT_TIMEOUT_MS = 1000

#: A ``MATCH`` answer: the list's prefix lengths (a bit per length) and each
#: probed key that has an entry, with its note ('' for none).
Match = tuple[int, dict[str, str]]


def parse_match(url: PostgresUrl, list_name: str, row: tuple[Any, Any] | None) -> Match:
    """The answer of ``MATCH``'s row (None: no such list, ListUnavailable)."""
    if row is None:
        raise ListUnavailable(f"no number list named {list_name!r} in {url}")
    return int(row[0]), {number: note for number, note in row[1]}


class PostgresNumberLists:
    """``NumberLists`` backed by the list tables of a PostgreSQL database;
    safe to call from ``threads`` threads at once."""

    def __init__(self, url: PostgresUrl, region: str, *, threads: int = 1, wait: float = 1.0,
                 statement_timeout_ms: int = LOOKUP_STATEMENT_TIMEOUT_MS) -> None:
        self.url = url
        self.region = region
        self.threads = threads
        self.wait = wait
        self.statement_timeout_ms = statement_timeout_ms
        self._normaliser: Normaliser | None = None
        self._pool: ConnectionPool | None = None
        self._pool_lock = threading.Lock()
        self._prefix_lengths: dict[str, int] = {}

    @property
    def normaliser(self) -> Normaliser:
        if self._normaliser is None:
            self._normaliser = Normaliser(self.region)
        return self._normaliser

    def match(self, list_name: str, number: str) -> ListHit | None:
        """As ``SqliteNumberLists.match``: the entry ``number`` matches, or
        None; ValueError for a number that is not one; ListUnavailable."""
        plan = self.plan(list_name, number)
        keys = next(plan)
        while True:
            try:
                keys = plan.send(self._query(list_name, keys))
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]

    def plan(self, list_name: str, number: str) -> Generator[list[str], Match, ListHit | None]:
        """A lookup as a conversation: it yields the keys to ask ``MATCH``
        for, is sent each answer (``parse_match``) and returns the hit.
        One question, or two when the list gained prefixes of a length not
        asked for. ValueError (at the first ``next``) for a number that is not one."""
        e164 = self.normaliser.number(number)
        probed = self._prefix_lengths.get(list_name, ALL_LENGTHS)
        keys = probe_keys(e164, probed)
        current, found = yield keys
        self._prefix_lengths[list_name] = current
        if current & ~probed:  # prefixes of a length not probed: probe them all
            keys = probe_keys(e164, ALL_LENGTHS)
            current, found = yield keys
        return best_hit(list_name, keys, [found.get(key) for key in keys])

    def _query(self, list_name: str, keys: list[str]) -> Match:
        try:
            row = self._fetch(list_name, keys)
        except PoolTimeout:
            raise ListUnavailable(f"cannot read number list {list_name!r}: no connection to {self.url} "
                                  f"within {self.wait:g}s") from None
        except psycopg.errors.UndefinedTable:
            raise no_tables_yet(list_name, self.url) from None
        except psycopg.Error as exc:
            raise ListUnavailable(f"cannot read number list {list_name!r} from {self.url}: "
                                  f"{pg.one_line(exc)}") from None
        return parse_match(self.url, list_name, row)

    def connect(self) -> psycopg.Connection[Any]:
        """One more autocommit connection for lookups, with their statement timeout."""
        return pg.connect(self.url, statement_timeout_ms=self.statement_timeout_ms, application_name="agiflow lists")

    def _fetch(self, list_name: str, keys: list[str]) -> Any:
        """The MATCH row. When a connection fails (the server restarted since
        it was opened), the pool checks its idle ones, dropping those that
        are gone, and the lookup runs once more on a good one."""
        for attempt in (1, 2):
            pool = self._connections()
            try:
                with pool.connection(timeout=self.wait) as conn:
                    return conn.execute(pyformat(pgsql.MATCH), (keys, list_name)).fetchone()
            except psycopg.OperationalError:
                if attempt == 2:
                    raise
                pool.check()
        return None

    def _connections(self) -> ConnectionPool:
        with self._pool_lock:  # threads looking up at once open one pool, not one each
            if self._pool is None:
                self._pool = pg.pool(self.url, size=self.threads, timeout=self.wait,
                                     statement_timeout_ms=self.statement_timeout_ms, name="lists")
            return self._pool

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None


def missing_postgres_lists(url: PostgresUrl, wanted: Iterable[str]) -> list[str]:
    """The names in ``wanted`` that are not lists of the database (all of
    them when it has no list tables). ListUnavailable when it cannot be
    read: its lists are then unknown, not missing."""
    names = sorted(set(wanted))
    if not names:
        return names
    try:
        with contextlib.closing(pg.connect(url, statement_timeout_ms=5000)) as conn:
            if not conn.execute(pgsql.HAS_LISTS).fetchone()[0]:  # type: ignore[index]
                return names
            found: set[Any] = {row[0] for row in conn.execute("SELECT name FROM number_lists")}
    except psycopg.Error as exc:
        raise ListUnavailable(f"cannot read the number lists in {url}: {pg.one_line(exc)}") from None
    return [name for name in names if name not in found]
