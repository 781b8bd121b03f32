"""Changing number lists: create, delete, add, remove, import, export.

Every change is a short transaction on the configured database, so the
server keeps reading (WAL) and the CDR writer keeps writing while lists
change. A CSV import first reads and normalises the file into a temporary
table, outside any lock on the database; then one transaction copies it in
key order and points the list at its new entries. With ``replace`` the new
entries get a fresh list id, so readers see the whole old list until the
commit and the whole new one after it; the old entries are then removed a
chunk at a time.
"""
from __future__ import annotations

import contextlib
import dataclasses
import sqlite3
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from agi.db.messages import one_line
from agi.db.transactions import rollback
from agi.lists import schema as sql
from agi.lists.numbers import Entry, length_bit
from agi.lists.store import connect
from agi.services import ListUnavailable
from agi.db.caps import CAPS, cap_text

#: Rows removed per transaction when old entries are purged.
PURGE_CHUNK = 50_000
#: Page cache for an import (KiB), for the database and for the temporary
#: staging table each: 5 million entries then stay in memory.
IMPORT_CACHE_KIB = 262_144
WRITE_BUSY_TIMEOUT_MS = 30_000


@dataclass(frozen=True)
class ListSummary:
    name: str
    entries: int
    created_at: str
    updated_at: str


@dataclass(frozen=True)
class ImportResult:
    """``added`` new entries; ``kept``: lines whose number was already in the
    list or earlier in the file."""

    name: str
    read: int
    added: int
    entries: int
    replaced: bool
    #: Why the housekeeping after the commit failed (the import itself was
    #: committed): after a replace, the entries it set aside are not all
    #: removed, and the next import or delete removes them.
    left_behind: str | None = None

    @property
    def kept(self) -> int:
        return self.read - self.added


class ListAdmin:
    """Writes the number lists of the database at ``path``; ``read_only``
    opens an existing database only to read it (show, export), changing
    nothing, not even the tables."""

    def __init__(self, path: str | Path, clock: Callable[[], float] = time.time, *, read_only: bool = False) -> None:
        self.path = Path(path)
        self.clock = clock
        if read_only:
            self.conn = connect(self.path, read_only=True)
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.conn = connect(self.path, read_only=False, busy_timeout_ms=WRITE_BUSY_TIMEOUT_MS)
        sql.ensure_schema(self.conn)

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> "ListAdmin":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _now(self) -> str:
        return datetime.fromtimestamp(self.clock(), tz=timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")

    # -- reading --------------------------------------------------------------

    def lists(self) -> list[ListSummary]:
        if not self._has_lists():
            return []
        return [ListSummary(*row) for row in self.conn.execute(sql.ALL_LISTS)]

    def _has_lists(self) -> bool:
        """The list tables exist (a database opened read-only may lack them)."""
        return self.conn.execute(sql.HAS_LISTS).fetchone() is not None

    def _list_id(self, name: str) -> int:
        row = self.conn.execute(sql.LIST_BY_NAME, (name,)).fetchone() if self._has_lists() else None
        if row is None:
            raise ListUnavailable(f"no number list named {name!r}")
        return int(row[0])

    def entries(self, name: str) -> Iterator[tuple[str, str | None, int]]:
        """(stored key, note, added_at epoch seconds) in key order."""
        return iter(self.conn.execute(sql.EXPORT, (self._list_id(name),)))

    # -- small changes ----------------------------------------------------------

    def create(self, name: str) -> bool:
        """Create an empty list; False if it already exists."""
        with self._transaction():
            if self.conn.execute(sql.LIST_BY_NAME, (name,)).fetchone():
                return False
            self._create(name)
            return True

    def _new_id(self, name: str) -> int:
        list_id = self.conn.execute(sql.NEW_ID, (name, self._now())).lastrowid
        assert list_id is not None
        return list_id

    def _create(self, name: str) -> int:
        """A new list ``name``; ListUnavailable when another one's name
        differs from it only in case (``ROBINSON`` beside ``robinson``): an
        import meant for that list would fill one no flow reads, and leave
        the list the calls check as it was."""
        alike = self.conn.execute(sql.LIST_NAMED_ALIKE, (name, name)).fetchone()
        if alike:
            raise ListUnavailable(f"no number list named {name!r}, but there is {alike[0]!r}: list names are "
                                  f"told apart by case, and a new list {name!r} is not one the flows naming "
                                  f"{alike[0]!r} read; use {alike[0]!r}")
        list_id = self._new_id(name)
        now = self._now()
        self.conn.execute(sql.CREATE_LIST, (name, list_id, now, now))
        return list_id

    def add(self, name: str, entry: Entry, note: str | None = None) -> bool:
        """Add an entry, creating the list if needed; True when the entry is
        new. An entry already listed gets ``note``, or keeps its own when
        ``note`` is None."""
        with self._transaction():
            row = self.conn.execute(sql.LIST_BY_NAME, (name,)).fetchone()
            list_id = int(row[0]) if row else self._create(name)
            new = self.conn.execute(sql.ENTRY_EXISTS, (list_id, entry.key)).fetchone() is None
            note = None if note is None else cap_text(note, CAPS["note"])
            self.conn.execute(sql.ADD_ENTRY, (list_id, entry.key, note, int(self.clock())))
            if entry.prefix:
                self.conn.execute(sql.ADD_PREFIX_LENGTH, (length_bit(entry.key), list_id))
            self.conn.execute(sql.COUNT_CHANGE, (int(new), self._now(), list_id))
            return new

    def remove(self, name: str, entry: Entry) -> bool:
        """Remove an entry; False when the list did not have it."""
        with self._transaction():
            list_id = self._list_id(name)
            # prefix_lengths keeps a removed prefix's length: probing more is harmless
            removed = self.conn.execute(sql.REMOVE_ENTRY, (list_id, entry.key)).rowcount
            self.conn.execute(sql.COUNT_CHANGE, (-removed, self._now(), list_id))
            return removed > 0

    def delete(self, name: str) -> int:
        """Delete a list and its entries; returns how many entries it had."""
        return self.delete_list(name)[0]

    def delete_list(self, name: str) -> tuple[int, str | None]:
        """Delete a list and its entries: how many entries it had, and why
        they were not all removed (the list is gone once its row is; the
        next import or delete removes what is left), or None."""
        with self._transaction():
            row = self.conn.execute(sql.LIST_BY_NAME, (name,)).fetchone()
            if row is None:
                raise ListUnavailable(f"no number list named {name!r}")
            self.conn.execute(sql.DELETE_LIST, (name,))
        return int(row[1]), self._tidy(self.purge_orphans)  # its entries, and any a failed run left

    def _tidy(self, work: Callable[[], object]) -> str | None:
        """Housekeeping after a change was committed: why it failed, or None."""
        try:
            work()
        except self._database_errors() as exc:
            with contextlib.suppress(Exception):
                rollback(self.conn)
            return one_line(exc)
        return None

    # -- import -------------------------------------------------------------------

    def import_entries(self, name: str, rows: Iterable[tuple[str, str | None]], *, replace: bool = False,
                       require_entries: bool = True) -> ImportResult:
        """Import (stored key, note) rows into ``name``, creating it if
        needed. ``replace`` swaps the whole list atomically. Nothing changes
        when ``require_entries`` and ``rows`` is empty (ValueError)."""
        self.purge_orphans()
        read = self._stage(rows)
        try:
            if read == 0 and require_entries:
                raise ValueError("no entries to import")
            lengths = 0  # the key lengths of the staged prefixes, as a mask
            for (length,) in self._staged_prefix_lengths():
                lengths |= 1 << int(length)
            result, old_id = self._copy_staged(name, read, replace, lengths)
        except BaseException:
            # the error to tell is this one, not the cleanup's on a connection it ended
            with contextlib.suppress(Exception):
                self._clear_staging()
            raise
        # the import is committed: trouble from here on leaves only housekeeping undone
        problem = self._tidy(lambda: self._housekeeping(old_id))
        return result if problem is None else dataclasses.replace(result, left_behind=problem)

    def _housekeeping(self, old_id: int | None) -> None:
        """After an import: the staging tables emptied, the entries a replace
        set aside removed, and the backend's own tidying."""
        self._clear_staging()
        if old_id is not None:
            self._purge(old_id)
        self._after_import()

    def _database_errors(self) -> tuple[type[Exception], ...]:
        return (sqlite3.Error,)

    def _stage(self, rows: Iterable[tuple[str, str | None]]) -> int:
        """Read ``rows`` into the temporary tables, sorted by key; returns
        how many there were. Temporary tables only: no lock on the database."""
        for schema in ("main", "temp"):  # the staging tables and the sort stay in memory when they fit
            self.conn.execute(f"PRAGMA {schema}.cache_size = -{IMPORT_CACHE_KIB}")
        for statement in (*sql.STAGING_CREATE, *sql.STAGING_CLEAR):
            self.conn.execute(statement)
        read = [0]
        with self._transaction("BEGIN"):
            self.conn.executemany(sql.STAGING_INSERT, _counted(rows, read))
            self.conn.execute(sql.STAGING_SORT)
            self.conn.execute(sql.STAGING_CLEAR[0])
        return read[0]

    def _staged_prefix_lengths(self) -> Iterable[tuple[int]]:
        return self.conn.execute(sql.STAGED_PREFIX_LENGTHS)

    def _clear_staging(self) -> None:
        for statement in sql.STAGING_CLEAR:
            self.conn.execute(statement)

    def _copy_sql(self) -> str:
        """The statement copying staged entries into a list (in the import's transaction)."""
        return sql.STAGING_COPY

    def _copy_staged(self, name: str, read: int, replace: bool, lengths: int) -> tuple[ImportResult, int | None]:
        """One transaction: staged rows into the list (``lengths``: the mask
        of their prefix lengths). Returns the result and the id of entries
        no longer used (after a replace)."""
        with self._transaction():
            row = self.conn.execute(sql.LIST_FOR_IMPORT, (name,)).fetchone()
            if row is None:
                list_id, old_id, before = self._create(name), None, 0
            elif replace:
                list_id, old_id, before = self._new_id(name), int(row[0]), 0
            else:
                list_id, old_id, before, lengths = int(row[0]), None, int(row[1]), lengths | int(row[2])
            added = self.conn.execute(self._copy_sql(), (list_id, int(self.clock()))).rowcount
            self.conn.execute(sql.POINT_LIST, (list_id, before + added, lengths, self._now(), name))
        return ImportResult(name, read, added, before + added, replace and old_id is not None), old_id

    # -- housekeeping -------------------------------------------------------------

    def _purge(self, list_id: int) -> None:
        """Remove the entries stored under ``list_id``, a chunk per transaction."""
        while True:
            with self._transaction():
                removed = self.conn.execute(sql.PURGE_CHUNK, (list_id, list_id, PURGE_CHUNK)).rowcount
            if removed < PURGE_CHUNK:
                return

    def _after_import(self) -> None:
        """Copy the import out of the WAL and truncate it, without waiting
        for readers (a reader in the way leaves it for a later checkpoint)."""
        self.conn.execute("PRAGMA busy_timeout = 0")
        try:
            self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            self.conn.execute(f"PRAGMA busy_timeout = {WRITE_BUSY_TIMEOUT_MS}")

    def purge_orphans(self) -> int:
        """Remove entries no list points at (left by an interrupted
        replace or delete); returns how many list ids were cleaned."""
        orphans, last = [], -1
        with self._transaction("BEGIN"):  # one snapshot for both reads
            used = {row[0] for row in self.conn.execute(sql.LIST_IDS)}
            while (found := self.conn.execute(sql.NEXT_STORED_ID, (last,)).fetchone()[0]) is not None:
                last = int(found)
                if last not in used:
                    orphans.append(last)
        for list_id in orphans:
            self._purge(list_id)
        return len(orphans)

    def _transaction(self, begin: str = "BEGIN IMMEDIATE") -> Any:
        return _Transaction(self.conn, begin)


def _counted(rows: Iterable[tuple[str, str | None]], tally: list[int]) -> Iterator[tuple[str, str | None]]:
    """``rows``, counting them in ``tally[0]``."""
    for row in rows:
        tally[0] += 1
        yield row


class _Transaction:
    """``with``: BEGIN ... COMMIT, or ROLLBACK on any exception."""

    def __init__(self, conn: sqlite3.Connection, begin: str) -> None:
        self.conn = conn
        self.begin = begin

    def __enter__(self) -> None:
        self.conn.execute(self.begin)

    def __exit__(self, kind: object, *rest: object) -> None:
        if kind is None:
            self.conn.execute("COMMIT")
        else:
            rollback(self.conn)
