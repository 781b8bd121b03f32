"""Reading number lists from SQLite: ``SqliteNumberLists.match``.

The server calls ``match`` on the reactor thread, so it is one short
indexed statement on a connection of its own (WAL: it never waits for the
CDR writer or an import, which write through other connections). Any
database problem is reported as ``ListUnavailable`` so that steps fail
closed, and the connection is reopened on the next call.
"""
from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path
from typing import Any, Iterable, Sequence
from urllib.parse import quote

from agi.lists.numbers import ALL_LENGTHS, PREFIX_MARK, Normaliser, probe_keys
from agi.lists.schema import HAS_LISTS, match_sql
from agi.services import ListHit, ListUnavailable
from agi.db.sqlite_files import attribute_problem, file_identity

#: How long a lookup may wait for a lock (only WAL recovery takes one).
READ_BUSY_TIMEOUT_MS = 200


def connect(path: str | Path, *, read_only: bool, busy_timeout_ms: int = READ_BUSY_TIMEOUT_MS) -> sqlite3.Connection:
    """A connection to the database at ``path``; ``read_only`` opens it so
    that nothing can be written and a missing file is an error."""
    if read_only:
        conn = sqlite3.connect(f"file:{quote(str(Path(path).resolve()))}?mode=ro", uri=True,
                               isolation_level=None, check_same_thread=False)
    else:
        conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
    return conn


def best_hit(list_name: str, keys: list[str], notes: Sequence[str | None]) -> ListHit | None:
    """The first of ``keys`` (exact, then prefixes longest first) that has
    an entry: ``notes`` holds each key's note, '' for none, None for no entry."""
    for key, note in zip(keys, notes):
        if note is not None:
            if key.endswith(PREFIX_MARK):
                return ListHit(list_name, key[:-1], True, note or None)
            return ListHit(list_name, key, False, note or None)
    return None


class SqliteNumberLists:
    """``NumberLists`` backed by the list tables of one SQLite database.

    Use it from one thread at a time (the server's reactor thread).
    """

    def __init__(self, path: str | Path, region: str, *, read_only: bool = True) -> None:
        self.path = Path(path)
        self.read_only = read_only
        self.region = region
        self._normaliser: Normaliser | None = None
        self._conn: sqlite3.Connection | None = None
        self._file: tuple[int, int] | None = None  # the file the connection reads
        #: The prefix lengths each list had at its last lookup: the next
        #: lookup probes only those, and checks they are still all.
        self._prefix_lengths: dict[str, int] = {}

    @property
    def normaliser(self) -> Normaliser:
        """Built on first use: an unknown region fails lookups, not startup."""
        if self._normaliser is None:
            self._normaliser = Normaliser(self.region)
        return self._normaliser

    def match(self, list_name: str, number: str) -> ListHit | None:
        """The entry of ``list_name`` matching ``number`` (normalised to
        E.164 first), or None. ValueError for a number that is not one;
        ListUnavailable when the list does not exist or cannot be read."""
        e164 = self.normaliser.number(number)
        probed = self._prefix_lengths.get(list_name, ALL_LENGTHS)
        keys = probe_keys(e164, probed)
        row = self._query(list_name, keys)
        current = row[1]
        self._prefix_lengths[list_name] = current
        if current & ~probed:  # the list has prefixes of a length not probed: probe them all
            keys = probe_keys(e164, ALL_LENGTHS)
            row = self._query(list_name, keys)
        return best_hit(list_name, keys, row[2:])

    def _query(self, list_name: str, keys: list[str]) -> tuple[Any, ...]:
        """One statement, so the list, its prefix lengths and its entries
        come from the same snapshot. Never while a file of the database is
        immutable (agi.db.sqlite_files): the list is then unavailable."""
        if self._conn is None and not self.path.is_file():
            what = "is a directory, not a database file" if self.path.is_dir() else "does not exist"
            raise ListUnavailable(f"cannot read number list {list_name!r}: the database {self.path} {what}")
        problem = attribute_problem(str(self.path), database_file=not self.read_only)
        if problem:
            raise ListUnavailable(f"cannot read number list {list_name!r}: {problem}")
        if self._conn is not None and file_identity(self.path) != self._file:
            self.close()  # another file at the path (a backup put back, a database created again): read that one
        try:
            row = self._connection().execute(match_sql(len(keys)), (*keys, list_name)).fetchone()
        except sqlite3.Error as exc:
            self.close()
            if str(exc).startswith("no such table"):
                raise no_tables_yet(list_name, self.path) from None
            raise ListUnavailable(f"cannot read number list {list_name!r} from {self.path}: {exc}") from None
        if row is None:
            raise ListUnavailable(f"no number list named {list_name!r} in {self.path}")
        return tuple(row)

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            self._file = file_identity(self.path)
            self._conn = connect(self.path, read_only=self.read_only)
            if not self.read_only:
                self._conn.execute("PRAGMA query_only = ON")
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def no_tables_yet(list_name: str, database: object) -> ListUnavailable:
    """What a lookup says on a database nothing has created agiflow's
    tables in yet (the same on both backends): the list does not exist."""
    return ListUnavailable(f"no number list named {list_name!r} in {database}: it has no agiflow tables yet")


def server_lists(database: str | Path, region: str) -> SqliteNumberLists:
    """The server's lists: a connection of its own that never writes."""
    return SqliteNumberLists(database, region, read_only=False)


def simulation_lists(database: str | Path, region: str) -> SqliteNumberLists:
    """Lists for simulations: the database, read-only. When it does not
    exist, lookups say so and robinson steps fail closed, as a server
    without lists would."""
    return SqliteNumberLists(database, region, read_only=True)


def missing_lists(database: str | Path, wanted: Iterable[str]) -> list[str]:
    """The names in ``wanted`` that are not lists of ``database`` (all of
    them when the database or its list tables do not exist).
    ListUnavailable when it cannot be read (corrupt, not a database, no
    permission): its lists are then unknown, not missing."""
    names = sorted(set(wanted))
    if not names or not Path(database).is_file():
        return names
    try:
        with contextlib.closing(connect(database, read_only=True)) as conn:
            if conn.execute(HAS_LISTS).fetchone() is None:
                return names
            found = {row[0] for row in conn.execute("SELECT name FROM number_lists")}
    except sqlite3.Error as exc:
        raise ListUnavailable(f"cannot read the number lists in {database}: {exc}") from None
    return [name for name in names if name not in found]
