"""Tables and the named SQL statements of the number lists.

A list is a row of ``number_lists``; its entries are the ``list_entries``
rows whose ``list_id`` is the list's current ``id``. An entry is an E.164
number (``+34600111222``) or a prefix stored with a trailing ``*``
(``+3490*``), so one primary key serves both. A lookup is one statement
probing the number and those of its prefixes whose length the list has
(``prefix_lengths``, a bit mask of key lengths), so a list without prefixes
costs one probe and never more than 16. Replacing a list writes its new entries under a
fresh id and then points the list at it in one short transaction, so
readers see the old list or the new one, never half of either. Ids come
from ``list_generations`` and are never reused.
"""
from __future__ import annotations

import re
import sqlite3
from functools import lru_cache

#: What a list may be called (flows name lists too, so keep it simple). Python's
#: ``$`` also matches before a last line break: ``(?!\n)`` refuses ``robinson\n``,
#: a list no flow could name (the flow schema's editors read it as ECMA does, a no-op).
LIST_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$(?!\n)"
LIST_NAME_RE = re.compile(LIST_NAME)

CREATE = (
    "CREATE TABLE IF NOT EXISTS number_lists ("
    " name TEXT PRIMARY KEY,"
    " id INTEGER NOT NULL UNIQUE,"
    " entries INTEGER NOT NULL DEFAULT 0,"
    " prefix_lengths INTEGER NOT NULL DEFAULT 0,"
    " created_at TEXT NOT NULL,"
    " updated_at TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS list_entries ("
    " list_id INTEGER NOT NULL,"
    " number TEXT NOT NULL,"
    " note TEXT,"
    " added_at INTEGER NOT NULL,"
    " PRIMARY KEY (list_id, number)) WITHOUT ROWID",
    # Every list id ever handed out (AUTOINCREMENT: never reused), so that
    # entries being purged can never belong to a newer list.
    "CREATE TABLE IF NOT EXISTS list_generations ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " name TEXT NOT NULL,"
    " created_at TEXT NOT NULL)",
)


@lru_cache(maxsize=None)
def match_sql(keys: int) -> str:
    """The list's id and prefix lengths, then for each of ``keys`` probed
    keys its entry's note ('' without one) or NULL when there is no such
    entry. No row when the list does not exist. One primary-key probe a
    key: faster than ``IN (...)``, which builds a temporary index."""
    probe = "(SELECT coalesce(e.note, '') FROM list_entries AS e WHERE e.list_id = l.id AND e.number = ?)"
    return f"SELECT l.id, l.prefix_lengths, {', '.join([probe] * keys)} FROM number_lists AS l WHERE l.name = ?"


HAS_LISTS = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'number_lists'"
LIST_BY_NAME = "SELECT id, entries FROM number_lists WHERE name = ?"
#: Another list whose name differs from the one given only in case.
LIST_NAMED_ALIKE = "SELECT name FROM number_lists WHERE lower(name) = lower(?) AND name <> ?"
ALL_LISTS = "SELECT name, entries, created_at, updated_at FROM number_lists ORDER BY name"
CREATE_LIST = ("INSERT INTO number_lists (name, id, entries, created_at, updated_at) "
               "VALUES (?, ?, 0, ?, ?)")
LIST_FOR_IMPORT = "SELECT id, entries, prefix_lengths FROM number_lists WHERE name = ?"
POINT_LIST = ("UPDATE number_lists SET id = ?, entries = ?, prefix_lengths = ?, updated_at = ? "
              "WHERE name = ?")
ADD_PREFIX_LENGTH = "UPDATE number_lists SET prefix_lengths = prefix_lengths | ? WHERE id = ?"
STAGED_PREFIX_LENGTHS = "SELECT DISTINCT length(number) FROM temp.list_staging WHERE substr(number, -1) = '*'"
COUNT_CHANGE = "UPDATE number_lists SET entries = entries + ?, updated_at = ? WHERE id = ?"
DELETE_LIST = "DELETE FROM number_lists WHERE name = ?"
NEW_ID = "INSERT INTO list_generations (name, created_at) VALUES (?, ?)"
LIST_IDS = "SELECT id FROM number_lists"
NEXT_STORED_ID = "SELECT min(list_id) FROM list_entries WHERE list_id > ?"
ADD_ENTRY = ("INSERT INTO list_entries (list_id, number, note, added_at) VALUES (?, ?, ?, ?) "
             "ON CONFLICT (list_id, number) DO UPDATE SET note = COALESCE(excluded.note, list_entries.note)")
ENTRY_EXISTS = "SELECT 1 FROM list_entries WHERE list_id = ? AND number = ?"
REMOVE_ENTRY = "DELETE FROM list_entries WHERE list_id = ? AND number = ?"
#: Entries of a list no longer in use, removed a chunk at a time.
PURGE_CHUNK = ("DELETE FROM list_entries WHERE list_id = ? AND number IN "
               "(SELECT number FROM list_entries WHERE list_id = ? LIMIT ?)")
EXPORT = "SELECT number, note, added_at FROM list_entries WHERE list_id = ? ORDER BY number"

#: Imports are read into a temporary table in file order (appends are the
#: fastest insert), then sorted into one keyed like the list (the first line
#: of a number wins), so that the copy under the write lock needs no sort.
STAGING_CREATE = (
    "CREATE TEMP TABLE IF NOT EXISTS list_lines (number TEXT NOT NULL, note TEXT)",
    "CREATE TEMP TABLE IF NOT EXISTS list_staging (number TEXT PRIMARY KEY, note TEXT) WITHOUT ROWID",
)
STAGING_CLEAR = ("DELETE FROM temp.list_lines", "DELETE FROM temp.list_staging")
STAGING_INSERT = "INSERT INTO temp.list_lines (number, note) VALUES (?, ?)"
STAGING_SORT = ("INSERT OR IGNORE INTO temp.list_staging (number, note) "
                "SELECT number, note FROM temp.list_lines ORDER BY number, rowid")
#: Staged entries into a list, in key order so its B-tree grows at its end;
#: entries already listed are kept as they are.
STAGING_COPY = ("INSERT OR IGNORE INTO list_entries (list_id, number, note, added_at) "
                "SELECT ?, number, note, ? FROM temp.list_staging ORDER BY number")


def ensure_schema(conn: sqlite3.Connection) -> None:
    """Create the list tables if missing; WAL so the server reads while
    the CLI writes."""
    conn.execute("PRAGMA journal_mode = WAL")
    for statement in CREATE:
        conn.execute(statement)
    columns = {row[1] for row in conn.execute("PRAGMA table_info(number_lists)")}
    if "prefix_lengths" not in columns:  # lists from before: probe every prefix length
        conn.execute("ALTER TABLE number_lists ADD COLUMN prefix_lengths INTEGER NOT NULL DEFAULT -1")
