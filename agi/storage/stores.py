"""The store of each kind for a database setting, SQLite or PostgreSQL:
one place where the backend is chosen, so that the CLI, the server and
simulations name a database and get the same interface either way."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable, Iterable

from agi.db.location import Database, PostgresUrl
from agi.lists.admin import ListAdmin
from agi.lists.pg_admin import PostgresListAdmin
from agi.lists.pg_store import PostgresNumberLists, missing_postgres_lists
from agi.lists.store import SqliteNumberLists, missing_lists as missing_sqlite_lists
from agi.storage.callbacks import CallbackBook, CallbackError, PostgresCallbackBook, SimulatedCallbackRequests
from agi.storage.migrations import upgrade_when_behind


def list_admin(database: Database, *, read_only: bool = False,
               clock: Callable[[], float] = time.time) -> ListAdmin:
    """Changes number lists; a writer first brings the schema up to date
    (online migrations only, as ``agiflow serve`` does), creating a missing
    SQLite file with every table, not the lists' alone."""
    if not read_only:
        upgrade_when_behind(database)
    if isinstance(database, PostgresUrl):
        return PostgresListAdmin(database, clock, read_only=read_only)
    return ListAdmin(database, clock, read_only=read_only)


def number_lists(database: Database, region: str, *, read_only: bool = True, threads: int = 1,
                 wait: float = 1.0) -> Any:
    """Lookups (``NumberLists``). SQLite: one connection, used from one
    thread. PostgreSQL: a pool of ``threads`` connections, each lookup
    waiting at most ``wait`` seconds for one."""
    if isinstance(database, PostgresUrl):
        return PostgresNumberLists(database, region, threads=threads, wait=wait)
    return SqliteNumberLists(Path(database), region, read_only=read_only)


def missing_lists(database: Database, wanted: Iterable[str]) -> list[str]:
    """The names in ``wanted`` that are not lists of ``database``;
    ListUnavailable when it cannot be read."""
    if isinstance(database, PostgresUrl):
        return missing_postgres_lists(database, wanted)
    return missing_sqlite_lists(database, wanted)


def callback_book(database: Database) -> CallbackBook:
    if isinstance(database, PostgresUrl):
        return PostgresCallbackBook(database)
    return CallbackBook(Path(database))


def simulation_callbacks(database: Database) -> SimulatedCallbackRequests:
    """Callback requests for ``agiflow simulate``: kept in memory, the
    database (read only) saying which numbers already have a pending one.
    A database that cannot be read says none has."""
    book = PostgresCallbackBook(database) if isinstance(database, PostgresUrl) else \
        CallbackBook(Path(database), read_only=True)

    def pending_in_database(number: str, missed_at: str | None) -> bool:
        try:
            return book.has_pending(number, missed_at)
        except CallbackError:
            return False

    return SimulatedCallbackRequests(pending_in_database)
